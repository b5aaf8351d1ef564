package core_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// rootWith is a root caller holding every action, with limits.
func rootWith(expires *string, ips []string, rate *corev1.RateLimit) core.Caller {
	return core.Caller{Principal: &corev1.Principal{ApiKeyId: "rootkeyrootkeyr", IsRoot: true, ActionIds: core.Actions,
		ExpiresAt: expires, AllowedIps: ips, RateLimit: rate}}
}

// An allow list takes IPv4 and IPv6 addresses and CIDRs, stored as masked
// CIDRs without duplicates; anything else is a 400 naming the entry.
func TestAllowedIPsValidated(t *testing.T) {
	svc := newService(t)
	mkOrg(t, svc, "acme")
	ctx := as(core.Admin)
	key, err := svc.Keys.CreateOrgKey(ctx, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "ips",
		AllowedIps: []string{"203.0.113.7", "10.1.2.3/8", "2001:db8::1", "2001:db8:1::/48", "::ffff:192.0.2.1", "203.0.113.7/32"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"203.0.113.7/32", "10.0.0.0/8", "2001:db8::1/128", "2001:db8:1::/48", "192.0.2.1/32"}
	if !slices.Equal(key.GetAllowedIps(), want) {
		t.Fatalf("stored allow list %v, want %v", key.GetAllowedIps(), want)
	}
	for _, bad := range []string{"", "203.0.113.300", "10.0.0.0/33", "fe80::1%eth0", "example.com", "2001:db8::/129"} {
		_, err := svc.Keys.CreateOrgKey(ctx, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "bad", AllowedIps: []string{"10.0.0.1", bad}})
		if code(err) != core.CodeInvalid || !strings.Contains(err.Error(), "allowedIps[1]") {
			t.Errorf("allow list entry %q: %v, want a 400 naming allowedIps[1]", bad, err)
		}
	}
	many := make([]string, core.MaxAllowedIPs+1)
	for i := range many {
		many[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	if _, err := svc.Keys.CreateOrgKey(ctx, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "many", AllowedIps: many}); code(err) != core.CodeInvalid || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("101 entries: %v", err)
	}
	for _, r := range []*corev1.RateLimit{{Requests: 0, PerSeconds: 1}, {Requests: 1, PerSeconds: 0}, {Requests: 1, PerSeconds: 86401}, {Requests: 1_000_001, PerSeconds: 1}} {
		if _, err := svc.Keys.CreateOrgKey(ctx, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "rate", RateLimit: r}); code(err) != core.CodeInvalid || !strings.Contains(err.Error(), "rateLimit.") {
			t.Errorf("rate limit %v: %v, want a 400 naming the field", r, err)
		}
	}
}

// The address check: anywhere without a list, only its addresses with one,
// IPv4-mapped IPv6 as IPv4, and no address at all refused by a list.
func TestKeyAllows(t *testing.T) {
	open := &corev1.Principal{}
	listed := &corev1.Principal{AllowedIps: []string{"203.0.113.0/24", "2001:db8::/32"}}
	for _, c := range []struct {
		p    *corev1.Principal
		addr string
		want bool
	}{
		{open, "198.51.100.1", true}, {open, "", true},
		{listed, "203.0.113.9", true}, {listed, "::ffff:203.0.113.9", true}, {listed, "2001:db8:5::1", true},
		{listed, "203.0.114.1", false}, {listed, "2001:db9::1", false}, {listed, "", false}, {listed, "junk", false},
	} {
		if got := core.KeyAllows(c.p, c.addr); got != c.want {
			t.Errorf("KeyAllows(%v, %q) = %v, want %v", c.p.GetAllowedIps(), c.addr, got, c.want)
		}
	}
}

