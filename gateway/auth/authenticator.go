// Package auth authenticates API keys on the gateway's hot path: parse the
// bearer token, look the key up in an in-process cache (L1), then in Redis
// shared by every replica (L2), and only on a miss ask the core, which holds
// the argon2id hash. Caches hold an HMAC digest of the secret, never the
// secret. Change events from the core (Watch) invalidate entries; the TTL
// bounds staleness when events are lost. Watch also keeps the set of key
// ids that exist, so made-up ids are refused without Redis or the core.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Defaults for zero Options fields.
const (
	DefaultRedisPrefix   = "pgw:key:"
	DefaultRedisTimeout  = 100 * time.Millisecond
	DefaultTTL           = 5 * time.Minute
	DefaultSize          = 10000
	DefaultVerifyTimeout = 10 * time.Second
)

// Options configure an Authenticator. Zero values take the defaults above.
type Options struct {
	// Verifier is the source of truth (the core). Required.
	Verifier Verifier
	// Redis is the shared L2 cache; nil means in-process caching only.
	Redis redis.UniversalClient
	// RedisPrefix starts every L2 key (tests isolate themselves with it).
	RedisPrefix string
	// RedisTimeout bounds each Redis operation, so a sick Redis costs
	// little before we fall back to the core.
	RedisTimeout time.Duration
	// Secret keys the HMAC digests and entry MACs; replicas sharing a Redis
	// must share it. Empty means a random per-process secret, which makes
	// other replicas' L2 entries unusable (safe, but no sharing).
	Secret []byte
	// TTL bounds how long a verified key is trusted without news from the
	// core, across L1 and L2 together.
	TTL time.Duration
	// Size bounds the L1 cache (entries).
	Size int
	// VerifyTimeout bounds one call to the Verifier.
	VerifyTimeout time.Duration
	// AttemptsPerKey and AttemptsPerClient bound the verifications whose
	// secret turns out wrong, per key id and per client address (see
	// WithClient); past them the answer is ErrBusy without a core call.
	AttemptsPerKey    Rate
	AttemptsPerClient Rate
	Logger            *slog.Logger
}

// Stats counts where authentications were answered from.
type Stats struct {
	L1Hits uint64
	L2Hits uint64
	// Misses went to the Verifier (possibly sharing one call).
	Misses uint64
	// Unknown were refused without the Verifier: key ids that do not exist.
	Unknown uint64
	// Limited were refused without the Verifier: too many wrong secrets
	// for the key id or from the client.
	Limited uint64
}

// numStripes splits the invalidation state so that invalidating one key
// only stalls fills of the keys that share its stripe.
const numStripes = 64

// stripe serializes cache fills against invalidations of its keys.
//
// The race handled: a miss reads from a source (Redis or the core), an
// invalidation for the key arrives, and then the miss stores what it read.
// Without care that stale entry would outlive the invalidation. So:
//   - a fill reads gen before reading from its source, and later stores
//     only if gen is unchanged, checking and storing (L1 and the L2 SET)
//     while holding mu;
//   - an invalidation holds mu while it removes the L1 entry and DELs the
//     L2 key, and bumps gen after the DEL, before unlocking.
//
// Holding mu makes "check gen + SET" and "DEL + bump gen" mutually
// exclusive: a fill either stores before the invalidation (which then
// removes it) or sees the new gen and stores nothing; a reader that saw the
// new gen started after the DEL, so it cannot have read the stale L2 value.
// Each replica guards its own SETs this way, and every replica applies every
// change event, so a stale SET by any replica is followed by its own DEL.
// The one gap: a SET that times out on our side may still land in Redis
// later; we DEL after a failed SET to narrow it, and the TTL bounds it.
type stripe struct {
	mu  sync.Mutex
	gen atomic.Uint64
}

// entry is a cached verification: the digests of the secrets that passed
// (one, or two within a roll's grace) and what the key may do. Immutable
// once built.
type entry struct {
	secrets   []verifiedSecret
	principal *Principal
	expires   time.Time
}

// verifiedSecret is a verified secret's digest and when it stops working (zero:
// with the key; the secret before a roll: at the end of its grace).
type verifiedSecret struct {
	digest digest
	until  time.Time
}

type digest [sha256.Size]byte

// errOtherSecret: the secret is not the cached one, but within a roll's
// grace the key has two, so only the core can tell. Never returned by
// Authenticate.
var errOtherSecret = errors.New("auth: another secret of the key")

