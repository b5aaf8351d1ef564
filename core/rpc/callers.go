package rpc

import (
	"context"
	"sync"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// principals is what resolving a caller needs of storage.
type principals interface {
	// Principal: missing → core.CodeNotFound.
	Principal(ctx context.Context, id string) (*corev1.Principal, error)
}

// maxCachedCallers bounds the cache; past it, it starts over.
const maxCachedCallers = 10_000

// callers resolves the key each call acts for, once per call, and caches
// what it read between calls. The feed tells it which keys changed; an
// entry is trusted only while the feed is current, so the cache can serve a
// key's old scope for at most the feed's delay, and never while the feed
// cannot read the log (not started, database unreachable): then every call
// reads the store.
type callers struct {
	store principals
	feed  *Feed
	// uses records the keys' last use (nil: not recorded).
	uses *core.KeyUses

	mu    sync.Mutex
	cache map[string]core.Caller
	// gen grows with every change the feed applies. An entry read from the
	// store is cached only if gen did not move meanwhile: a change that
	// committed after the read may have been applied already, and the stale
	// entry would outlive it.
	gen uint64
}

func newCallers(store principals, feed *Feed, uses *core.KeyUses) *callers {
	c := &callers{store: store, feed: feed, uses: uses, cache: map[string]core.Caller{}}
	feed.onChange(c.forget)
	return c
}

// resolve returns the caller of keyID calling from client (the address
// the gateway saw); an unknown key is Unauthenticated, and so is an expired
// one; a key whose allow list does not hold client is Forbidden. A key that
// passes counts as used.
func (c *callers) resolve(ctx context.Context, keyID, client string) (core.Caller, error) {
	caller, err := c.lookup(ctx, keyID)
	if err != nil {
		return core.Caller{}, err
	}
	// Checked on every call, cached or not: reaching the expiry is no
	// change the feed reports, so the instant itself must be honoured.
	now := time.Now()
	if core.KeyExpired(caller.Principal, now) {
		return core.Caller{}, core.ErrKeyExpired()
	}
	if !core.KeyAllows(caller.Principal, client) {
		return core.Caller{}, core.ErrNotAllowedFrom(client)
	}
	if c.uses != nil {
		c.uses.Note(keyID, now)
	}
	return caller, nil
}

// lookup returns the caller of keyID from the cache or the store.
func (c *callers) lookup(ctx context.Context, keyID string) (core.Caller, error) {
	trusted := c.feed.current()
	c.mu.Lock()
	cached, ok := c.cache[keyID]
	gen := c.gen
	c.mu.Unlock()
	if ok && trusted {
		return cached, nil
	}
	p, err := c.store.Principal(ctx, keyID)
	if core.ErrorCode(err) == core.CodeNotFound {
		return core.Caller{}, core.Errorf(core.CodeUnauthenticated, "Invalid API key")
	}
	if err != nil {
		return core.Caller{}, err
	}
	caller := core.Caller{Principal: p}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		if len(c.cache) >= maxCachedCallers {
			clear(c.cache)
		}
		c.cache[keyID] = caller
	}
	return caller, nil
}

// forget drops the entries of keyIDs; nil drops every entry.
func (c *callers) forget(keyIDs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if keyIDs == nil {
		clear(c.cache)
	}
	for _, id := range keyIDs {
		delete(c.cache, id)
	}
}
