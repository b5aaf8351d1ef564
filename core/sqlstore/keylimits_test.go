package sqlstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// A key's allow list and rate limit are stored with it and read with its
// scope; an update writes them (or clears them) and is a change of the key.
func testKeyLimits(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	rate := &corev1.RateLimit{Requests: 10, PerSeconds: 60}
	must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "limited", Name: "limited", LastChars: "abcd",
		CreatedAt: "2025-08-01T12:34:56.789Z", AllowedIps: []string{"203.0.113.0/24", "2001:db8::/32"}, RateLimit: rate},
		"h", "acme", []string{"getOrg"}))
	wantMsg(t, "principal", principal(t, s, "limited"), &corev1.Principal{ApiKeyId: "limited", OrgIds: []string{"acme"},
		ActionIds: []string{"getOrg"}, AllowedIps: []string{"203.0.113.0/24", "2001:db8::/32"}, RateLimit: rate})
	key, err := s.Key(ctx, "limited")
	must(t, err)
	wantMsg(t, "Key", key, &corev1.ApiKey{ApiKeyId: "limited", Name: "limited", LastChars: "abcd",
		CreatedAt: "2025-08-01T12:34:56.789Z", AllowedIps: []string{"203.0.113.0/24", "2001:db8::/32"}, RateLimit: rate})

	seq := newestSeq(t, s)
	updated, err := s.UpdateKey(ctx, "limited", func(k *corev1.ApiKey) error {
		k.Name, k.AllowedIps, k.RateLimit, k.ExpiresAt = "renamed", nil, nil, ptr("2031-02-03T04:05:06.789Z")
		return nil
	})
	must(t, err)
	wantMsg(t, "updated key", updated, &corev1.ApiKey{ApiKeyId: "limited", Name: "renamed", LastChars: "abcd",
		CreatedAt: "2025-08-01T12:34:56.789Z", ExpiresAt: ptr("2031-02-03T04:05:06.789Z")})
	wantMsg(t, "principal after update", principal(t, s, "limited"), &corev1.Principal{ApiKeyId: "limited",
		OrgIds: []string{"acme"}, ActionIds: []string{"getOrg"}, ExpiresAt: ptr("2031-02-03T04:05:06.789Z")})
	if got := loggedKeys(t, s, seq); len(got) != 1 || got[0] != "limited" {
		t.Fatalf("logged after update: %v", got)
	}

	// A refused change writes nothing; a missing key is NotFound.
	seq = newestSeq(t, s)
	_, err = s.UpdateKey(ctx, "limited", func(k *corev1.ApiKey) error {
		k.Name = "half-done"
		return core.Errorf(core.CodeForbidden, "no")
	})
	wantErr(t, err, core.CodeForbidden, "no")
	if key, _ := s.Key(ctx, "limited"); key.GetName() != "renamed" || len(loggedKeys(t, s, seq)) != 0 {
		t.Fatalf("a refused update left %v", key)
	}
	_, err = s.UpdateKey(ctx, "nope", func(*corev1.ApiKey) error { return nil })
	wantErr(t, err, core.CodeNotFound, "API key not found")
}

// A roll replaces the hash; the one before works until the grace ends,
// then the store no longer answers it. A roll without grace drops it.
func testRollKey(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "rolled", "acme", "getOrg")
	seq := newestSeq(t, s)
	until := core.Timestamp(time.Now().Add(time.Hour))
	key, err := s.RollKey(ctx, "rolled", "$argon2id$new", "wxyz", until)
	must(t, err)
	if key.GetLastChars() != "wxyz" || key.GetPreviousSecretExpiresAt() != until {
		t.Fatalf("rolled key %v, want last chars wxyz and the grace until %s", key, until)
	}
	if got := loggedKeys(t, s, seq); len(got) != 1 || got[0] != "rolled" {
		t.Fatalf("logged after roll: %v", got)
	}
	hash, err := s.KeyHash(ctx, "rolled")
	must(t, err)
	prev, prevUntil, err := s.PreviousKeyHash(ctx, "rolled")
	must(t, err)
	if hash != "$argon2id$new" || prev != "$argon2id$hash-of-rolled" || prevUntil != until {
		t.Fatalf("hashes after roll: %q, previous %q until %q", hash, prev, prevUntil)
	}
	if p := principal(t, s, "rolled"); p.GetPreviousSecretExpiresAt() != until {
		t.Fatalf("principal after roll: %v", p)
	}

	// A grace that is over answers no previous hash.
	exec(t, s, `UPDATE api_keys SET previous_secret_expires_at = $1 WHERE api_key_id = 'rolled'`,
		core.Timestamp(time.Now().Add(-time.Second)))
	if prev, _, err := s.PreviousKeyHash(ctx, "rolled"); err != nil || prev != "" {
		t.Fatalf("previous hash past the grace: %q, %v", prev, err)
	}

	// Without grace: the secret before stops at once.
	_, err = s.RollKey(ctx, "rolled", "$argon2id$newer", "abcd", until)
	must(t, err)
	key, err = s.RollKey(ctx, "rolled", "$argon2id$newest", "efgh", "")
	must(t, err)
	if prev, _, err := s.PreviousKeyHash(ctx, "rolled"); err != nil || prev != "" || key.PreviousSecretExpiresAt != nil {
		t.Fatalf("after a roll without grace: previous %q (%v), key %v", prev, err, key)
	}
	_, err = s.RollKey(ctx, "nope", "h", "abcd", "")
	wantErr(t, err, core.CodeNotFound, "API key not found")
}

// Last use is written at most once per interval, is no key change, and
// finds unused keys in the org's list.
func testTouchKeys(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "used", "acme")
	mkKey(t, s, "idle", "acme")
	mkKey(t, s, "root", "")
	seq := newestSeq(t, s)
	first := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, s.TouchKeys(ctx, map[string]time.Time{"used": first, "root": first, "gone": first}, time.Minute))
	must(t, s.TouchKeys(ctx, map[string]time.Time{"used": first.Add(30 * time.Second)}, time.Minute))
	lastUsed := func(id string) string {
		key, err := s.Key(ctx, id)
		must(t, err)
		return key.GetLastUsedAt()
	}
	if got := lastUsed("used"); got != core.Timestamp(first) {
		t.Fatalf("last use within the interval moved it: %s", got)
	}
	must(t, s.TouchKeys(ctx, map[string]time.Time{"used": first.Add(2 * time.Minute)}, time.Minute))
	if got, idle := lastUsed("used"), lastUsed("idle"); got != core.Timestamp(first.Add(2*time.Minute)) || idle != "" {
		t.Fatalf("last use after the interval: used %s, idle %q", got, idle)
	}
	if got := loggedKeys(t, s, seq); len(got) != 0 {
		t.Fatalf("last use logged key changes: %v", got)
	}

	ids := func(since string) []string {
		keys, total, err := s.ListOrgKeys(ctx, "acme", since, nil)
		must(t, err)
		var out []string
		for _, k := range keys {
			out = append(out, k.GetApiKeyId())
		}
		if int(total) != len(out) {
			t.Fatalf("unused since %q: total %d for %v", since, total, out)
		}
		return out
	}
	for since, want := range map[string]string{
		"":                                   "idle,used",
		core.Timestamp(first):                "idle",
		core.Timestamp(first.Add(time.Hour)): "idle,used",
	} {
		got := ids(since)
		if s := strings.Join(uniqueSorted(got), ","); s != want {
			t.Errorf("unused since %q: %s, want %s", since, s, want)
		}
	}
}