// check answers a request whose secret has digest d. A key's secrets
// change only by a roll, which invalidates the entry, so a mismatch stands
// (no need to ask the core; cacheUnsure only makes sure no roll is on its
// way) unless a roll's grace leaves a second secret the entry has not
// seen. Past an expiry, the key's or the secret's, the entry refuses,
// whatever its own TTL says.
func (e *entry) check(d digest) (*Principal, error) {
	now := time.Now()
	for _, s := range e.secrets {
		if subtle.ConstantTimeCompare(s.digest[:], d[:]) != 1 {
			continue
		}
		if !s.until.IsZero() && !now.Before(s.until) {
			return nil, ErrInvalidKey // the secret before a roll, past its grace
		}
		if e.principal.Expired(now) {
			return nil, ErrKeyExpired
		}
		return e.principal, nil
	}
	if len(e.secrets) < 2 && now.Before(e.principal.PreviousUntil) {
		return nil, errOtherSecret
	}
	return nil, ErrInvalidKey
}

// withOther returns e, plus the other secret of prev (the entry cached
// before) while a roll's grace gives the key two: prev is as current as e
// (both were stored without an invalidation between), so the key's two
// secrets then both answer from the cache.
func (e *entry) withOther(prev *entry) *entry {
	p := e.principal
	if prev == nil || len(e.secrets) != 1 || !time.Now().Before(p.PreviousUntil) {
		return e
	}
	// The other of the key's own secret is the one before the roll, and
	// the other way round.
	var want time.Time
	if p.SecretUntil.IsZero() {
		want = p.PreviousUntil
	}
	for _, s := range prev.secrets {
		if s.digest != e.secrets[0].digest && s.until.Equal(want) {
			return &entry{secrets: []verifiedSecret{e.secrets[0], s}, principal: p, expires: minTime(e.expires, prev.expires)}
		}
	}
	return e
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Authenticator authenticates API keys. Safe for concurrent use.
type Authenticator struct {
	verifier      Verifier
	redis         redis.UniversalClient
	prefix        string
	redisTimeout  time.Duration
	secret        []byte
	ttl           time.Duration
	verifyTimeout time.Duration
	log           *slog.Logger

	hmacs   sync.Pool // of *hasher keyed with secret
	l1      *expirable.LRU[string, *entry]
	flights singleflight.Group
	stripes [numStripes]stripe
	health  redisHealth
	// badEntryLogged limits the log about L2 entries we cannot verify to one.
	badEntryLogged atomic.Bool

	l1Hits, l2Hits, misses, unknown, limited atomic.Uint64

	live      *liveIDs
	positions positions
	limits    *attemptLimits

	// Watch state.
	ready     chan struct{}
	readyOnce sync.Once
	lastSeq   atomic.Int64

	// Test hooks, nil in production.
	testHookL2Read       func(keyID string) // after an L2 read, before its L1 fill
	testHookJoined       func()             // once a miss has joined its flight
	testHookInvalidating func(keyID string) // in Invalidate, before the L2 DEL
}

// New returns an Authenticator. It panics without a Verifier: that is a
// wiring mistake, not a runtime condition.
func New(opts Options) *Authenticator {
	if opts.Verifier == nil {
		panic("auth: Options.Verifier is nil")
	}
	a := &Authenticator{
		verifier:      opts.Verifier,
		redis:         opts.Redis,
		prefix:        opts.RedisPrefix,
		redisTimeout:  opts.RedisTimeout,
		secret:        opts.Secret,
		ttl:           opts.TTL,
		verifyTimeout: opts.VerifyTimeout,
		log:           opts.Logger,
		ready:         make(chan struct{}),
	}
	if a.prefix == "" {
		a.prefix = DefaultRedisPrefix
	}
	if a.redisTimeout <= 0 {
		a.redisTimeout = DefaultRedisTimeout
	}
	if a.ttl <= 0 {
		a.ttl = DefaultTTL
	}
	if a.verifyTimeout <= 0 {
		a.verifyTimeout = DefaultVerifyTimeout
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if len(a.secret) == 0 {
		a.secret = make([]byte, 32)
		_, _ = rand.Read(a.secret) // never fails (crypto/rand panics instead)
		if a.redis != nil {
			a.log.Warn("auth: no HMAC secret configured; Redis entries will not be shared with other replicas (set server.secret)")
		}
	}
	size := opts.Size
	if size <= 0 {
		size = DefaultSize
	}
	if opts.AttemptsPerKey.Burst <= 0 {
		opts.AttemptsPerKey = DefaultAttemptsPerKey
	}
	if opts.AttemptsPerClient.Burst <= 0 {
		opts.AttemptsPerClient = DefaultAttemptsPerClient
	}
	a.limits = newAttemptLimits(opts.AttemptsPerKey, opts.AttemptsPerClient)
	a.live = newLiveIDs()
	a.positions.interval = positionInterval
	a.positions.timeout = a.verifyTimeout
	a.l1 = expirable.NewLRU[string, *entry](size, nil, a.ttl)
	a.hmacs.New = func() any { return &hasher{mac: hmac.New(sha256.New, a.secret)} }
	a.health.log = a.log
	return a
}

// Authenticate returns the principal of the key in an Authorization header
// value. Errors: ErrMissingKey or ErrInvalidKey (401), or errors wrapping
// ErrUnavailable (503) or ErrBusy (429). It never returns a principal with
// an error, nor succeeds without a verified key.
//
// A key with an allow list is refused (*NotAllowedError, 403) unless the
// client address ctx carries (WithClient) is on it.
func (a *Authenticator) Authenticate(ctx context.Context, authorization string) (*Principal, error) {
	p, from, err := a.authenticate(ctx, authorization)
	if err == nil && len(p.AllowedIPs) > 0 && !p.AllowsFrom(ClientOf(ctx)) {
		p, err = nil, &NotAllowedError{Addr: ClientOf(ctx)}
	}
	countAuth(from, err)
	return p, err
}

// authenticate is Authenticate, also saying where the answer came from.
func (a *Authenticator) authenticate(ctx context.Context, authorization string) (*Principal, source, error) {
	keyID, secret, err := ParseBearer(authorization)
	if err != nil {
		return nil, fromNone, err
	}
	d := a.digest(secret)
	st := a.stripe(keyID)
	gen := st.gen.Load() // before reading L1: see cacheUnsure
	if e, ok := a.l1.Get(keyID); ok && time.Now().Before(e.expires) {
		if p, err := e.check(d); !a.cacheUnsure(ctx, err, st, &gen) {
			a.l1Hits.Add(1)
			return p, fromL1, err
		}
	}
	if exists, err := a.mayExist(ctx, keyID); err != nil {
		return nil, fromNone, err
	} else if !exists {
		a.unknown.Add(1)
		return nil, fromNone, ErrInvalidKey
	}

	// Read again: catching up may have applied the key's own creation.
	gen = st.gen.Load() // before reading L2 or the core: see stripe
	if e := a.getL2(ctx, keyID); e != nil {
		if a.testHookL2Read != nil {
			a.testHookL2Read(keyID)
		}
		if p, err := e.check(d); !a.cacheUnsure(ctx, err, st, &gen) {
			a.l2Hits.Add(1)
			a.fill(ctx, st, gen, keyID, e, false)
			return p, fromL2, err
		}
	}
	a.misses.Add(1)
	p, err := a.verify(ctx, st, gen, keyID, secret, d)
	return p, fromCore, err
}

// cacheUnsure reports whether a cache's answer err must not stand, so the
// request goes on to the next source: the entry does not know the secret
// of a key within a roll's grace (errOtherSecret), or the secret did not
// match and the key changed before the request came (a roll it may
// follow) though the change had not reached this replica yet. To tell, it
// learns where the core's change log stands and lets the stream get there,
// as mayExist does; if that invalidated the key, gen moves to the new
// generation. A wrong secret for a cached key thus costs a share of one
// cheap position call, never a hash.
func (a *Authenticator) cacheUnsure(ctx context.Context, err error, st *stripe, gen *uint64) bool {
	switch {
	case err == errOtherSecret:
		return true
	case err != ErrInvalidKey:
		return false
	}
	seq, perr := a.positions.get(ctx)
	if perr != nil || !a.live.caughtUp(ctx, seq, maxCatchUp) {
		return false // cannot tell: the mismatch stands, as it always did
	}
	if g := st.gen.Load(); g != *gen {
		*gen = g
		return true
	}
	return false
}

// verify asks the Verifier, once for all concurrent requests with the same
// key, secret and generation. The generation is part of the flight key so
// that a request arriving after an invalidation never shares an answer
// obtained before it.
func (a *Authenticator) verify(ctx context.Context, st *stripe, gen uint64, keyID, secret string, d digest) (*Principal, error) {
	flight := keyID + string(d[:]) + strconv.FormatUint(gen, 10)
	client := clientFrom(ctx)
	ch := a.flights.DoChan(flight, func() (any, error) {
		// One attempt per flight, charged to the client that started it.
		if !a.limits.take(keyID, client) {
			a.limited.Add(1)
			return nil, fmt.Errorf("%w: wrong-secret budget of the key id or client spent", ErrBusy)
		}
		// Detached from the first caller: its cancellation must not fail
		// the others sharing this call.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.verifyTimeout)
		defer cancel()
		start := time.Now()
		verifyQueue.Inc()
		p, err := a.verifier.Verify(vctx, keyID, secret)
		verifyQueue.Dec()
		if err == nil && p != nil && p.Expired(time.Now()) {
			err = ErrKeyExpired // expired on the way back: never cached as valid
		}
		if err != nil {
			err = normalizeVerifyError(err)
			if !errors.Is(err, ErrInvalidKey) {
				a.limits.giveBack(keyID, client) // not the caller's doing
			}
			return nil, err
		}
		a.limits.giveBack(keyID, client)
		if p == nil {
			return nil, fmt.Errorf("%w: verifier returned no principal", ErrUnavailable)
		}
		e := &entry{secrets: []verifiedSecret{{digest: d, until: p.SecretUntil}}, principal: p, expires: start.Add(a.ttl)}
		a.fill(vctx, st, gen, keyID, e, true)
		return p, nil
	})
	if a.testHookJoined != nil {
		a.testHookJoined()
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Principal), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
	}
}

// mayExist reports whether keyID may be a key, as far as the live id set
// tells: true unless the set is synced and, even once the stream has caught
// up with the core's log as it stands now, does not hold the id. The error
// is the caller giving up meanwhile.
func (a *Authenticator) mayExist(ctx context.Context, keyID string) (bool, error) {
	found, synced := a.live.has(keyID)
	if found || !synced {
		return true, nil
	}
	// Not seen: a key created a moment ago may not have reached the stream
	// yet. Learn where the log stands and let the stream get there.
	seq, err := a.positions.get(ctx)
	if err == nil && a.live.caughtUp(ctx, seq, maxCatchUp) {
		found, synced = a.live.has(keyID)
		return found || !synced, nil
	}
	if ctx.Err() != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
	}
	return true, nil // cannot tell: the core decides
}

