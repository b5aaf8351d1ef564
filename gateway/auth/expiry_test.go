package auth

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// A key cached in L1 is refused once its expiry passes, without asking the
// core: the entry carries the instant.
func TestExpiredKeyRefusedFromL1(t *testing.T) {
	const header = "Bearer abcdefghijklmno.secretsecretsecret"
	expires := time.Now().Add(300 * time.Millisecond)
	var calls atomic.Int32
	a := New(Options{
		Verifier: verifierFunc(func(_ context.Context, keyID, _ string) (*Principal, error) {
			calls.Add(1)
			p := NewPrincipal(keyID, false, []string{"org1"}, []string{"listSites"})
			p.ExpiresAt = expires
			return p, nil
		}),
		Secret: testSecretKey,
		TTL:    time.Hour,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if p := mustAuth(t, a, header); !p.ExpiresAt.Equal(expires) {
		t.Fatalf("principal expiry %v, want %v", p.ExpiresAt, expires)
	}
	mustAuth(t, a, header) // from L1
	time.Sleep(time.Until(expires) + 10*time.Millisecond)
	wantErr(t, a, header, ErrKeyExpired)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d verifier calls, want 1: the refusal comes from L1", n)
	}
}

// The L2 entry carries the key's expiry through Redis, MAC and all, and a
// hit on an entry past it refuses.
func TestL2EntryCarriesKeyExpiry(t *testing.T) {
	a := New(Options{Verifier: verifierFunc(nil), Secret: testSecretKey})
	d := a.digest("secret")
	for _, tc := range []struct {
		name    string
		expires time.Time
		want    error
	}{
		{"never", time.Time{}, nil},
		{"in an hour", time.Now().Add(time.Hour).Truncate(time.Millisecond), nil},
		{"a second ago", time.Now().Add(-time.Second).Truncate(time.Millisecond), ErrKeyExpired},
	} {
		p := NewPrincipal("abcdefghijklmno", true, nil, []string{"getOrg"})
		p.ExpiresAt = tc.expires
		b, err := a.encode("abcdefghijklmno", &entry{secrets: []verifiedSecret{{digest: d}}, principal: p, expires: time.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		e, err := a.decode("abcdefghijklmno", b)
		if err != nil {
			t.Fatalf("%s: decode: %v", tc.name, err)
		}
		if !e.principal.ExpiresAt.Equal(tc.expires) {
			t.Fatalf("%s: decoded expiry %v, want %v", tc.name, e.principal.ExpiresAt, tc.expires)
		}
		if _, err := e.check(d); err != tc.want {
			t.Fatalf("%s: check = %v, want %v", tc.name, err, tc.want)
		}
	}
}
