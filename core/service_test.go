package core_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	"pangolin-gateway/internal/testenv"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// The domain's rules, called directly with a Caller in the context; the
// access rules the transport applies before these run are tested in rpc/.

func newService(t *testing.T) *core.Service {
	t.Helper()
	return core.NewService(stores(t)["sqlite"](t), 2, nil)
}

func code(err error) core.Code { return core.ErrorCode(err) }

// stores opens a fresh store on each backend: SQLite, and PostgreSQL at
// DATABASE_URL (skipped when unreachable, a failure under CI=true).
func stores(t *testing.T) map[string]func(t *testing.T) core.Store {
	open := func(t *testing.T, url, dir string) core.Store {
		store, err := sqlstore.Open(context.Background(), url, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store
	}
	return map[string]func(t *testing.T) core.Store{
		"sqlite":   func(t *testing.T) core.Store { return open(t, "", t.TempDir()) },
		"postgres": func(t *testing.T) core.Store { return open(t, testenv.PostgresURL(t), "") },
	}
}

// as returns ctx acting for c.
func as(c core.Caller) context.Context { return core.WithCaller(context.Background(), c) }

func mkOrg(t *testing.T, svc *core.Service, id string) {
	t.Helper()
	if _, err := svc.Orgs.CreateOrg(as(core.Admin), &corev1.CreateOrgRequest{OrgId: id, Name: id, Subnet: "100.90.128.0/24"}); err != nil {
		t.Fatal(err)
	}
}

// checkId answers exists=true for an existing org and false for a free id,
// on both stores (it once said every existing org was free: a nil error
// fell into the internal-error branch).
func TestCheckOrgID(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			svc := core.NewService(open(t), 1, nil)
			mkOrg(t, svc, "acme")
			for id, want := range map[string]bool{"acme": true, "free": false} {
				res, err := svc.Orgs.CheckOrgId(as(core.Admin), &corev1.CheckOrgIdRequest{OrgId: id})
				if err != nil || res.GetExists() != want {
					t.Errorf("CheckOrgId(%s) = %v, %v; want %v", id, res, err, want)
				}
			}
		})
	}
}