// fill stores e in L1 (and in L2 when toL2) unless the key was invalidated
// since gen was read. See stripe for why the lock covers the L2 SET.
func (a *Authenticator) fill(ctx context.Context, st *stripe, gen uint64, keyID string, e *entry, toL2 bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gen.Load() != gen {
		return
	}
	if prev, ok := a.l1.Peek(keyID); ok {
		e = e.withOther(prev)
	}
	a.l1.Add(keyID, e)
	if toL2 {
		a.setL2(ctx, keyID, e)
	}
}

// Invalidate drops keyID from both caches. L1 is always cleared; the error
// reports a failed L2 delete (the entry then expires within the TTL).
func (a *Authenticator) Invalidate(ctx context.Context, keyID string) error {
	st := a.stripe(keyID)
	st.mu.Lock()
	defer st.mu.Unlock()
	a.l1.Remove(keyID)
	if a.testHookInvalidating != nil {
		a.testHookInvalidating(keyID)
	}
	err := a.delL2(ctx, keyID)
	st.gen.Add(1) // after the DEL: see stripe
	return err
}

// InvalidateAll drops every key from both caches, for a reset event. It
// locks every stripe, so no fill interleaves, and bumps every generation
// after clearing.
func (a *Authenticator) InvalidateAll(ctx context.Context) error {
	for i := range a.stripes {
		a.stripes[i].mu.Lock()
	}
	defer func() {
		for i := range a.stripes {
			a.stripes[i].gen.Add(1)
			a.stripes[i].mu.Unlock()
		}
	}()
	a.l1.Purge()
	return a.purgeL2(ctx)
}

