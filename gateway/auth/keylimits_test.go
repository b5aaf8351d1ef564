package auth

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// rolledVerifier answers for one key with two secrets, as the core does
// within a roll's grace: the new one, and the old one until its grace ends.
type rolledVerifier struct {
	calls      atomic.Int64
	newer, old string
	until      time.Time
	allowed    []netip.Prefix
	rate       RateLimit
}

func (v *rolledVerifier) Verify(_ context.Context, keyID, secret string) (*Principal, error) {
	v.calls.Add(1)
	p := NewPrincipal(keyID, true, nil, []string{"getOrg"})
	p.PreviousUntil, p.AllowedIPs, p.RateLimit = v.until, v.allowed, v.rate
	switch {
	case secret == v.newer:
	case secret == v.old && time.Now().Before(v.until):
		p.SecretUntil = v.until
	default:
		return nil, ErrInvalidKey
	}
	return p, nil
}

// Within a roll's grace both secrets answer from the cache once each was
// verified (neither evicts the other, in L1 and in L2); the old one stops
// at the end of its grace without a word from the core; a wrong secret is
// still refused.
func TestRolledKeyCachesBothSecrets(t *testing.T) {
	rdb := testRedis(t)
	prefix := testPrefix(t, rdb)
	keyID := newKeyID()
	v := &rolledVerifier{newer: newSecret(), old: newSecret(), until: time.Now().Add(1500 * time.Millisecond)}
	newA := func() *Authenticator {
		return New(Options{Verifier: v, Redis: rdb, RedisPrefix: prefix, Secret: testSecretKey})
	}
	a := newA()
	bearer := func(s string) string { return "Bearer " + keyID + "." + s }
	for range 2 {
		for _, s := range []string{v.newer, v.old} {
			if _, err := a.Authenticate(context.Background(), bearer(s)); err != nil {
				t.Fatalf("secret within the grace: %v", err)
			}
		}
	}
	if n := v.calls.Load(); n != 2 {
		t.Fatalf("%d verifications for two secrets asked twice each, want 2", n)
	}
	// A second replica reads both from L2.
	b := newA()
	for _, s := range []string{v.old, v.newer} {
		if _, err := b.Authenticate(context.Background(), bearer(s)); err != nil {
			t.Fatalf("second replica, secret within the grace: %v", err)
		}
	}
	if n := v.calls.Load(); n != 2 {
		t.Fatalf("%d verifications after the second replica read L2, want 2", n)
	}
	if _, err := a.Authenticate(context.Background(), bearer(newSecret())); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("a wrong secret within the grace: %v", err)
	}
	calls := v.calls.Load()
	time.Sleep(time.Until(v.until) + 10*time.Millisecond)
	for _, r := range []*Authenticator{a, b} {
		if _, err := r.Authenticate(context.Background(), bearer(v.old)); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("old secret past its grace: %v", err)
		}
		if _, err := r.Authenticate(context.Background(), bearer(v.newer)); err != nil {
			t.Fatalf("new secret past the grace: %v", err)
		}
	}
	if n := v.calls.Load() - calls; n != 0 {
		t.Fatalf("%d verifications past the grace: the caches should answer", n)
	}
}

// A key with an allow list works from its addresses only, from the cache
// as from the core, IPv4-mapped IPv6 included; the refusal names the
// address.
func TestAllowList(t *testing.T) {
	v := &rolledVerifier{newer: newSecret(), allowed: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}}
	a := New(Options{Verifier: v, Secret: testSecretKey})
	header := "Bearer " + newKeyID() + "." + v.newer
	for addr, ok := range map[string]bool{"203.0.113.5": true, "::ffff:203.0.113.5": true, "2001:db8::7": true,
		"198.51.100.1": false, "2001:db9::1": false, "": false} {
		for range 2 { // the core's answer, then the cache's
			_, err := a.Authenticate(WithClient(context.Background(), addr), header)
			var na *NotAllowedError
			switch {
			case ok && err != nil:
				t.Fatalf("from %q: %v", addr, err)
			case !ok && (!errors.As(err, &na) || na.Addr != addr):
				t.Fatalf("from %q: %v, want NotAllowedError", addr, err)
			}
		}
	}
	if got := (&NotAllowedError{Addr: "198.51.100.1"}).Error(); got != "Key not allowed from 198.51.100.1" {
		t.Fatalf("message %q", got)
	}
}