// A key sets only limits at least as strict as its own, on create and on
// update, and the 403 says which.
func TestKeyLimitsBoundedByTheCaller(t *testing.T) {
	svc := newService(t)
	mkOrg(t, svc, "acme")
	own := core.Timestamp(time.Now().Add(24 * time.Hour))
	later := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	sooner := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	caller := as(rootWith(&own, []string{"10.0.0.0/8"}, &corev1.RateLimit{Requests: 100, PerSeconds: 60}))
	within := &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "ok", ExpiresAt: &sooner,
		AllowedIps: []string{"10.1.0.0/16"}, RateLimit: &corev1.RateLimit{Requests: 10, PerSeconds: 60}}
	key, err := svc.Keys.CreateOrgKey(caller, within)
	if err != nil {
		t.Fatalf("limits within the caller's: %v", err)
	}
	for _, c := range []struct {
		change func(r *corev1.CreateOrgKeyRequest)
		msg    string
	}{
		{func(r *corev1.CreateOrgKeyRequest) { r.ExpiresAt = nil }, "expiresAt"},
		{func(r *corev1.CreateOrgKeyRequest) { r.ExpiresAt = &later }, "expiresAt"},
		{func(r *corev1.CreateOrgKeyRequest) { r.AllowedIps = nil }, "allowedIps"},
		{func(r *corev1.CreateOrgKeyRequest) { r.AllowedIps = []string{"10.0.0.0/7"} }, "allowedIps"},
		{func(r *corev1.CreateOrgKeyRequest) { r.AllowedIps = []string{"10.0.0.1", "192.168.0.1"} }, "192.168.0.1/32"},
		{func(r *corev1.CreateOrgKeyRequest) { r.RateLimit = nil }, "rateLimit"},
		{func(r *corev1.CreateOrgKeyRequest) { r.RateLimit = &corev1.RateLimit{Requests: 101, PerSeconds: 61} }, "rateLimit"},
		{func(r *corev1.CreateOrgKeyRequest) { r.RateLimit = &corev1.RateLimit{Requests: 100, PerSeconds: 59} }, "rateLimit"},
	} {
		req := &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "loose", ExpiresAt: within.ExpiresAt,
			AllowedIps: within.AllowedIps, RateLimit: within.RateLimit}
		c.change(req)
		if _, err := svc.Keys.CreateOrgKey(caller, req); code(err) != core.CodeForbidden || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("create %v: %v, want a 403 naming %s", req, err, c.msg)
		}
		upd := &corev1.UpdateOrgKeyRequest{OrgId: "acme", ApiKeyId: key.GetApiKeyId(), ExpiresAt: req.ExpiresAt,
			AllowedIps: req.AllowedIps, RateLimit: req.RateLimit, BodyKeys: []string{"expiresAt", "allowedIps", "rateLimit"}}
		if _, err := svc.Keys.UpdateOrgKey(caller, upd); code(err) != core.CodeForbidden || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("update %v: %v, want a 403 naming %s", upd, err, c.msg)
		}
	}
	// Limits not in the body are left alone, loose or not: a rename only.
	renamed, err := svc.Keys.UpdateOrgKey(caller, &corev1.UpdateOrgKeyRequest{OrgId: "acme", ApiKeyId: key.GetApiKeyId(),
		Name: ptr("renamed"), BodyKeys: []string{"name"}})
	if err != nil || renamed.GetName() != "renamed" || renamed.GetRateLimit().GetRequests() != 10 || len(renamed.GetAllowedIps()) != 1 {
		t.Fatalf("rename: %v, %v", renamed, err)
	}
}

