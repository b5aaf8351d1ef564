// Package batch hands items to a slow consumer in batches, off the path of
// whoever produces them: Add never blocks, and what does not fit the
// bounded buffer is dropped, counted and logged, never queued without
// limit. Audit records of refused requests travel this way (the gateway's
// to the core, the core's to its store): a flood of refusals costs memory
// up to the bound and no latency.
package batch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Queue buffers items until Run flushes them.
type Queue[T any] struct {
	items chan T
	opts  Options[T]
	// dropped counts drops since they were last logged.
	dropped atomic.Int64
}

// Options configure a Queue.
type Options[T any] struct {
	// Capacity bounds the items waiting; Size the items of one flush.
	Capacity, Size int
	// Interval is the longest an item waits for its flush.
	Interval time.Duration
	// Flush stores one batch; an error keeps it for one more try at the
	// next interval, then drops it.
	Flush func(context.Context, []T) error
	// Dropped counts every item lost (buffer full, flush failed twice).
	Dropped prometheus.Counter
	// Log and What say what was dropped, once per interval at most.
	Log  *slog.Logger
	What string
}

// New returns a queue; call Run to flush it.
func New[T any](o Options[T]) *Queue[T] {
	o.Capacity, o.Size = max(o.Capacity, 1), max(o.Size, 1)
	return &Queue[T]{items: make(chan T, o.Capacity), opts: o}
}

// Add queues v, or drops it when the buffer is full.
func (q *Queue[T]) Add(v T) {
	select {
	case q.items <- v:
	default:
		q.drop(1)
	}
}

func (q *Queue[T]) drop(n int) {
	q.opts.Dropped.Add(float64(n))
	q.dropped.Add(int64(n))
}

// Run flushes batches until ctx ends, then flushes what is left once
// (bounded by one Interval).
func (q *Queue[T]) Run(ctx context.Context) {
	tick := time.NewTicker(q.opts.Interval)
	defer tick.Stop()
	var retry []T // a batch whose flush failed once
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.opts.Interval)
			q.flush(final, retry, false)
			for len(q.items) > 0 && final.Err() == nil {
				q.flush(final, q.take(nil), false)
			}
			q.drop(len(q.items))
			cancel()
			q.logDrops()
			return
		case <-tick.C:
		case v := <-q.items:
			// Wait a moment for more, unless a batch is full already.
			if len(q.items)+1 < q.opts.Size {
				select {
				case <-ctx.Done():
				case <-time.After(q.opts.Interval / 10):
				}
			}
			b := q.take([]T{v})
			q.flush(ctx, retry, false)
			retry = q.flush(ctx, b, true)
			continue
		}
		q.flush(ctx, retry, false)
		retry = q.flush(ctx, q.take(nil), true)
		q.logDrops()
	}
}

// take moves up to a batch of waiting items after first.
func (q *Queue[T]) take(first []T) []T {
	b := first
	for len(b) < q.opts.Size {
		select {
		case v := <-q.items:
			b = append(b, v)
		default:
			return b
		}
	}
	return b
}

// flush stores b; on failure it returns b to retry when retry is set,
// otherwise drops it.
func (q *Queue[T]) flush(ctx context.Context, b []T, retry bool) []T {
	if len(b) == 0 {
		return nil
	}
	err := q.opts.Flush(ctx, b)
	if err == nil {
		return nil
	}
	q.opts.Log.Warn(q.opts.What+": storing a batch failed", "items", len(b), "retry", retry, "err", err)
	if retry {
		return b
	}
	q.drop(len(b))
	return nil
}

func (q *Queue[T]) logDrops() {
	if n := q.dropped.Swap(0); n > 0 {
		q.opts.Log.Warn(q.opts.What+": dropped records (buffer full or store failing)", "dropped", n)
	}
}
