package auth

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Rate is a token bucket: Burst attempts at once, then one more per Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// Defaults of Options.AttemptsPerKey and AttemptsPerClient. A wrong secret
// costs the core one argon2id hash (tens of milliseconds of a CPU); these
// keep what one key id, or one client, can make it compute to a trickle.
var (
	DefaultAttemptsPerKey    = Rate{Burst: 5, Every: 2 * time.Second}
	DefaultAttemptsPerClient = Rate{Burst: 10, Every: time.Second}
)

// attemptLimits spends a token of the key id's bucket and of the client's
// on each verification the core is asked for, and gives both back unless
// the core answers that the secret is wrong: so only wrong secrets use up
// a bucket, and concurrent ones are counted before their answers arrive.
// An empty bucket is a 429 without a core call, for that key id or that
// client only: other keys and clients are not slowed. Unknown ids never get
// here while the live id set is synced.
//
// The buckets are per replica: N replicas allow N times the rate. They live
// in bounded LRUs; an evicted bucket starts full again, which only matters
// to whoever is using more than maxBuckets keys or addresses at once.
type attemptLimits struct {
	mu      sync.Mutex
	keys    bucketLRU
	clients bucketLRU
}

const maxBuckets = 10000

type bucketLRU struct {
	rate Rate
	lru  *simplelru.LRU[string, *bucket]
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newAttemptLimits(perKey, perClient Rate) *attemptLimits {
	newLRU := func(r Rate) bucketLRU {
		l, _ := simplelru.NewLRU[string, *bucket](maxBuckets, nil) // size > 0: no error
		return bucketLRU{rate: r, lru: l}
	}
	return &attemptLimits{keys: newLRU(perKey), clients: newLRU(perClient)}
}

// take spends a token of both buckets, or of neither when one is empty.
// An empty client address (a caller that does not say) has no bucket.
func (l *attemptLimits) take(keyID, client string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys.get(keyID, now)
	if k.tokens < 1 {
		return false
	}
	if client != "" {
		c := l.clients.get(client, now)
		if c.tokens < 1 {
			return false
		}
		c.tokens--
	}
	k.tokens--
	return true
}

// giveBack returns the tokens take spent.
func (l *attemptLimits) giveBack(keyID, client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys.put(keyID)
	if client != "" {
		l.clients.put(client)
	}
}

// get returns id's bucket refilled to now, creating a full one.
func (b bucketLRU) get(id string, now time.Time) *bucket {
	full := float64(b.rate.Burst)
	bk, ok := b.lru.Get(id)
	if !ok {
		bk = &bucket{tokens: full, at: now}
		b.lru.Add(id, bk)
		return bk
	}
	if b.rate.Every > 0 {
		bk.tokens = min(full, bk.tokens+float64(now.Sub(bk.at))/float64(b.rate.Every))
	}
	bk.at = now
	return bk
}

func (b bucketLRU) put(id string) {
	if bk, ok := b.lru.Peek(id); ok {
		bk.tokens = min(float64(b.rate.Burst), bk.tokens+1)
	}
}

type clientKey struct{}

// WithClient returns ctx carrying the address of the client making the
// request (gin's ClientIP, which follows server.trust_proxy): a key's allow
// list is checked against it, and wrong secrets are limited per client
// address as well as per key id.
func WithClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientOf returns the client address ctx carries, "" when none.
func ClientOf(ctx context.Context) string {
	addr, _ := ctx.Value(clientKey{}).(string)
	return addr
}

// clientFrom is the client whose wrong secrets ctx's request counts
// against: its address, or for IPv6 its /64, which one host usually holds
// whole.
func clientFrom(ctx context.Context) string {
	addr := ClientOf(ctx)
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() && !ip.Is4In6() {
		if p, err := ip.Prefix(64); err == nil {
			addr = p.String()
		}
	}
	return addr
}