// The entry in L2 carries the limits: a replica that reads it applies them.
func TestL2EntryCarriesLimits(t *testing.T) {
	a := New(Options{Verifier: verifierFunc(nil), Secret: testSecretKey})
	p := NewPrincipal("abcdefghijklmno", false, []string{"acme"}, []string{"getOrg"})
	p.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	p.RateLimit = RateLimit{Requests: 5, Per: time.Minute}
	p.PreviousUntil = time.Now().Add(time.Hour).Truncate(time.Millisecond)
	d1, d2 := a.digest("one"), a.digest("two")
	e := &entry{secrets: []verifiedSecret{{digest: d1}, {digest: d2, until: p.PreviousUntil}}, principal: p, expires: time.Now().Add(time.Minute)}
	b, err := a.encode(p.KeyID, e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.decode(p.KeyID, b)
	if err != nil {
		t.Fatal(err)
	}
	q := got.principal
	if len(q.AllowedIPs) != 1 || q.AllowedIPs[0] != p.AllowedIPs[0] || q.RateLimit != p.RateLimit ||
		!q.PreviousUntil.Equal(p.PreviousUntil) || len(got.secrets) != 2 || got.secrets[1].digest != d2 ||
		!got.secrets[1].until.Equal(p.PreviousUntil) {
		t.Fatalf("decoded %+v %+v", got, q)
	}
}

// Redis holds one limit for every replica: N requests through two
// KeyRates, then both refuse, with the quota headers' numbers.
func TestKeyRatesSharedThroughRedis(t *testing.T) {
	rdb := testRedis(t)
	prefix := testPrefix(t, rdb)
	a := NewKeyRates(RateOptions{Redis: rdb, Prefix: prefix})
	b := NewKeyRates(RateOptions{Redis: rdb, Prefix: prefix})
	p := NewPrincipal(newKeyID(), true, nil, nil)
	p.RateLimit = RateLimit{Requests: 4, Per: time.Minute}
	for i := range 4 {
		q := []*KeyRates{a, b}[i%2].Take(context.Background(), p)
		if !q.Allowed || q.Limit != 4 || q.Remaining != 3-i {
			t.Fatalf("request %d: %+v", i+1, q)
		}
	}
	for _, r := range []*KeyRates{a, b} {
		q := r.Take(context.Background(), p)
		if q.Allowed || q.Remaining != 0 || q.RetryAfter <= 0 || q.RetryAfter > 15*time.Second || q.Reset <= 0 {
			t.Fatalf("past the limit: %+v", q)
		}
	}
	if q := a.Take(context.Background(), NewPrincipal(newKeyID(), true, nil, nil)); !q.Allowed || q.Limit != 0 {
		t.Fatalf("a key without a limit: %+v", q)
	}
}

// With Redis unreachable each replica applies the limit on its own: never
// unlimited.
func TestKeyRatesPerReplicaWithoutRedis(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { down.Close() })
	a := NewKeyRates(RateOptions{Redis: down, Timeout: 50 * time.Millisecond})
	p := NewPrincipal(newKeyID(), true, nil, nil)
	p.RateLimit = RateLimit{Requests: 3, Per: time.Hour}
	for i := range 3 {
		if q := a.Take(context.Background(), p); !q.Allowed || q.Remaining != 2-i {
			t.Fatalf("request %d without Redis: %+v", i+1, q)
		}
	}
	q := a.Take(context.Background(), p)
	if q.Allowed || q.RetryAfter < 10*time.Minute || q.Reset < 59*time.Minute {
		t.Fatalf("past the local limit: %+v", q)
	}
	// A changed limit starts over.
	p2 := NewPrincipal(p.KeyID, true, nil, nil)
	p2.RateLimit = RateLimit{Requests: 5, Per: time.Hour}
	if q := a.Take(context.Background(), p2); !q.Allowed || q.Limit != 5 {
		t.Fatalf("after the limit changed: %+v", q)
	}
}
