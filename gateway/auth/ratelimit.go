package auth

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// DefaultRatePrefix starts the Redis key of each key's rate limit state
// (after redis_rate's own "rate:").
const DefaultRatePrefix = "pgw:"

// KeyRates enforces each key's own rate limit (Principal.RateLimit). With
// Redis, one limit is shared by every replica: redis_rate's GCRA, whose
// state is one Redis key per API key and limit (it expires once the limit
// is whole again), updated by one script call per request. Without Redis, or while it fails, each replica applies the limit
// on its own (golang.org/x/time/rate): N replicas then allow up to N times
// the rate, but never an unlimited one. Safe for concurrent use.
type KeyRates struct {
	redis   *redis_rate.Limiter // nil: per replica only
	prefix  string
	timeout time.Duration
	health  redisHealth

	mu    sync.Mutex
	local *simplelru.LRU[string, *localRate]
}

// localRate is one key's limiter in this replica, for the limit it was
// made for (a changed limit starts a new one).
type localRate struct {
	limit RateLimit
	lim   *rate.Limiter
}

// Quota is what a key's rate limit says of one request.
type Quota struct {
	Allowed bool
	// Limit is the requests allowed at once (the burst), Remaining how
	// many more may come now.
	Limit, Remaining int
	// Reset is how long until the limit is whole again; RetryAfter, for a
	// refused request, how long until one more is allowed.
	Reset, RetryAfter time.Duration
}

// RateOptions configure KeyRates; zero values take defaults.
type RateOptions struct {
	// Redis shares the limits between replicas; nil: per replica.
	Redis redis.UniversalClient
	// Prefix starts each Redis key (tests isolate themselves with it).
	Prefix string
	// Timeout bounds each Redis call; past it the request is counted
	// locally.
	Timeout time.Duration
	Logger  *slog.Logger
}

// NewKeyRates returns the rate limits of keys.
func NewKeyRates(opts RateOptions) *KeyRates {
	r := &KeyRates{prefix: opts.Prefix, timeout: opts.Timeout}
	if r.prefix == "" {
		r.prefix = DefaultRatePrefix
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRedisTimeout
	}
	if opts.Redis != nil {
		r.redis = redis_rate.NewLimiter(opts.Redis)
	}
	r.health.log = opts.Logger
	if r.health.log == nil {
		r.health.log = slog.Default()
	}
	r.health.fallback = "applying each key's rate limit per replica"
	r.local, _ = simplelru.NewLRU[string, *localRate](maxBuckets, nil) // size > 0: no error
	return r
}

// Take counts one request of p's key against its limit. A key without a
// limit is always allowed (and gets a zero Quota).
func (r *KeyRates) Take(ctx context.Context, p *Principal) Quota {
	l := p.RateLimit
	if l.Requests <= 0 || l.Per <= 0 {
		return Quota{Allowed: true}
	}
	if r.redis != nil && r.health.usable() {
		rctx, cancel := context.WithTimeout(ctx, r.timeout)
		// The limit is part of the Redis key: a changed limit starts whole
		// (GCRA's state read under another limit would mean other numbers).
		key := r.prefix + p.KeyID + ":" + strconv.Itoa(l.Requests) + "/" + strconv.FormatInt(l.Per.Milliseconds(), 10)
		res, err := r.redis.Allow(rctx, key, redis_rate.Limit{Rate: l.Requests, Burst: l.Requests, Period: l.Per})
		cancel()
		if err == nil {
			r.health.succeeded()
			return Quota{Allowed: res.Allowed > 0, Limit: l.Requests, Remaining: res.Remaining,
				Reset: res.ResetAfter, RetryAfter: max(res.RetryAfter, 0)}
		}
		if ctx.Err() == nil { // the caller giving up says nothing about Redis
			r.health.failed("rate", err)
		}
	}
	return r.takeLocal(p.KeyID, l)
}

// takeLocal is Take on this replica's own limiter of the key.
func (r *KeyRates) takeLocal(keyID string, l RateLimit) Quota {
	now := time.Now()
	perSecond := float64(l.Requests) / l.Per.Seconds()
	r.mu.Lock()
	defer r.mu.Unlock()
	lr, ok := r.local.Get(keyID)
	if !ok || lr.limit != l {
		lr = &localRate{limit: l, lim: rate.NewLimiter(rate.Limit(perSecond), l.Requests)}
		r.local.Add(keyID, lr)
	}
	allowed := lr.lim.AllowN(now, 1)
	tokens := lr.lim.TokensAt(now)
	q := Quota{Allowed: allowed, Limit: l.Requests, Remaining: max(0, int(math.Floor(tokens))),
		Reset: seconds((float64(l.Requests) - tokens) / perSecond)}
	if !allowed {
		q.RetryAfter = seconds((1 - tokens) / perSecond)
	}
	return q
}

func seconds(s float64) time.Duration {
	return time.Duration(max(0, s) * float64(time.Second))
}