func TestKeyFormat(t *testing.T) {
	if id := core.RandomID(15); !regexp.MustCompile(`^[a-z0-9]{15}$`).MatchString(id) {
		t.Fatalf("RandomID = %q", id)
	}
	secret := core.NewKeySecret()
	if !regexp.MustCompile(`^[a-z2-7]{40}$`).MatchString(secret) {
		t.Fatalf("secret = %q", secret)
	}
	h := core.NewHasher(core.HashLimits{Concurrency: 1})
	ctx := context.Background()
	hash, err := h.Hash(ctx, secret)
	if err != nil || !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q, %v", hash, err)
	}
	check := func(hash, secret string) bool {
		t.Helper()
		ok, err := h.Check(ctx, hash, secret)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !check(hash, secret) || check(hash, secret+"x") || check("garbage", secret) {
		t.Fatal("Check disagrees with Hash")
	}
	// A hash with absurd parameters is refused, not computed.
	if check("$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA", secret) {
		t.Fatal("absurd parameters accepted")
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	key, err := svc.CreateRootKey(ctx, "root", []string{"listOrgs"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key.Token(), key.GetApiKeyId()+".") || len(key.Token()) != 15+1+40 {
		t.Fatalf("token %q", key.Token())
	}
	got, err := svc.Keys.Verify(ctx, &corev1.VerifyRequest{ApiKeyId: key.GetApiKeyId(), Secret: key.GetApiKey()})
	if err != nil || !got.GetIsRoot() || strings.Join(got.GetActionIds(), ",") != "listOrgs" {
		t.Fatalf("Verify = %v, %v", got, err)
	}
	for _, bad := range [][2]string{{key.GetApiKeyId(), key.GetApiKey() + "x"}, {"nosuchkey000000", key.GetApiKey()},
		{key.GetApiKeyId(), ""}, {"short", key.GetApiKey()}} {
		_, err := svc.Keys.Verify(ctx, &corev1.VerifyRequest{ApiKeyId: bad[0], Secret: bad[1]})
		if code(err) != core.CodeUnauthenticated || err.Error() != "Invalid API key" {
			t.Fatalf("Verify(%q, …) = %v, want the one 401 answer", bad[0], err)
		}
	}
}

func TestOrgKeysStayInTheirOrg(t *testing.T) {
	svc := newService(t)
	admin := as(core.Admin)
	mkOrg(t, svc, "acme")
	mkOrg(t, svc, "globex")
	root, _ := svc.CreateRootKey(admin, "root", nil)
	globexKey, err := svc.Keys.CreateOrgKey(admin, &corev1.CreateOrgKeyRequest{OrgId: "globex", Name: "g"})
	if err != nil {
		t.Fatal(err)
	}
	// Through acme's path, neither the root key nor globex's key exists.
	for _, id := range []string{root.GetApiKeyId(), globexKey.GetApiKeyId()} {
		if _, err := svc.Keys.DeleteOrgKey(admin, &corev1.OrgKeyRequest{OrgId: "acme", ApiKeyId: id}); code(err) != core.CodeNotFound {
			t.Fatalf("delete %s via acme: %v", id, err)
		}
		_, err := svc.Keys.SetKeyActions(admin, &corev1.SetKeyActionsRequest{OrgId: "acme", ApiKeyId: id, ActionIds: []string{"getOrg"}})
		if code(err) != core.CodeNotFound {
			t.Fatalf("set actions of %s via acme: %v", id, err)
		}
	}
	// Deleting the org removes its keys.
	if _, err := svc.Orgs.DeleteOrg(admin, &corev1.OrgIdRequest{OrgId: "globex"}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Keys.Verify(admin, &corev1.VerifyRequest{ApiKeyId: globexKey.GetApiKeyId(), Secret: globexKey.GetApiKey()})
	if code(err) != core.CodeUnauthenticated {
		t.Fatalf("key of a deleted org still verifies: %v", err)
	}
}

// A key grants only actions it holds: a root key holding createApiKey and
// setApiKeyActions cannot mint an org key with deleteSite. Unknown ids stay
// a 400.
func TestGrantOnlyWhatYouHold(t *testing.T) {
	svc := newService(t)
	mkOrg(t, svc, "acme")
	granter, err := svc.CreateRootKey(context.Background(), "granter", []string{"createApiKey", "setApiKeyActions", "getOrg"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Store().Principal(context.Background(), granter.GetApiKeyId())
	if err != nil {
		t.Fatal(err)
	}
	ctx := as(core.Caller{Principal: p})
	minted, err := svc.Keys.CreateOrgKey(ctx, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "minted"})
	if err != nil {
		t.Fatal(err)
	}
	set := func(ids ...string) error {
		_, err := svc.Keys.SetKeyActions(ctx, &corev1.SetKeyActionsRequest{OrgId: "acme", ApiKeyId: minted.GetApiKeyId(), ActionIds: ids})
		return err
	}
	err = set("getOrg", "deleteSite")
	if code(err) != core.CodeForbidden || err.Error() != "Key cannot grant an action it does not hold: deleteSite" {
		t.Fatalf("granting an action not held: %v", err)
	}
	if err := set("getOrg", "noSuchAction"); code(err) != core.CodeInvalid || err.Error() != "One or more actions do not exist" {
		t.Fatalf("unknown action: %v", err)
	}
	if err := set("getOrg"); err != nil {
		t.Fatalf("granting a held action: %v", err)
	}
	got, err := svc.Store().Principal(context.Background(), minted.GetApiKeyId())
	if err != nil || strings.Join(got.GetActionIds(), ",") != "getOrg" {
		t.Fatalf("minted key holds %v, %v; want only getOrg", got.GetActionIds(), err)
	}
}

func TestValidation(t *testing.T) {
	svc := newService(t)
	admin := as(core.Admin)
	for _, in := range []*corev1.CreateOrgRequest{
		{OrgId: "Acme", Name: "x", Subnet: "10.0.0.0/24"},
		{OrgId: "a--b", Name: "x", Subnet: "10.0.0.0/24"},
		{OrgId: strings.Repeat("a", 33), Name: "x", Subnet: "10.0.0.0/24"},
		{OrgId: "ok", Name: "", Subnet: "10.0.0.0/24"},
		{OrgId: "ok", Name: "x", Subnet: "nope"},
		{OrgId: "ok", Name: "x", Subnet: "10.0.0.0/24", UtilitySubnet: ptr("10.0.0.0/16")},
	} {
		if _, err := svc.Orgs.CreateOrg(admin, in); code(err) != core.CodeInvalid {
			t.Errorf("CreateOrg(%v) = %v, want Invalid", in, err)
		}
	}
	mkOrg(t, svc, "acme")
	if _, err := svc.Orgs.CreateOrg(admin, &corev1.CreateOrgRequest{OrgId: "acme", Name: "Acme", Subnet: "100.90.128.0/24"}); code(err) != core.CodeConflict {
		t.Fatalf("duplicate org: %v", err)
	}
	if _, err := svc.Orgs.UpdateOrg(admin, &corev1.UpdateOrgRequest{OrgId: "acme"}); code(err) != core.CodeInvalid {
		t.Fatalf("empty org update: %v", err)
	}
	for _, in := range []*corev1.CreateSiteRequest{
		{OrgId: "acme", Name: "x", Type: "bogus"},
		{OrgId: "acme", Name: "x", Type: core.SiteWireGuard},
		{OrgId: "acme", Name: "x", Type: core.SiteLocal, Address: ptr("10.1.1.1")},
		{OrgId: "acme", Name: "x", Type: core.SiteLocal, Address: ptr("not-an-ip")},
		{OrgId: "acme", Name: "x", Type: core.SiteLocal, ExitNodeId: i64(1)},
		{OrgId: "acme", Name: "x", Type: core.SiteLocal, ExitNodeId: i64(1), Subnet: ptr("100.89.128.4/30")},
		{OrgId: "acme", Name: "x", Type: core.SiteLocal, NiceId: ptr("bad nice id")},
	} {
		if _, err := svc.Sites.CreateSite(admin, in); code(err) != core.CodeInvalid {
			t.Errorf("CreateSite(%v) = %v, want Invalid", in, err)
		}
	}
	s, err := svc.Sites.CreateSite(admin, &corev1.CreateSiteRequest{OrgId: "acme", Name: "x", Type: core.SiteNewt, Address: ptr("100.90.128.7")})
	if err != nil || s.GetSite().GetAddress() != "100.90.128.7/24" || len(s.GetNewtId()) != 15 || len(s.GetSecret()) != 48 ||
		!s.GetSite().GetDockerSocketEnabled() || s.GetSite().GetSubnet() != "0.0.0.0/0" {
		t.Fatalf("newt site = %v, %v", s, err)
	}
	local, err := svc.Sites.CreateSite(admin, &corev1.CreateSiteRequest{OrgId: "acme", Name: "l", Type: core.SiteLocal})
	if err != nil || local.NewtId != nil || local.Secret != nil || local.GetSite().GetDockerSocketEnabled() || local.GetSite().GetNiceId() == "" {
		t.Fatalf("local site = %v, %v", local, err)
	}
	_, err = svc.Sites.CreateSite(admin, &corev1.CreateSiteRequest{OrgId: "acme", Name: "y", Type: core.SiteLocal, Address: ptr("100.90.128.7")})
	if code(err) != core.CodeConflict {
		t.Fatalf("duplicate address: %v", err)
	}
	d, err := svc.Sites.PickSiteDefaults(admin, &corev1.OrgSitesRequest{OrgId: "acme"})
	if err != nil || d.GetClientAddress() != "100.90.128.1" || d.ExitNodeId != nil || d.Subnet != nil ||
		len(d.GetNewtId()) != 15 || len(d.GetNewtSecret()) != 48 {
		t.Fatalf("defaults = %v, %v", d, err)
	}
	id := s.GetSite().GetSiteId()
	if _, err := svc.Sites.UpdateSite(admin, &corev1.UpdateSiteRequest{SiteId: id}); code(err) != core.CodeInvalid {
		t.Fatalf("empty update: %v", err)
	}
	if _, err := svc.Sites.UpdateSite(admin, &corev1.UpdateSiteRequest{SiteId: id, RemoteSubnets: ptr("10.0.0.0/8, nope")}); code(err) != core.CodeInvalid {
		t.Fatalf("bad remote subnets: %v", err)
	}
	if _, err := svc.Sites.UpdateSite(admin, &corev1.UpdateSiteRequest{SiteId: id, Name: ptr("")}); code(err) != core.CodeInvalid {
		t.Fatalf("empty name: %v", err)
	}
}

func ptr(s string) *string { return &s }
func i64(n int64) *int64   { return &n }
