package core

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// KeyUseInterval is how precisely a key's last use is kept: it is written
// at most once per interval per key.
const KeyUseInterval = time.Minute

// keyUseNoted bounds the keys KeyUses remembers; past it, it starts over
// (the store's own once-per-interval check still holds).
const keyUseNoted = 100_000

// KeyUses records when keys are used, off the request's path: a call only
// notes the key in memory, at most once per KeyUseInterval, and Run writes
// what was noted in batches. Each core replica keeps its own; the store
// writes a key's use at most once per interval whichever replica asks.
type KeyUses struct {
	store interface {
		TouchKeys(ctx context.Context, uses map[string]time.Time, interval time.Duration) error
	}
	log *slog.Logger

	// noted: key id → unix nanoseconds of the use last noted. Read without
	// a lock on every call.
	noted sync.Map
	size  int // entries of noted, under mu

	mu      sync.Mutex
	pending map[string]time.Time
}

// NewKeyUses returns a KeyUses writing to store.
func NewKeyUses(store KeyStore, log *slog.Logger) *KeyUses {
	return &KeyUses{store: store, log: log, pending: map[string]time.Time{}}
}

// Note records that keyID was used at now. It costs a map read unless the
// key was not noted in the last interval.
func (u *KeyUses) Note(keyID string, now time.Time) {
	if v, ok := u.noted.Load(keyID); ok && now.UnixNano()-v.(int64) < int64(KeyUseInterval) {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if v, ok := u.noted.Load(keyID); ok && now.UnixNano()-v.(int64) < int64(KeyUseInterval) {
		return // noted meanwhile
	} else if !ok {
		if u.size >= keyUseNoted {
			u.noted.Clear()
			u.size = 0
		}
		u.size++
	}
	u.noted.Store(keyID, now.UnixNano())
	u.pending[keyID] = now
}

// Run writes the noted uses every `every` until ctx ends, and once more
// then.
func (u *KeyUses) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			u.Flush(fctx)
			cancel()
			return
		case <-t.C:
			u.Flush(ctx)
		}
	}
}

// Flush writes the uses noted since the last flush. A batch that fails is
// dropped and logged: a last use is a hint, and the next use notes it again
// once the interval has passed.
func (u *KeyUses) Flush(ctx context.Context) {
	u.mu.Lock()
	batch := u.pending
	if len(batch) == 0 {
		u.mu.Unlock()
		return
	}
	u.pending = map[string]time.Time{}
	u.mu.Unlock()
	if err := u.store.TouchKeys(ctx, batch, KeyUseInterval); err != nil {
		u.log.Warn("core: could not record API key uses", "keys", len(batch), "err", err)
	}
}
