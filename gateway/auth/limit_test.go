package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

func limitedAuth(t testing.TB, client corev1.ApiKeyServiceClient, perKey, perClient Rate) *Authenticator {
	t.Helper()
	return New(Options{
		Verifier: CoreVerifier{Client: client}, Secret: testSecretKey, TTL: time.Minute, Size: 100,
		AttemptsPerKey: perKey, AttemptsPerClient: perClient,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
}

func authFrom(a *Authenticator, client, header string) error {
	_, err := a.Authenticate(WithClient(context.Background(), client), header)
	return err
}

// Wrong secrets for one key id, from many clients at once, reach the core
// only as far as the key id's budget; the rest get ErrBusy (429) without a
// core call, and other keys are not slowed. The budget comes back with time.
func TestWrongSecretsLimitedPerKeyID(t *testing.T) {
	core := newFakeCore(testArgon)
	client := serve(t, core)
	target, _, targetHeader := core.addKey(t, false, nil, nil)
	_, _, otherHeader := core.addKey(t, false, nil, nil)
	a := limitedAuth(t, client, Rate{Burst: 3, Every: 2 * time.Second}, Rate{Burst: 100, Every: time.Second})
	startWatch(t, a, client)

	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[error]int{}
	for i := range n {
		wg.Go(func() {
			err := authFrom(a, "10.0.0."+strconv.Itoa(i), "Bearer "+target+"."+newSecret())
			mu.Lock()
			answers[err]++
			mu.Unlock()
		})
	}
	wg.Wait()
	invalid, busy := 0, 0
	for err, k := range answers {
		switch {
		case errors.Is(err, ErrInvalidKey):
			invalid += k
		case errors.Is(err, ErrBusy):
			busy += k
		default:
			t.Fatalf("wrong secret: %v", err)
		}
	}
	if c := core.verifyCalls.Load(); c != 3 || invalid != 3 || busy != n-3 {
		t.Fatalf("%d core calls, %d invalid, %d busy; want 3, 3, %d", c, invalid, busy, n-3)
	}
	if err := authFrom(a, "10.0.1.1", otherHeader); err != nil {
		t.Fatalf("another key while one is attacked: %v", err)
	}
	// The attacked key id itself waits for its budget (uncached: it must
	// be verified), then works.
	if err := authFrom(a, "10.0.1.2", targetHeader); !errors.Is(err, ErrBusy) {
		t.Fatalf("attacked key right after the attack: %v, want ErrBusy", err)
	}
	eventually(t, "the key id's budget to come back", func() bool {
		return authFrom(a, "10.0.1.2", targetHeader) == nil
	})
}

// Wrong secrets from one client, spread over many real key ids, reach the
// core only as far as the client's budget; other clients are not limited.
func TestWrongSecretsLimitedPerClient(t *testing.T) {
	core := newFakeCore(testArgon)
	client := serve(t, core)
	var ids, headers []string
	for range 8 {
		id, _, h := core.addKey(t, false, nil, nil)
		ids, headers = append(ids, id), append(headers, h)
	}
	a := limitedAuth(t, client, Rate{Burst: 100, Every: time.Second}, Rate{Burst: 4, Every: time.Hour})
	startWatch(t, a, client)

	for i, id := range ids {
		err := authFrom(a, "203.0.113.7", "Bearer "+id+"."+newSecret())
		if want := ErrInvalidKey; i >= 4 {
			want = ErrBusy
			if !errors.Is(err, want) {
				t.Fatalf("wrong secret %d from the same client: %v, want %v", i, err, want)
			}
		} else if !errors.Is(err, want) {
			t.Fatalf("wrong secret %d: %v, want %v", i, err, want)
		}
	}
	if c := core.verifyCalls.Load(); c != 4 {
		t.Fatalf("core calls = %d, want 4", c)
	}
	if err := authFrom(a, "203.0.113.7", headers[0]); !errors.Is(err, ErrBusy) {
		t.Fatalf("the limited client with a right secret: %v, want ErrBusy", err)
	}
	for _, h := range headers {
		if err := authFrom(a, "198.51.100.1", h); err != nil {
			t.Fatalf("another client: %v", err)
		}
	}
}

// Only wrong secrets use up a budget: right secrets (each verified anew
// after an invalidation) and core failures give their token back.
func TestOnlyWrongSecretsSpendTheBudget(t *testing.T) {
	core := newFakeCore(testArgon)
	client := serve(t, core)
	keyID, _, header := core.addKey(t, false, nil, nil)
	a := limitedAuth(t, client, Rate{Burst: 2, Every: time.Hour}, Rate{Burst: 2, Every: time.Hour})
	for range 10 {
		if err := authFrom(a, "192.0.2.1", header); err != nil {
			t.Fatal(err)
		}
		if err := a.Invalidate(context.Background(), keyID); err != nil {
			t.Fatal(err)
		}
	}
	core.failCode.Store(uint32(codes.Unavailable))
	for range 5 {
		if err := authFrom(a, "192.0.2.1", header); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("core down: %v", err)
		}
	}
	core.failCode.Store(uint32(codes.OK))
	if err := authFrom(a, "192.0.2.1", header); err != nil {
		t.Fatalf("after ten right secrets and five core failures: %v", err)
	}
	if s := a.Stats(); s.Limited != 0 {
		t.Fatalf("stats = %+v, want nothing limited", s)
	}
}

// An IPv6 client is its /64: a host cannot dodge its budget by changing
// the low bits of its address.
func TestClientAddressOfIPv6IsItsPrefix(t *testing.T) {
	for addr, want := range map[string]string{
		"2001:db8:1:2:aaaa::1": "2001:db8:1:2::/64",
		"2001:db8:1:2:bbbb::9": "2001:db8:1:2::/64",
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "::ffff:203.0.113.7",
		"not an address":       "not an address",
	} {
		if got := clientFrom(WithClient(context.Background(), addr)); got != want {
			t.Errorf("client of %q = %q, want %q", addr, got, want)
		}
	}
}