// Stats returns the hit and miss counters.
func (a *Authenticator) Stats() Stats {
	return Stats{L1Hits: a.l1Hits.Load(), L2Hits: a.l2Hits.Load(), Misses: a.misses.Load(),
		Unknown: a.unknown.Load(), Limited: a.limited.Load()}
}

// hasher is a pooled HMAC with scratch space, so the hot path does not
// allocate: a []byte conversion or a Sum into a stack array would escape
// through the hash.Hash interface.
type hasher struct {
	mac hash.Hash
	in  [maxSecretLen]byte
	out digest
}

func (a *Authenticator) digest(secret string) digest {
	h := a.hmacs.Get().(*hasher)
	h.mac.Reset()
	if len(secret) <= len(h.in) { // always, after ParseBearer
		h.mac.Write(h.in[:copy(h.in[:], secret)])
	} else {
		h.mac.Write([]byte(secret))
	}
	h.mac.Sum(h.out[:0])
	d := h.out
	a.hmacs.Put(h)
	return d
}

func (a *Authenticator) stripe(keyID string) *stripe {
	// FNV-1a: cheap and spreads the random key ids well enough.
	h := uint32(2166136261)
	for i := 0; i < len(keyID); i++ {
		h ^= uint32(keyID[i])
		h *= 16777619
	}
	return &a.stripes[h%numStripes]
}