// An update changes the keys the body holds: a key sent as null (absent
// from the message but in the body's keys) clears its limit; one left out
// stays; an empty body is a 400.
func TestUpdateOrgKey(t *testing.T) {
	svc := newService(t)
	mkOrg(t, svc, "acme")
	ctx := as(core.Admin)
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	key, err := svc.Keys.CreateOrgKey(ctx, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "k", ExpiresAt: &expires,
		AllowedIps: []string{"10.0.0.0/8"}, RateLimit: &corev1.RateLimit{Requests: 5, PerSeconds: 1}})
	if err != nil {
		t.Fatal(err)
	}
	id := key.GetApiKeyId()
	got, err := svc.Keys.UpdateOrgKey(ctx, &corev1.UpdateOrgKeyRequest{OrgId: "acme", ApiKeyId: id,
		BodyKeys: []string{"allowedIps", "rateLimit"}})
	if err != nil || len(got.GetAllowedIps()) != 0 || got.RateLimit != nil || got.ExpiresAt == nil || got.GetOrgId() != "acme" {
		t.Fatalf("clearing the allow list and rate limit: %v, %v", got, err)
	}
	got, err = svc.Keys.UpdateOrgKey(ctx, &corev1.UpdateOrgKeyRequest{OrgId: "acme", ApiKeyId: id, BodyKeys: []string{"expiresAt"}})
	if err != nil || got.ExpiresAt != nil {
		t.Fatalf("clearing the expiry: %v, %v", got, err)
	}
	if _, err := svc.Keys.UpdateOrgKey(ctx, &corev1.UpdateOrgKeyRequest{OrgId: "acme", ApiKeyId: id}); code(err) != core.CodeInvalid {
		t.Fatalf("an empty update: %v, want 400", err)
	}
	if _, err := svc.Keys.UpdateOrgKey(ctx, &corev1.UpdateOrgKeyRequest{OrgId: "acme", ApiKeyId: id, Name: ptr(""), BodyKeys: []string{"name"}}); code(err) != core.CodeInvalid {
		t.Fatalf("an empty name: %v, want 400", err)
	}
	root, err := svc.CreateRootKey(context.Background(), "root", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Keys.UpdateOrgKey(ctx, &corev1.UpdateOrgKeyRequest{OrgId: "acme", ApiKeyId: root.GetApiKeyId(), Name: ptr("x")}); code(err) != core.CodeNotFound {
		t.Fatalf("a root key through the org's path: %v, want 404", err)
	}
}

// After a roll the new secret verifies, the old one for its grace only
// (said so in the answer), and a roll without grace stops it at once.
func TestRollKeyVerify(t *testing.T) {
	svc := newService(t)
	mkOrg(t, svc, "acme")
	ctx := as(core.Admin)
	created, err := svc.Keys.CreateOrgKey(ctx, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	id, old := created.GetApiKeyId(), created.GetApiKey()
	verify := func(secret string) (*corev1.Principal, error) {
		return svc.Keys.Verify(context.Background(), &corev1.VerifyRequest{ApiKeyId: id, Secret: secret})
	}
	for _, g := range []int32{-1, core.MaxRollGraceSeconds + 1} {
		if _, err := svc.Keys.RollOrgKey(ctx, &corev1.RollOrgKeyRequest{OrgId: "acme", ApiKeyId: id, GraceSeconds: g}); code(err) != core.CodeInvalid || !strings.Contains(err.Error(), "graceSeconds") {
			t.Fatalf("grace %d: %v", g, err)
		}
	}
	rolled, err := svc.Keys.RollOrgKey(ctx, &corev1.RollOrgKeyRequest{OrgId: "acme", ApiKeyId: id, GraceSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rolled.GetApiKey() == old || rolled.GetApiKeyId() != id || rolled.PreviousSecretExpiresAt == nil || rolled.GetLastChars() != rolled.GetApiKey()[36:] {
		t.Fatalf("roll answer %v", rolled)
	}
	p, err := verify(rolled.GetApiKey())
	if err != nil || p.GetPreviousSecret() || p.GetPreviousSecretExpiresAt() != rolled.GetPreviousSecretExpiresAt() {
		t.Fatalf("new secret: %v, %v", p, err)
	}
	if p, err := verify(old); err != nil || !p.GetPreviousSecret() {
		t.Fatalf("old secret within its grace: %v, %v", p, err)
	}
	if _, err := verify(core.NewKeySecret()); code(err) != core.CodeUnauthenticated {
		t.Fatalf("a wrong secret within the grace: %v", err)
	}
	until, _ := time.Parse(time.RFC3339Nano, rolled.GetPreviousSecretExpiresAt())
	time.Sleep(time.Until(until) + 10*time.Millisecond)
	if _, err := verify(old); code(err) != core.CodeUnauthenticated || err.Error() != "Invalid API key" {
		t.Fatalf("old secret past its grace: %v", err)
	}
	again, err := svc.Keys.RollOrgKey(ctx, &corev1.RollOrgKeyRequest{OrgId: "acme", ApiKeyId: id})
	if err != nil || again.PreviousSecretExpiresAt != nil {
		t.Fatalf("roll without grace: %v, %v", again, err)
	}
	if _, err := verify(rolled.GetApiKey()); code(err) != core.CodeUnauthenticated {
		t.Fatalf("the secret before a roll without grace: %v", err)
	}
}
