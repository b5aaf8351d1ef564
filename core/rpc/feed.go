package rpc

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"pangolin-gateway/core"
)

// Feed watches the store's key change log and wakes the streams that serve
// it. The log is written in the same transaction as every key change, by
// this process, another core replica or the admin subcommands, so polling
// it (plus an immediate Poke after local writes) sees them all. A store
// that can announce changes (PostgreSQL LISTEN/NOTIFY, see
// keyChangeListener) pokes the feed as they commit, whichever process made
// them; polling stays as the backstop for a lost listening connection.
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

// keyChangeListener is a store that announces key changes committed by any
// process: ListenKeyChanges calls notify for each until ctx ends or its
// connection fails, and returns errors.ErrUnsupported if it cannot.
type keyChangeListener interface {
	ListenKeyChanges(ctx context.Context, notify func()) error
}

// Reconnect backoff of the listening connection.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 10 * time.Second
)

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

// listen keeps a listening connection open until ctx ends, poking the feed
// on every announcement, and reconnects with capped backoff when it fails.
func (f *Feed) listen(ctx context.Context, l keyChangeListener) {
	backoff := listenMinBackoff
	failing := false
	for {
		opened := false
		err := l.ListenKeyChanges(ctx, func() {
			if !opened {
				opened = true
				if failing {
					f.log.Info("key change feed: listening again")
					failing = false
				}
				f.log.Debug("key change feed: listening for changes from other processes")
			}
			f.Poke()
		})
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errors.ErrUnsupported):
			return // SQLite: polling only
		}
		if opened {
			backoff = listenMinBackoff
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
