package core_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	"pangolin-gateway/internal/testenv"
)

func newService(t *testing.T) *core.Service {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return core.NewService(store, 2, nil)
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

// checkId answers exists=true for an existing org and false for a free id,
// on both stores (it once said every existing org was free: a nil error
// fell into the internal-error branch).
func TestCheckOrgID(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			svc := core.NewService(open(t), 1, nil)
			if _, err := svc.CreateOrg(ctx, core.Admin, core.CreateOrgInput{ID: "acme", Name: "Acme", Subnet: "100.90.128.0/24"}); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]bool{"acme": true, "free": false} {
				exists, err := svc.CheckOrgID(ctx, core.Admin, id)
				if err != nil || exists != want {
					t.Errorf("CheckOrgID(%s) = %v, %v; want %v", id, exists, err, want)
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
	hash := core.HashSecret(secret)
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q", hash)
	}
	if !core.CheckSecret(hash, secret) || core.CheckSecret(hash, secret+"x") || core.CheckSecret("garbage", secret) {
		t.Fatal("CheckSecret disagrees with HashSecret")
	}
	// A hash with absurd parameters is refused, not computed.
	if core.CheckSecret("$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaA", secret) {
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
	got, err := svc.Verify(ctx, key.ID, key.Secret)
	if err != nil || !got.IsRoot || strings.Join(got.ActionIDs, ",") != "listOrgs" || got.Hash != "" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	for _, bad := range [][2]string{{key.ID, key.Secret + "x"}, {"nosuchkey000000", key.Secret}, {key.ID, ""}, {"short", key.Secret}} {
		if _, err := svc.Verify(ctx, bad[0], bad[1]); code(err) != core.CodeUnauthenticated || err.Error() != "Invalid API key" {
			t.Fatalf("Verify(%q, …) = %v, want the one 401 answer", bad[0], err)
		}
	}
}

func TestTenancyInTheCore(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	admin := core.Admin
	for _, id := range []string{"acme", "globex"} {
		if _, err := svc.CreateOrg(ctx, admin, core.CreateOrgInput{ID: id, Name: id, Subnet: "100.90.128.0/24"}); err != nil {
			t.Fatal(err)
		}
	}
	site, err := svc.CreateSite(ctx, admin, core.CreateSiteInput{OrgID: "globex", Name: "g", Type: core.SiteLocal})
	if err != nil {
		t.Fatal(err)
	}
	acme := core.Caller{KeyID: "k", OrgIDs: []string{"acme"}}
	name := "pwned"
	for what, err := range map[string]error{
		"get org":     func() error { _, err := svc.GetOrg(ctx, acme, "globex"); return err }(),
		"missing org": func() error { _, err := svc.GetOrg(ctx, acme, "nope"); return err }(),
		"get site":    func() error { _, err := svc.GetSite(ctx, acme, site.ID); return err }(),
		"update site": func() error { _, err := svc.UpdateSite(ctx, acme, site.ID, core.SiteUpdate{Name: &name}); return err }(),
		"delete site": svc.DeleteSite(ctx, acme, site.ID),
		"list sites":  func() error { _, _, err := svc.ListSites(ctx, acme, "globex", core.Page{}); return err }(),
		"create site": func() error {
			_, err := svc.CreateSite(ctx, acme, core.CreateSiteInput{OrgID: "globex", Name: "x", Type: "local"})
			return err
		}(),
		"by nice id": func() error { _, err := svc.GetSiteByNiceID(ctx, acme, "globex", site.NiceID); return err }(),
		"defaults":   func() error { _, err := svc.PickSiteDefaults(ctx, acme, "globex"); return err }(),
		"list orgs":  func() error { _, _, err := svc.ListOrgs(ctx, acme, core.Page{}); return err }(),
		"delete org": svc.DeleteOrg(ctx, acme, "globex"),
		"org key":    func() error { _, err := svc.CreateOrgKey(ctx, acme, "acme", "x"); return err }(),
	} {
		if code(err) != core.CodeForbidden {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
	got, err := svc.GetSite(ctx, admin, site.ID)
	if err != nil || got.Name != "g" {
		t.Fatalf("globex site after the attempts: %+v, %v", got, err)
	}
	// A root key asking for an org that does not exist: 404.
	if _, err := svc.GetOrg(ctx, admin, "nope"); code(err) != core.CodeNotFound {
		t.Fatalf("root, missing org: %v", err)
	}
}

func TestOrgKeysStayInTheirOrg(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	for _, id := range []string{"acme", "globex"} {
		if _, err := svc.CreateOrg(ctx, core.Admin, core.CreateOrgInput{ID: id, Name: id, Subnet: "10.0.0.0/24"}); err != nil {
			t.Fatal(err)
		}
	}
	root, _ := svc.CreateRootKey(ctx, "root", nil)
	globexKey, err := svc.CreateOrgKey(ctx, core.Admin, "globex", "g")
	if err != nil {
		t.Fatal(err)
	}
	// Through acme's path, neither the root key nor globex's key exists.
	for _, id := range []string{root.ID, globexKey.ID} {
		if err := svc.DeleteOrgKey(ctx, core.Admin, "acme", id); code(err) != core.CodeNotFound {
			t.Fatalf("delete %s via acme: %v", id, err)
		}
		if err := svc.SetKeyActions(ctx, core.Admin, "acme", id, []string{"getOrg"}); code(err) != core.CodeNotFound {
			t.Fatalf("set actions of %s via acme: %v", id, err)
		}
	}
	if err := svc.SetKeyActions(ctx, core.Admin, "globex", globexKey.ID, []string{"getOrg", "nope"}); code(err) != core.CodeInvalid {
		t.Fatalf("unknown action: %v", err)
	}
	// Deleting the org removes its keys.
	if err := svc.DeleteOrg(ctx, core.Admin, "globex"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Verify(ctx, globexKey.ID, globexKey.Secret); code(err) != core.CodeUnauthenticated {
		t.Fatalf("key of a deleted org still verifies: %v", err)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	for _, in := range []core.CreateOrgInput{
		{ID: "Acme", Name: "x", Subnet: "10.0.0.0/24"},
		{ID: "a--b", Name: "x", Subnet: "10.0.0.0/24"},
		{ID: strings.Repeat("a", 33), Name: "x", Subnet: "10.0.0.0/24"},
		{ID: "ok", Name: "", Subnet: "10.0.0.0/24"},
		{ID: "ok", Name: "x", Subnet: "nope"},
		{ID: "ok", Name: "x", Subnet: "10.0.0.0/24", UtilitySubnet: ptr("10.0.0.0/16")},
	} {
		if _, err := svc.CreateOrg(ctx, core.Admin, in); code(err) != core.CodeInvalid {
			t.Errorf("CreateOrg(%+v) = %v, want Invalid", in, err)
		}
	}
	if _, err := svc.CreateOrg(ctx, core.Admin, core.CreateOrgInput{ID: "acme", Name: "Acme", Subnet: "100.90.128.0/24"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateOrg(ctx, core.Admin, core.CreateOrgInput{ID: "acme", Name: "Acme", Subnet: "100.90.128.0/24"}); code(err) != core.CodeConflict {
		t.Fatalf("duplicate org: %v", err)
	}
	for _, in := range []core.CreateSiteInput{
		{OrgID: "acme", Name: "x", Type: "bogus"},
		{OrgID: "acme", Name: "x", Type: core.SiteWireGuard},
		{OrgID: "acme", Name: "x", Type: core.SiteLocal, Address: ptr("10.1.1.1")},
		{OrgID: "acme", Name: "x", Type: core.SiteLocal, Address: ptr("not-an-ip")},
		{OrgID: "acme", Name: "x", Type: core.SiteLocal, ExitNodeID: i64(1)},
		{OrgID: "acme", Name: "x", Type: core.SiteLocal, NiceID: ptr("bad nice id")},
	} {
		if _, err := svc.CreateSite(ctx, core.Admin, in); code(err) != core.CodeInvalid {
			t.Errorf("CreateSite(%+v) = %v, want Invalid", in, err)
		}
	}
	s, err := svc.CreateSite(ctx, core.Admin, core.CreateSiteInput{OrgID: "acme", Name: "x", Type: core.SiteNewt, Address: ptr("100.90.128.7")})
	if err != nil || s.Address == nil || *s.Address != "100.90.128.7/24" || s.NewtID == nil || s.NewtSecret == nil || !s.DockerSocketEnabled {
		t.Fatalf("newt site = %+v, %v", s, err)
	}
	if _, err := svc.CreateSite(ctx, core.Admin, core.CreateSiteInput{OrgID: "acme", Name: "y", Type: core.SiteLocal, Address: ptr("100.90.128.7")}); code(err) != core.CodeConflict {
		t.Fatalf("duplicate address: %v", err)
	}
	d, err := svc.PickSiteDefaults(ctx, core.Admin, "acme")
	if err != nil || d.ClientAddress == nil || *d.ClientAddress != "100.90.128.1" || d.ExitNode != nil || len(d.NewtID) != 15 || len(d.NewtSecret) != 48 {
		t.Fatalf("defaults = %+v, %v", d, err)
	}
	if _, err := svc.UpdateSite(ctx, core.Admin, s.ID, core.SiteUpdate{}); code(err) != core.CodeInvalid {
		t.Fatalf("empty update: %v", err)
	}
	if _, err := svc.UpdateSite(ctx, core.Admin, s.ID, core.SiteUpdate{RemoteSubnets: ptr("10.0.0.0/8, nope")}); code(err) != core.CodeInvalid {
		t.Fatalf("bad remote subnets: %v", err)
	}
}

func ptr(s string) *string { return &s }
func i64(n int64) *int64   { return &n }
