package rpc

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// keyLog is the key change log the feed follows: written in the same
// transaction as every key change, by this process, another core replica
// or the admin subcommands.
type keyLog interface {
	KeyChangesAfter(ctx context.Context, seq int64, limit int) ([]*corev1.KeyChange, error)
	KeyChangeBounds(ctx context.Context) (oldest, newest int64, err error)
	PruneKeyChanges(ctx context.Context, before time.Time) error
}

// keyChangeListener is a log that announces changes as they commit:
// ListenKeyChanges calls notify for each until ctx ends or the listening
// fails, and returns errors.ErrUnsupported if it cannot listen at all.
type keyChangeListener interface {
	ListenKeyChanges(ctx context.Context, notify func()) error
}

// Feed follows the key change log. It wakes the change streams the
// gateways subscribe to, and tells the core's own caller cache which keys
// changed. It polls the log every interval; a store that announces changes
// (this process's commits; PostgreSQL NOTIFY for every process's) makes it
// look at once, and polling stays the backstop for a lost listening
// connection and for other processes on SQLite.
type Feed struct {
	store    keyLog
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	newest int64
	wake   chan struct{} // closed and replaced when newest grows
	// applied is the last change passed to the forget funcs; synced says
	// it means something (a poll succeeded since the start).
	applied int64
	synced  bool
	// polledAt is when the last poll that applied every change began.
	polledAt time.Time
	forget   []func(keyIDs []string)

	poke chan struct{}
	done chan struct{} // closed when Run returns: streams end too
}

// Retention of the change log: a gateway disconnected longer than this gets
// a reset (drop every cached key) instead of a replay.
const changeRetention = 24 * time.Hour

// Reconnect backoff of the listening connection.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 10 * time.Second
)

// changeBatch is how many log entries one read returns.
const changeBatch = 500

// NewFeed returns a feed polling store's log every interval.
func NewFeed(store keyLog, interval time.Duration, log *slog.Logger) *Feed {
	return &Feed{store: store, interval: interval, log: log,
		wake: make(chan struct{}), poke: make(chan struct{}, 1), done: make(chan struct{})}
}

// onChange registers forget, called with the ids of the keys each poll
// finds changed, or with nil when any key may have changed (the first
// poll, a log that was pruned past the feed's position or replaced).
// Register before Run.
func (f *Feed) onChange(forget func(keyIDs []string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forget = append(f.forget, forget)
}

// current reports whether every change committed up to a few poll
// intervals ago has been applied: what the forget funcs were not told of
// is at most that old. Not started, or polling failing: not current.
func (f *Feed) current() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.synced && time.Since(f.polledAt) <= 3*f.interval
}

// Run polls until ctx ends; then every stream ends, so that a graceful
// stop of the server does not wait for subscribers that never leave.
func (f *Feed) Run(ctx context.Context) {
	defer close(f.done)
	if l, ok := f.store.(keyChangeListener); ok {
		listening := make(chan struct{})
		defer func() { <-listening }()
		go func() {
			defer close(listening)
			f.listen(ctx, l)
		}()
	}
	ticker := time.NewTicker(f.interval)
	defer ticker.Stop()
	lastPrune := time.Time{}
	for {
		if err := f.poll(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("key change feed: reading the log failed", "err", err)
		}
		if time.Since(lastPrune) > time.Hour {
			if err := f.store.PruneKeyChanges(ctx, time.Now().Add(-changeRetention)); err != nil && ctx.Err() == nil {
				f.log.Warn("key change feed: pruning the log failed", "err", err)
			}
			lastPrune = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-f.poke:
		}
	}
}

// poll reads the log past the last applied change, tells the forget funcs
// which keys changed, and wakes the streams.
func (f *Feed) poll(ctx context.Context) error {
	began := time.Now()
	oldest, newest, err := f.store.KeyChangeBounds(ctx)
	if err != nil {
		return err
	}
	f.mu.Lock()
	applied, synced := f.applied, f.synced
	f.mu.Unlock()

	var changed []string
	everything := !synced || newest < applied || (oldest > applied+1 && newest > applied)
	if everything {
		// Nothing known to start from, or changes lost: start from now.
		applied = newest
	} else {
		for {
			changes, err := f.store.KeyChangesAfter(ctx, applied, changeBatch)
			if err != nil {
				return err
			}
			for _, c := range changes {
				changed = append(changed, c.GetApiKeyId())
				applied = c.GetSeq()
			}
			if len(changes) < changeBatch {
				break
			}
		}
	}

	f.mu.Lock()
	forget := f.forget
	f.mu.Unlock()
	for _, fn := range forget {
		switch {
		case everything:
			fn(nil)
		case len(changed) > 0:
			fn(changed)
		}
	}
	f.mu.Lock()
	f.applied, f.synced, f.polledAt = applied, true, began
	f.mu.Unlock()
	f.advance(max(newest, applied))
	return nil
}

// listen keeps listening until ctx ends, poking the feed on every
// announcement, and listens again with capped backoff when it fails.
func (f *Feed) listen(ctx context.Context, l keyChangeListener) {
	backoff := listenMinBackoff
	failing := false
	for {
		var opened atomic.Bool
		wasFailing := failing
		err := l.ListenKeyChanges(ctx, func() {
			// Announcements may come from any goroutine that commits.
			if !opened.Swap(true) && wasFailing {
				f.log.Info("key change feed: listening again")
			}
			f.Poke()
		})
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errors.ErrUnsupported):
			return // polling only
		}
		if opened.Load() {
			backoff, failing = listenMinBackoff, false
		}
		if !failing {
			f.log.Warn("key change feed: listening failed; polling every interval until it is back", "err", err, "interval", f.interval)
			failing = true
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, listenMaxBackoff)
	}
}

// Poke makes the feed look at the log now.
func (f *Feed) Poke() {
	select {
	case f.poke <- struct{}{}:
	default:
	}
}

func (f *Feed) advance(newest int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if newest > f.newest {
		f.newest = newest
		close(f.wake)
		f.wake = make(chan struct{})
	}
}

// state returns a channel closed when the newest known sequence grows.
func (f *Feed) state() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wake
}

// Stream sends every change after `after` to send, in order, until ctx ends.
// Without resume it starts from now. When the log no longer reaches back to
// after, it sends a reset first.
func (f *Feed) Stream(ctx context.Context, after int64, resume bool, send func(*corev1.KeyChange) error) error {
	oldest, newest, err := f.store.KeyChangeBounds(ctx)
	if err != nil {
		return err
	}
	f.advance(newest)
	switch {
	case !resume:
		after = newest
	case after > newest || (oldest > 0 && after < oldest-1):
		// The log was pruned past the subscriber's position, or recreated
		// behind it: it must drop what it cached.
		if err := send(&corev1.KeyChange{Seq: newest, Reset_: true}); err != nil {
			return err
		}
		after = newest
	}
	// Tell the subscriber where it stands even when nothing changes, so it
	// can resume from here.
	if err := send(&corev1.KeyChange{Seq: after}); err != nil {
		return err
	}
	for {
		wake := f.state()
		changes, err := f.store.KeyChangesAfter(ctx, after, changeBatch)
		if err != nil {
			return err
		}
		for _, ch := range changes {
			if err := send(ch); err != nil {
				return err
			}
			after = ch.GetSeq()
		}
		if len(changes) == changeBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.done:
			return nil
		case <-wake:
		}
	}
}
