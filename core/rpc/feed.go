package rpc

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"pangolin-gateway/core"
)

// Feed watches the store's key change log and wakes the streams that serve
// it. The log is written in the same transaction as every key change, by
// this process, another core replica or the admin subcommands, so polling
// it (plus an immediate Poke after local writes) sees them all.
type Feed struct {
	store    core.Store
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	newest int64
	wake   chan struct{} // closed and replaced when newest grows
	poke   chan struct{}
	done   chan struct{} // closed when Run returns: streams end too
}

// Retention of the change log: a gateway disconnected longer than this gets
// a reset (drop every cached key) instead of a replay.
const changeRetention = 24 * time.Hour

// NewFeed returns a feed polling every interval.
func NewFeed(store core.Store, interval time.Duration, log *slog.Logger) *Feed {
	return &Feed{store: store, interval: interval, log: log, wake: make(chan struct{}), poke: make(chan struct{}, 1), done: make(chan struct{})}
}

// Run polls until ctx ends; then every stream ends, so that a graceful
// stop of the server does not wait for subscribers that never leave.
func (f *Feed) Run(ctx context.Context) {
	defer close(f.done)
	ticker := time.NewTicker(f.interval)
	defer ticker.Stop()
	lastPrune := time.Time{}
	for {
		if _, newest, err := f.store.KeyChangeBounds(ctx); err == nil {
			f.advance(newest)
		} else if ctx.Err() == nil {
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

// Poke makes the feed look at the log now (after a local write).
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

// state returns the newest known sequence and a channel closed when it grows.
func (f *Feed) state() (int64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newest, f.wake
}

// Stream sends every change after `after` to send, in order, until ctx ends.
// Without resume it starts from now. When the log no longer reaches back to
// after, it sends a reset first.
func (f *Feed) Stream(ctx context.Context, after int64, resume bool, send func(seq int64, keyID string, reset bool) error) error {
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
		if err := send(newest, "", true); err != nil {
			return err
		}
		after = newest
	}
	// Tell the subscriber where it stands even when nothing changes, so it
	// can resume from here.
	if err := send(after, "", false); err != nil {
		return err
	}
	for {
		_, wake := f.state()
		changes, err := f.store.KeyChangesAfter(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, ch := range changes {
			if err := send(ch.Seq, ch.KeyID, false); err != nil {
				return err
			}
			after = ch.Seq
		}
		if len(changes) == 500 {
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
