package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pangolin-gateway/core"
)

// The contract suite: every test runs on each backend (see backend_test.go)
// against a fresh database.
var contractTests = []struct {
	name string
	fn   func(t *testing.T, b backend)
}{
	{"SeedActions", testSeedActions},
	{"SeedRemovesStaleActions", testSeedRemovesStaleActions},
	{"Timestamps", testTimestamps},
	{"CreateGetOrg", testCreateGetOrg},
	{"ListOrgs", testListOrgs},
	{"UpdateOrg", testUpdateOrg},
	{"DeleteOrgCascade", testDeleteOrgCascade},
	{"CreateGetAPIKey", testCreateGetAPIKey},
	{"CreateAPIKeyRefused", testCreateAPIKeyRefused},
	{"ListAPIKeys", testListAPIKeys},
	{"ListOrgAPIKeys", testListOrgAPIKeys},
	{"DeleteAPIKey", testDeleteAPIKey},
	{"SetAPIKeyActions", testSetAPIKeyActions},
	{"ListAPIKeyActions", testListAPIKeyActions},
	{"CountRootKeys", testCountRootKeys},
	{"KeyChangeLog", testKeyChangeLog},
	{"PruneKeyChanges", testPruneKeyChanges},
	{"CreateGetSite", testCreateGetSite},
	{"CreateSiteRefused", testCreateSiteRefused},
	{"ListSites", testListSites},
	{"UpdateSite", testUpdateSite},
	{"DeleteSite", testDeleteSite},
	{"AddressesAndExitNodes", testAddressesAndExitNodes},
	{"ConcurrentWriters", testConcurrentWriters},
	{"ConcurrentConflicts", testConcurrentConflicts},
	{"ClosedStore", testClosedStore},
}

func runContract(t *testing.T, b backend) {
	for _, tc := range contractTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, b)
		})
	}
}

// openStore opens a store on a fresh database of b, closed when t ends.
func openStore(t *testing.T, b backend) *Store {
	t.Helper()
	url, dir := b.newDB(t)
	return openAt(t, url, dir)
}

func openAt(t *testing.T, url, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantErr fails unless err is a *core.Error with that code and message.
func wantErr(t *testing.T, err error, code core.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %d %q", code, msg)
	}
	if got := core.ErrorCode(err); got != code || err.Error() != msg {
		t.Fatalf("got error code %d %q, want code %d %q", got, err, code, msg)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rowCount counts rows with SQL straight on the database, to check what
// the store's own reads would not show (cascades, log rows).
func rowCount(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	n, err := count(context.Background(), s.reader, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }

func mkOrg(t *testing.T, s *Store, id string) core.Org {
	t.Helper()
	o, err := s.CreateOrg(context.Background(), core.Org{ID: id, Name: "Org " + id, Subnet: ptr("100.90.128.0/24")})
	must(t, err)
	return o
}

func mkKey(t *testing.T, s *Store, id, orgID string, actions ...string) {
	t.Helper()
	must(t, s.CreateAPIKey(context.Background(), core.APIKey{
		ID: id, Name: "key " + id, Hash: "$argon2id$hash-of-" + id, LastChars: "ab12",
	}, orgID, actions))
}

func mkSite(t *testing.T, s *Store, orgID, niceID string, newt *core.Newt) core.Site {
	t.Helper()
	site, err := s.CreateSite(context.Background(), core.Site{
		OrgID: orgID, NiceID: niceID, Name: "site " + niceID, Type: core.SiteNewt, DockerSocketEnabled: true,
	}, newt)
	must(t, err)
	return site
}

func mkExitNode(t *testing.T, s *Store, name string) int64 {
	t.Helper()
	var id int64
	err := s.write(context.Background(), func(tx *sql.Tx) error {
		return tx.QueryRow(`INSERT INTO exit_nodes (name, address, endpoint, public_key, listen_port)
			VALUES ($1, '100.89.128.1/24', 'gerbil.example.com', 'pub-'||$1, 51820) RETURNING exit_node_id`,
			name).Scan(&id)
	})
	must(t, err)
	return id
}

// keyChanges returns the key ids logged after seq.
func keyChanges(t *testing.T, s *Store, after int64) []string {
	t.Helper()
	changes, err := s.KeyChangesAfter(context.Background(), after, 0)
	must(t, err)
	ids := []string{}
	for _, c := range changes {
		ids = append(ids, c.KeyID)
	}
	return ids
}

func newestSeq(t *testing.T, s *Store) int64 {
	t.Helper()
	_, newest, err := s.KeyChangeBounds(context.Background())
	must(t, err)
	return newest
}

func testSeedActions(t *testing.T, b backend) {
	ctx := context.Background()
	url, dir := b.newDB(t)
	s := openAt(t, url, dir)
	stored, err := queryStrings(ctx, s.reader, `SELECT action_id FROM actions ORDER BY action_id`)
	must(t, err)
	want := slices.Sorted(slices.Values(core.Actions))
	if !slices.Equal(stored, want) {
		t.Fatalf("actions table has %d ids, want the %d of core.Actions", len(stored), len(want))
	}
	mkKey(t, s, "key1", "", core.Actions...)
	must(t, s.Close())

	// Opening again applies nothing twice and keeps the grants.
	s = openAt(t, url, dir)
	if n := rowCount(t, s, `SELECT COUNT(*) FROM actions`); n != len(core.Actions) {
		t.Fatalf("after reopen: %d actions, want %d", n, len(core.Actions))
	}
	key, err := s.GetAPIKey(ctx, "key1")
	must(t, err)
	if len(key.ActionIDs) != len(core.Actions) {
		t.Fatalf("after reopen: key has %d actions, want %d", len(key.ActionIDs), len(core.Actions))
	}
	if got := keyChanges(t, s, 0); !slices.Equal(got, []string{"key1"}) {
		t.Fatalf("after reopen: key changes %v, want only the creation of key1", got)
	}
}

func testSeedRemovesStaleActions(t *testing.T, b backend) {
	ctx := context.Background()
	url, dir := b.newDB(t)
	s := openAt(t, url, dir)
	mkKey(t, s, "key1", "", "getOrg")
	mkKey(t, s, "key2", "", "getOrg")
	// An id a previous version seeded and key1 was granted.
	must(t, s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO actions (action_id) VALUES ('retiredAction')`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO api_key_actions (api_key_id, action_id) VALUES ('key1', 'retiredAction')`)
		return err
	}))
	seq := newestSeq(t, s)
	must(t, s.Close())

	s = openAt(t, url, dir)
	if n := rowCount(t, s, `SELECT COUNT(*) FROM actions`); n != len(core.Actions) {
		t.Fatalf("%d actions, want %d", n, len(core.Actions))
	}
	key, err := s.GetAPIKey(ctx, "key1")
	must(t, err)
	if !slices.Equal(key.ActionIDs, []string{"getOrg"}) {
		t.Fatalf("key1 actions %v, want [getOrg]", key.ActionIDs)
	}
	if got := keyChanges(t, s, seq); !slices.Equal(got, []string{"key1"}) {
		t.Fatalf("key changes %v, want [key1] (its grant was removed)", got)
	}
}

func testTimestamps(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	// Sub-millisecond digits and a non-UTC zone: stored as UTC with ms.
	given := time.Date(2025, 8, 1, 14, 34, 56, 789_999_999, time.FixedZone("CEST", 2*3600))
	want := time.Date(2025, 8, 1, 12, 34, 56, 789_000_000, time.UTC)
	org, err := s.CreateOrg(ctx, core.Org{ID: "acme", Name: "Acme", CreatedAt: given})
	must(t, err)
	if !org.CreatedAt.Equal(want) || org.CreatedAt.Location() != time.UTC {
		t.Fatalf("org created at %v, want %v UTC", org.CreatedAt, want)
	}
	must(t, s.CreateAPIKey(ctx, core.APIKey{ID: "key1", Name: "k", Hash: "h", LastChars: "abcd", CreatedAt: given}, "", nil))
	key, err := s.GetAPIKey(ctx, "key1")
	must(t, err)
	if key.CreatedAt != want {
		t.Fatalf("key created at %v, want %v", key.CreatedAt, want)
	}

	// A zero time is set by the store: now, UTC, at ms precision.
	before := time.Now().Add(-time.Second)
	org, err = s.CreateOrg(ctx, core.Org{ID: "other", Name: "Other"})
	must(t, err)
	if org.CreatedAt.Before(before) || org.CreatedAt.After(time.Now().Add(time.Second)) ||
		org.CreatedAt.Location() != time.UTC || org.CreatedAt.Nanosecond()%1e6 != 0 {
		t.Fatalf("store-set created at %v is not now in UTC at ms precision", org.CreatedAt)
	}
	got, err := s.GetOrg(ctx, "other")
	must(t, err)
	if got != org {
		t.Fatalf("GetOrg %+v, CreateOrg returned %+v", got, org)
	}
}

func testCreateGetOrg(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	in := core.Org{ID: "acme", Name: "Acme", Subnet: ptr("100.90.128.0/24"), UtilitySubnet: ptr("100.96.128.0/24"),
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	created, err := s.CreateOrg(ctx, in)
	must(t, err)
	got, err := s.GetOrg(ctx, "acme")
	must(t, err)
	for _, o := range []core.Org{created, got} {
		if o.ID != in.ID || o.Name != in.Name || *o.Subnet != *in.Subnet || *o.UtilitySubnet != *in.UtilitySubnet ||
			o.CreatedAt != in.CreatedAt {
			t.Fatalf("stored org %+v, want %+v", o, in)
		}
	}

	bare, err := s.CreateOrg(ctx, core.Org{ID: "bare", Name: "Bare"})
	must(t, err)
	if bare.Subnet != nil || bare.UtilitySubnet != nil {
		t.Fatalf("nil subnets came back as %v, %v", bare.Subnet, bare.UtilitySubnet)
	}

	_, err = s.CreateOrg(ctx, core.Org{ID: "acme", Name: "Again"})
	wantErr(t, err, core.CodeConflict, "Organization with ID acme already exists")
	got, err = s.GetOrg(ctx, "acme")
	must(t, err)
	if got.Name != "Acme" {
		t.Fatalf("conflicting create changed the org name to %q", got.Name)
	}

	_, err = s.GetOrg(ctx, "nope")
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
}

func testListOrgs(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	orgs, total, err := s.ListOrgs(ctx, core.Page{})
	must(t, err)
	if len(orgs) != 0 || total != 0 || orgs == nil {
		t.Fatalf("empty store: %v, total %d; want an empty non-nil list", orgs, total)
	}
	for _, id := range []string{"delta", "alpha", "charlie", "bravo", "echo"} {
		mkOrg(t, s, id)
	}
	ids := func(orgs []core.Org) []string {
		var out []string
		for _, o := range orgs {
			out = append(out, o.ID)
		}
		return out
	}
	for _, tc := range []struct {
		page core.Page
		want []string
	}{
		{core.Page{}, []string{"alpha", "bravo", "charlie", "delta", "echo"}},
		{core.Page{Limit: 2}, []string{"alpha", "bravo"}},
		{core.Page{Limit: 2, Offset: 3}, []string{"delta", "echo"}},
		{core.Page{Offset: 4}, []string{"echo"}},
		{core.Page{Limit: 10, Offset: 10}, nil},
	} {
		orgs, total, err := s.ListOrgs(ctx, tc.page)
		must(t, err)
		if !slices.Equal(ids(orgs), tc.want) || total != 5 {
			t.Errorf("ListOrgs(%+v) = %v, total %d; want %v, total 5", tc.page, ids(orgs), total, tc.want)
		}
	}
	if orgs, _, _ := s.ListOrgs(ctx, core.Page{Limit: 1}); orgs[0].Name != "Org alpha" || *orgs[0].Subnet != "100.90.128.0/24" {
		t.Errorf("listed org %+v lacks its fields", orgs[0])
	}
}

func testUpdateOrg(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	created := mkOrg(t, s, "acme")
	updated, err := s.UpdateOrg(ctx, "acme", ptr("Acme Corp"))
	must(t, err)
	want := created
	want.Name = "Acme Corp"
	if updated.Name != want.Name || updated.ID != want.ID || *updated.Subnet != *want.Subnet || updated.CreatedAt != want.CreatedAt {
		t.Fatalf("UpdateOrg returned %+v, want %+v", updated, want)
	}
	unchanged, err := s.UpdateOrg(ctx, "acme", nil)
	must(t, err)
	if unchanged.Name != "Acme Corp" {
		t.Fatalf("UpdateOrg(nil) returned name %q", unchanged.Name)
	}
	got, err := s.GetOrg(ctx, "acme")
	must(t, err)
	if got.Name != "Acme Corp" {
		t.Fatalf("stored name %q", got.Name)
	}
	_, err = s.UpdateOrg(ctx, "nope", ptr("x"))
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	_, err = s.UpdateOrg(ctx, "nope", nil)
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
}

func testDeleteOrgCascade(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "doomed")
	mkOrg(t, s, "kept")
	site1 := mkSite(t, s, "doomed", "site-one", &core.Newt{ID: "newt1", SecretHash: "h1"})
	site2 := mkSite(t, s, "doomed", "site-two", nil)
	kept := mkSite(t, s, "kept", "site-one", &core.Newt{ID: "newt2", SecretHash: "h2"})
	mkKey(t, s, "orgkey1", "doomed", "getOrg", "listSites")
	mkKey(t, s, "orgkey2", "doomed")
	mkKey(t, s, "otherkey", "kept", "getOrg")
	mkKey(t, s, "rootkey", "", "getOrg", "deleteOrg")
	// A root key linked to the org, as Pangolin 1.8 linked every root key:
	// it must lose the link only.
	must(t, s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO api_key_orgs (api_key_id, org_id) VALUES ('rootkey', 'doomed')`)
		return err
	}))
	seq := newestSeq(t, s)

	must(t, s.DeleteOrg(ctx, "doomed"))

	_, err := s.GetOrg(ctx, "doomed")
	wantErr(t, err, core.CodeNotFound, "Organization with ID doomed not found")
	for _, id := range []int64{site1.ID, site2.ID} {
		_, err := s.GetSite(ctx, id)
		wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", id))
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt1'`); n != 0 {
		t.Errorf("the deleted site's newt is still stored")
	}
	for _, id := range []string{"orgkey1", "orgkey2"} {
		_, err := s.GetAPIKey(ctx, id)
		wantErr(t, err, core.CodeNotFound, "API key not found")
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id IN ('orgkey1', 'orgkey2')`); n != 0 {
		t.Errorf("%d action grants of deleted keys remain", n)
	}
	if got := keyChanges(t, s, seq); !slices.Equal(got, []string{"orgkey1", "orgkey2"}) {
		t.Errorf("key changes %v, want [orgkey1 orgkey2]", got)
	}

	root, err := s.GetAPIKey(ctx, "rootkey")
	must(t, err)
	if !slices.Equal(root.ActionIDs, []string{"deleteOrg", "getOrg"}) || len(root.OrgIDs) != 0 {
		t.Errorf("root key after delete: actions %v orgs %v", root.ActionIDs, root.OrgIDs)
	}
	other, err := s.GetAPIKey(ctx, "otherkey")
	must(t, err)
	if !slices.Equal(other.OrgIDs, []string{"kept"}) || !slices.Equal(other.ActionIDs, []string{"getOrg"}) {
		t.Errorf("other org's key changed: %+v", other)
	}
	got, err := s.GetSite(ctx, kept.ID)
	must(t, err)
	if got.NiceID != "site-one" || rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt2'`) != 1 {
		t.Errorf("other org's site or newt changed")
	}

	seq = newestSeq(t, s)
	wantErr(t, s.DeleteOrg(ctx, "doomed"), core.CodeNotFound, "Organization with ID doomed not found")
	if got := keyChanges(t, s, seq); len(got) != 0 {
		t.Errorf("a refused delete logged key changes %v", got)
	}
}

func testCreateGetAPIKey(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	created := time.Date(2025, 8, 1, 12, 34, 56, 789e6, time.UTC)
	must(t, s.CreateAPIKey(ctx, core.APIKey{
		ID: "rootkey", Name: "Root", Hash: "$argon2id$v=19$root", LastChars: "wxyz", CreatedAt: created,
	}, "", []string{"listOrgs", "createOrg", "listOrgs"}))
	must(t, s.CreateAPIKey(ctx, core.APIKey{
		ID: "orgkey", Name: "Org", Hash: "$argon2id$v=19$org", LastChars: "abcd", CreatedAt: created,
		IsRoot: true, // ignored: an org key is never root
	}, "acme", nil))

	root, err := s.GetAPIKey(ctx, "rootkey")
	must(t, err)
	want := core.APIKey{ID: "rootkey", Name: "Root", Hash: "$argon2id$v=19$root", LastChars: "wxyz", IsRoot: true,
		CreatedAt: created, OrgIDs: []string{}, ActionIDs: []string{"createOrg", "listOrgs"}}
	if !keysEqual(root, want) {
		t.Fatalf("root key %+v, want %+v", root, want)
	}
	org, err := s.GetAPIKey(ctx, "orgkey")
	must(t, err)
	want = core.APIKey{ID: "orgkey", Name: "Org", Hash: "$argon2id$v=19$org", LastChars: "abcd", IsRoot: false,
		CreatedAt: created, OrgIDs: []string{"acme"}, ActionIDs: []string{}}
	if !keysEqual(org, want) {
		t.Fatalf("org key %+v, want %+v", org, want)
	}

	_, err = s.GetAPIKey(ctx, "nope")
	wantErr(t, err, core.CodeNotFound, "API key not found")

	// The scope read on every core call agrees with GetAPIKey.
	for _, k := range []core.APIKey{root, org} {
		isRoot, orgs, err := s.APIKeyScope(ctx, k.ID)
		must(t, err)
		if isRoot != k.IsRoot || !slices.Equal(orgs, k.OrgIDs) {
			t.Fatalf("APIKeyScope(%s) = %v %v, want %v %v", k.ID, isRoot, orgs, k.IsRoot, k.OrgIDs)
		}
	}
	_, _, err = s.APIKeyScope(ctx, "nope")
	wantErr(t, err, core.CodeNotFound, "API key not found")
}

func keysEqual(a, b core.APIKey) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Hash == b.Hash && a.LastChars == b.LastChars &&
		a.IsRoot == b.IsRoot && a.CreatedAt.Equal(b.CreatedAt) &&
		slices.Equal(a.OrgIDs, b.OrgIDs) && slices.Equal(a.ActionIDs, b.ActionIDs)
}

func testCreateAPIKeyRefused(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "taken", "acme", "getOrg")
	seq := newestSeq(t, s)
	key := core.APIKey{ID: "newkey", Name: "k", Hash: "h", LastChars: "abcd"}

	wantErr(t, s.CreateAPIKey(ctx, key, "nope", nil), core.CodeNotFound, "Organization with ID nope not found")
	wantErr(t, s.CreateAPIKey(ctx, key, "acme", []string{"getOrg", "noSuchAction"}),
		core.CodeInvalid, "One or more actions do not exist")
	wantErr(t, s.CreateAPIKey(ctx, key, "", []string{"noSuchAction"}),
		core.CodeInvalid, "One or more actions do not exist")
	_, err := s.GetAPIKey(ctx, "newkey")
	wantErr(t, err, core.CodeNotFound, "API key not found")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id = 'newkey'`); n != 0 {
		t.Fatalf("refused key left %d grants", n)
	}

	dup := key
	dup.ID = "taken"
	dup.Name = "replacement"
	wantErr(t, s.CreateAPIKey(ctx, dup, "", []string{"listOrgs"}), core.CodeConflict, "API key with ID taken already exists")
	got, err := s.GetAPIKey(ctx, "taken")
	must(t, err)
	if got.Name != "key taken" || !slices.Equal(got.ActionIDs, []string{"getOrg"}) || got.IsRoot {
		t.Fatalf("conflicting create changed the key: %+v", got)
	}
	if got := keyChanges(t, s, seq); len(got) != 0 {
		t.Fatalf("refused creates logged key changes %v", got)
	}
}

func testListAPIKeys(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	keys, err := s.ListAPIKeys(ctx)
	must(t, err)
	if keys == nil || len(keys) != 0 {
		t.Fatalf("empty store: %v, want an empty non-nil list", keys)
	}
	mkOrg(t, s, "acme")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, k := range []struct {
		id, org string
		at      time.Time
	}{
		{"k3", "", t0.Add(time.Hour)},
		{"k2", "acme", t0},
		{"k1", "", t0},
		{"k0", "acme", t0.Add(2 * time.Hour)},
	} {
		must(t, s.CreateAPIKey(ctx, core.APIKey{ID: k.id, Name: k.id, Hash: "h", LastChars: "abcd", CreatedAt: k.at},
			k.org, []string{"getOrg"}))
	}
	keys, err = s.ListAPIKeys(ctx)
	must(t, err)
	var got []string
	for _, k := range keys {
		got = append(got, fmt.Sprintf("%s root=%v orgs=%v", k.ID, k.IsRoot, k.OrgIDs))
	}
	want := []string{"k1 root=true orgs=[]", "k2 root=false orgs=[acme]", "k3 root=true orgs=[]", "k0 root=false orgs=[acme]"}
	if !slices.Equal(got, want) {
		t.Fatalf("ListAPIKeys:\n got %q\nwant %q", got, want)
	}
	if keys[0].Hash != "h" || keys[0].LastChars != "abcd" || keys[0].Name != "k1" || !keys[0].CreatedAt.Equal(t0) {
		t.Fatalf("listed key lacks fields: %+v", keys[0])
	}
}

func testListOrgAPIKeys(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"e", "d", "c", "b", "a"} {
		must(t, s.CreateAPIKey(ctx, core.APIKey{ID: id, Name: id, Hash: "h", LastChars: "abcd",
			CreatedAt: t0.Add(time.Duration(i/2) * time.Minute)}, "acme", nil))
	}
	mkKey(t, s, "otherkey", "other")
	mkKey(t, s, "rootkey", "")
	// A root key linked to the org (Pangolin 1.8 data) is still not listed.
	must(t, s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO api_key_orgs (api_key_id, org_id) VALUES ('rootkey', 'acme')`)
		return err
	}))

	// Created at: e, d at t0; c, b at t0+1m; a at t0+2m.
	all := []string{"d", "e", "b", "c", "a"}
	for _, tc := range []struct {
		page core.Page
		want []string
	}{
		{core.Page{}, all},
		{core.Page{Limit: 2}, all[:2]},
		{core.Page{Limit: 2, Offset: 2}, all[2:4]},
		{core.Page{Limit: 5, Offset: 4}, all[4:]},
		{core.Page{Offset: 7}, nil},
	} {
		keys, total, err := s.ListOrgAPIKeys(ctx, "acme", tc.page)
		must(t, err)
		var got []string
		for _, k := range keys {
			got = append(got, k.ID)
			if k.IsRoot || !slices.Equal(k.OrgIDs, []string{"acme"}) {
				t.Errorf("listed key %+v", k)
			}
		}
		if !slices.Equal(got, tc.want) || total != 5 {
			t.Errorf("ListOrgAPIKeys(%+v) = %v total %d, want %v total 5", tc.page, got, total, tc.want)
		}
	}
	keys, total, err := s.ListOrgAPIKeys(ctx, "nope", core.Page{})
	must(t, err)
	if len(keys) != 0 || keys == nil || total != 0 {
		t.Errorf("unknown org: %v total %d, want an empty non-nil list", keys, total)
	}
}

func testDeleteAPIKey(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "gone", "acme", "getOrg", "listSites")
	mkKey(t, s, "kept", "acme", "getOrg")
	seq := newestSeq(t, s)

	must(t, s.DeleteAPIKey(ctx, "gone"))
	_, err := s.GetAPIKey(ctx, "gone")
	wantErr(t, err, core.CodeNotFound, "API key not found")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id = 'gone'`) +
		rowCount(t, s, `SELECT COUNT(*) FROM api_key_orgs WHERE api_key_id = 'gone'`); n != 0 {
		t.Fatalf("%d grants or org links of the deleted key remain", n)
	}
	if _, err := s.GetAPIKey(ctx, "kept"); err != nil {
		t.Fatalf("the other key: %v", err)
	}
	if got := keyChanges(t, s, seq); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("key changes %v, want [gone]", got)
	}

	wantErr(t, s.DeleteAPIKey(ctx, "gone"), core.CodeNotFound, "API key not found")
	if got := keyChanges(t, s, seq); len(got) != 1 {
		t.Fatalf("a refused delete was logged: %v", got)
	}
}

func testSetAPIKeyActions(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "key1", "acme", "getOrg", "listSites")
	mkKey(t, s, "key2", "acme", "getOrg")
	actions := func(id string) []string {
		k, err := s.GetAPIKey(ctx, id)
		must(t, err)
		return k.ActionIDs
	}

	seq := newestSeq(t, s)
	must(t, s.SetAPIKeyActions(ctx, "key1", []string{"updateSite", "getSite", "updateSite", "getOrg"}))
	if got := actions("key1"); !slices.Equal(got, []string{"getOrg", "getSite", "updateSite"}) {
		t.Fatalf("after set: %v", got)
	}
	if got := keyChanges(t, s, seq); !slices.Equal(got, []string{"key1"}) {
		t.Fatalf("key changes %v, want [key1]", got)
	}

	seq = newestSeq(t, s)
	wantErr(t, s.SetAPIKeyActions(ctx, "key1", []string{"listSites", "noSuchAction"}),
		core.CodeInvalid, "One or more actions do not exist")
	if got := actions("key1"); !slices.Equal(got, []string{"getOrg", "getSite", "updateSite"}) {
		t.Fatalf("a refused set changed the actions to %v", got)
	}
	wantErr(t, s.SetAPIKeyActions(ctx, "nope", []string{"getOrg"}), core.CodeNotFound, "API key not found")
	if got := keyChanges(t, s, seq); len(got) != 0 {
		t.Fatalf("refused sets logged %v", got)
	}

	must(t, s.SetAPIKeyActions(ctx, "key1", []string{}))
	if got := actions("key1"); len(got) != 0 {
		t.Fatalf("an empty set left %v", got)
	}
	if got := actions("key2"); !slices.Equal(got, []string{"getOrg"}) {
		t.Fatalf("the other key's actions changed to %v", got)
	}
}

func testListAPIKeyActions(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkKey(t, s, "key1", "", "updateSite", "getOrg", "listSites", "createSite")
	mkKey(t, s, "empty", "")
	all := []string{"createSite", "getOrg", "listSites", "updateSite"}
	for _, tc := range []struct {
		page core.Page
		want []string
	}{
		{core.Page{}, all},
		{core.Page{Limit: 3}, all[:3]},
		{core.Page{Limit: 2, Offset: 1}, all[1:3]},
		{core.Page{Offset: 3}, all[3:]},
		{core.Page{Limit: 1, Offset: 9}, []string{}},
	} {
		ids, total, err := s.ListAPIKeyActions(ctx, "key1", tc.page)
		must(t, err)
		if !slices.Equal(ids, tc.want) || total != 4 {
			t.Errorf("ListAPIKeyActions(%+v) = %v total %d, want %v total 4", tc.page, ids, total, tc.want)
		}
	}
	ids, total, err := s.ListAPIKeyActions(ctx, "empty", core.Page{})
	must(t, err)
	if ids == nil || len(ids) != 0 || total != 0 {
		t.Errorf("key without actions: %v total %d", ids, total)
	}
	_, _, err = s.ListAPIKeyActions(ctx, "nope", core.Page{})
	wantErr(t, err, core.CodeNotFound, "API key not found")
}

func testCountRootKeys(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	n, err := s.CountRootKeys(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("empty store: %d root keys", n)
	}
	mkOrg(t, s, "acme")
	mkKey(t, s, "root1", "")
	mkKey(t, s, "root2", "", "getOrg")
	mkKey(t, s, "org1", "acme")
	n, err = s.CountRootKeys(ctx)
	must(t, err)
	if n != 2 {
		t.Fatalf("%d root keys, want 2", n)
	}
	must(t, s.DeleteAPIKey(ctx, "root1"))
	if n, _ := s.CountRootKeys(ctx); n != 1 {
		t.Fatalf("after delete: %d root keys, want 1", n)
	}
}

func testKeyChangeLog(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	oldest, newest, err := s.KeyChangeBounds(ctx)
	must(t, err)
	if oldest != 0 || newest != 0 {
		t.Fatalf("empty log bounds (%d, %d), want (0, 0)", oldest, newest)
	}
	changes, err := s.KeyChangesAfter(ctx, 0, 10)
	must(t, err)
	if changes == nil || len(changes) != 0 {
		t.Fatalf("empty log: %v, want an empty non-nil list", changes)
	}

	// Every key write appends exactly one entry; other writes none.
	mkOrg(t, s, "acme")
	mkKey(t, s, "a", "")
	mkKey(t, s, "b", "acme")
	mkSite(t, s, "acme", "site", nil)
	must(t, s.SetAPIKeyActions(ctx, "b", []string{"getOrg"}))
	must(t, s.DeleteAPIKey(ctx, "a"))
	_, err = s.UpdateOrg(ctx, "acme", ptr("renamed"))
	must(t, err)

	changes, err = s.KeyChangesAfter(ctx, 0, 0)
	must(t, err)
	var ids []string
	for i, c := range changes {
		ids = append(ids, c.KeyID)
		if i > 0 && c.Seq <= changes[i-1].Seq {
			t.Fatalf("seqs not ascending: %+v", changes)
		}
	}
	if !slices.Equal(ids, []string{"a", "b", "b", "a"}) {
		t.Fatalf("logged %v, want [a b b a] (create a, create b, set b, delete a)", ids)
	}
	oldest, newest, err = s.KeyChangeBounds(ctx)
	must(t, err)
	if oldest != changes[0].Seq || newest != changes[3].Seq {
		t.Fatalf("bounds (%d, %d), want (%d, %d)", oldest, newest, changes[0].Seq, changes[3].Seq)
	}

	after, err := s.KeyChangesAfter(ctx, changes[0].Seq, 2)
	must(t, err)
	if !slices.Equal(after, changes[1:3]) {
		t.Fatalf("KeyChangesAfter(%d, 2) = %+v, want %+v", changes[0].Seq, after, changes[1:3])
	}
	after, err = s.KeyChangesAfter(ctx, newest, 5)
	must(t, err)
	if len(after) != 0 {
		t.Fatalf("changes after the newest: %+v", after)
	}
}

func testPruneKeyChanges(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	// Log entries with chosen times, written as logKeyChanges does.
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"old1", "old2", "new1"} {
		must(t, s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO key_changes (api_key_id, changed_at) VALUES ($1, $2)`,
				id, formatTime(t0.Add(time.Duration(i)*time.Hour)))
			return err
		}))
	}
	_, newest, err := s.KeyChangeBounds(ctx)
	must(t, err)

	must(t, s.PruneKeyChanges(ctx, t0.Add(90*time.Minute)))
	if got := keyChanges(t, s, 0); !slices.Equal(got, []string{"new1"}) {
		t.Fatalf("after prune: %v, want [new1]", got)
	}
	oldest, _, err := s.KeyChangeBounds(ctx)
	must(t, err)
	if oldest != newest {
		t.Fatalf("oldest seq %d, want %d", oldest, newest)
	}

	// Emptying the log never resets the sequence: a gateway that saw seq
	// N must not miss a later change numbered N or less.
	must(t, s.PruneKeyChanges(ctx, time.Now().Add(time.Hour)))
	if o, n, _ := s.KeyChangeBounds(ctx); o != 0 || n != 0 {
		t.Fatalf("bounds of the pruned log (%d, %d)", o, n)
	}
	mkKey(t, s, "later", "")
	changes, err := s.KeyChangesAfter(ctx, newest, 0)
	must(t, err)
	if len(changes) != 1 || changes[0].KeyID != "later" || changes[0].Seq <= newest {
		t.Fatalf("after emptying the log: %+v, want one entry with seq > %d", changes, newest)
	}
}

func testCreateGetSite(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	exitNode := mkExitNode(t, s, "gerbil")
	in := core.Site{
		OrgID: "acme", NiceID: "happy-otter", ExitNodeID: &exitNode, Name: "HQ",
		PubKey: ptr("pubkey="), Subnet: ptr("100.89.128.4/30"), MegabytesIn: 1.5, MegabytesOut: 2.25,
		LastBandwidthUpdate: ptr("2025-08-01T00:00:00.000Z"), Type: core.SiteWireGuard, Online: true,
		Address: ptr("100.90.128.2/24"), Endpoint: ptr("203.0.113.7:51820"), PublicKey: ptr("peerkey="),
		LastHolePunch: ptr(int64(1754006400000)), ListenPort: ptr(int32(51820)), DockerSocketEnabled: false,
		RemoteSubnets: ptr("10.0.0.0/8,192.168.1.0/24"), OrgName: "ignored", NewtVersion: ptr("ignored"),
	}
	created, err := s.CreateSite(ctx, in, nil)
	must(t, err)
	if created.ID <= 0 {
		t.Fatalf("site id %d", created.ID)
	}
	want := in
	want.ID, want.OrgName, want.NewtVersion = created.ID, "Org acme", nil
	got, err := s.GetSite(ctx, created.ID)
	must(t, err)
	byNice, err := s.GetSiteByNiceID(ctx, "acme", "happy-otter")
	must(t, err)
	for name, site := range map[string]core.Site{"CreateSite": created, "GetSite": got, "GetSiteByNiceID": byNice} {
		if d := siteDiff(site, want); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}

	// A minimal newt site: nulls stay null, booleans keep their values,
	// the newt credential is stored with the new site's id.
	createdAt := time.Date(2025, 8, 2, 0, 0, 0, 0, time.UTC)
	newtSite, err := s.CreateSite(ctx, core.Site{OrgID: "acme", NiceID: "calm-lynx", Name: "edge", Type: core.SiteNewt,
		DockerSocketEnabled: true}, &core.Newt{ID: "newt123", SecretHash: "$argon2id$newt", CreatedAt: createdAt, SiteID: 999})
	must(t, err)
	want = core.Site{ID: newtSite.ID, OrgID: "acme", NiceID: "calm-lynx", Name: "edge", Type: core.SiteNewt,
		DockerSocketEnabled: true, OrgName: "Org acme"}
	if d := siteDiff(newtSite, want); d != "" {
		t.Errorf("newt site: %s", d)
	}
	var newt core.Newt
	err = s.reader.QueryRow(`SELECT newt_id, secret_hash, site_id, created_at FROM newts`).
		Scan(&newt.ID, &newt.SecretHash, &newt.SiteID, timestamp{&newt.CreatedAt})
	must(t, err)
	if newt != (core.Newt{ID: "newt123", SecretHash: "$argon2id$newt", SiteID: newtSite.ID, CreatedAt: createdAt}) {
		t.Errorf("stored newt %+v", newt)
	}

	// The version the newt reports shows on the site.
	must(t, s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE newts SET version = '1.4.2' WHERE newt_id = 'newt123'`)
		return err
	}))
	got, err = s.GetSite(ctx, newtSite.ID)
	must(t, err)
	if got.NewtVersion == nil || *got.NewtVersion != "1.4.2" {
		t.Errorf("newt version %v, want 1.4.2", got.NewtVersion)
	}

	_, err = s.GetSite(ctx, 424242)
	wantErr(t, err, core.CodeNotFound, "Site with ID 424242 not found")
	_, err = s.GetSiteByNiceID(ctx, "acme", "no-such")
	wantErr(t, err, core.CodeNotFound, "Site with niceId no-such not found")
	_, err = s.GetSiteByNiceID(ctx, "other", "happy-otter")
	wantErr(t, err, core.CodeNotFound, "Site with niceId happy-otter not found")
}

// siteDiff describes how got differs from want, "" when equal.
func siteDiff(got, want core.Site) string {
	g, w := fmt.Sprintf("%+v", derefSite(got)), fmt.Sprintf("%+v", derefSite(want))
	if g != w {
		return fmt.Sprintf("\n got %s\nwant %s", g, w)
	}
	return ""
}

// derefSite renders a site's pointer fields as values (or nil) so two
// sites can be compared by their text.
func derefSite(s core.Site) []any {
	v := func(p any) any {
		switch p := p.(type) {
		case *string:
			if p != nil {
				return *p
			}
		case *int64:
			if p != nil {
				return *p
			}
		case *int32:
			if p != nil {
				return *p
			}
		}
		return nil
	}
	return []any{s.ID, s.OrgID, s.NiceID, v(s.ExitNodeID), s.Name, v(s.PubKey), v(s.Subnet), s.MegabytesIn,
		s.MegabytesOut, v(s.LastBandwidthUpdate), s.Type, s.Online, v(s.Address), v(s.Endpoint), v(s.PublicKey),
		v(s.LastHolePunch), v(s.ListenPort), s.DockerSocketEnabled, v(s.RemoteSubnets), s.OrgName, v(s.NewtVersion)}
}

func testCreateSiteRefused(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	first, err := s.CreateSite(ctx, core.Site{OrgID: "acme", NiceID: "taken", Name: "a", Type: core.SiteNewt,
		Address: ptr("100.90.128.2/24")}, &core.Newt{ID: "newt1", SecretHash: "h"})
	must(t, err)

	site := core.Site{OrgID: "acme", NiceID: "taken", Name: "b", Type: core.SiteNewt}
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeConflict, "A site with niceId taken already exists in this organization")

	site.NiceID, site.Address = "fresh", ptr("100.90.128.2/24")
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeConflict, "Address 100.90.128.2/24 is already in use in this organization")

	site.Address = nil
	_, err = s.CreateSite(ctx, site, &core.Newt{ID: "newt1", SecretHash: "h"})
	wantErr(t, err, core.CodeConflict, "Newt with ID newt1 already exists")
	_, err = s.GetSiteByNiceID(ctx, "acme", "fresh")
	wantErr(t, err, core.CodeNotFound, "Site with niceId fresh not found") // no half-created site

	site.OrgID = "nope"
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")

	site.OrgID, site.ExitNodeID = "acme", ptr(int64(77))
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeNotFound, "Exit node not found")

	// niceId and address are unique per org only.
	other, err := s.CreateSite(ctx, core.Site{OrgID: "other", NiceID: "taken", Name: "c", Type: core.SiteLocal,
		Address: ptr("100.90.128.2/24")}, nil)
	must(t, err)
	if other.ID == first.ID || other.OrgName != "Org other" {
		t.Fatalf("site in the other org: %+v", other)
	}
	// Sites without an address do not conflict with each other.
	for _, nice := range []string{"no-addr-1", "no-addr-2"} {
		mkSite(t, s, "acme", nice, nil)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM sites`); n != 4 {
		t.Fatalf("%d sites stored, want 4", n)
	}
}

func testListSites(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	var ids []int64
	for i, nice := range []string{"zeta", "alpha", "mid", "beta"} {
		var newt *core.Newt
		if i == 1 {
			newt = &core.Newt{ID: "newt-alpha", SecretHash: "h"}
		}
		ids = append(ids, mkSite(t, s, "acme", nice, newt).ID)
		mkSite(t, s, "other", nice, nil)
	}
	must(t, s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE newts SET version = '1.2.0' WHERE newt_id = 'newt-alpha'`)
		return err
	}))

	for _, tc := range []struct {
		page core.Page
		want []int64
	}{
		{core.Page{}, ids},
		{core.Page{Limit: 2}, ids[:2]},
		{core.Page{Limit: 2, Offset: 1}, ids[1:3]},
		{core.Page{Offset: 3}, ids[3:]},
		{core.Page{Limit: 3, Offset: 4}, nil},
	} {
		sites, total, err := s.ListSites(ctx, "acme", tc.page)
		must(t, err)
		var got []int64
		for _, st := range sites {
			got = append(got, st.ID)
			if st.OrgID != "acme" || st.OrgName != "Org acme" {
				t.Errorf("listed site %+v", st)
			}
		}
		if !slices.Equal(got, tc.want) || total != 4 {
			t.Errorf("ListSites(%+v) = %v total %d, want %v total 4", tc.page, got, total, tc.want)
		}
	}
	sites, _, err := s.ListSites(ctx, "acme", core.Page{Limit: 2})
	must(t, err)
	if sites[0].NewtVersion != nil || sites[1].NewtVersion == nil || *sites[1].NewtVersion != "1.2.0" {
		t.Errorf("newt versions %v, %v; want nil, 1.2.0", sites[0].NewtVersion, sites[1].NewtVersion)
	}
	sites, total, err := s.ListSites(ctx, "nope", core.Page{})
	must(t, err)
	if sites == nil || len(sites) != 0 || total != 0 {
		t.Errorf("unknown org: %v total %d", sites, total)
	}
}

func testUpdateSite(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	site := mkSite(t, s, "acme", "first", nil)
	mkSite(t, s, "acme", "second", nil)
	mkSite(t, s, "other", "elsewhere", nil)

	updated, err := s.UpdateSite(ctx, site.ID, core.SiteUpdate{Name: ptr("Renamed"), DockerSocketEnabled: ptr(false)})
	must(t, err)
	want := site
	want.Name, want.DockerSocketEnabled = "Renamed", false
	if d := siteDiff(updated, want); d != "" {
		t.Fatalf("after update: %s", d)
	}

	updated, err = s.UpdateSite(ctx, site.ID, core.SiteUpdate{NiceID: ptr("elsewhere"), RemoteSubnets: ptr("10.0.0.0/8")})
	must(t, err)
	want.NiceID, want.RemoteSubnets = "elsewhere", ptr("10.0.0.0/8")
	if d := siteDiff(updated, want); d != "" {
		t.Fatalf("after update: %s", d)
	}
	got, err := s.GetSite(ctx, site.ID)
	must(t, err)
	if d := siteDiff(got, want); d != "" {
		t.Fatalf("stored: %s", d)
	}

	// Setting a site's own niceId again is no conflict; an empty update
	// reads the site back.
	updated, err = s.UpdateSite(ctx, site.ID, core.SiteUpdate{NiceID: ptr("elsewhere")})
	must(t, err)
	if d := siteDiff(updated, want); d != "" {
		t.Fatalf("same niceId: %s", d)
	}
	updated, err = s.UpdateSite(ctx, site.ID, core.SiteUpdate{})
	must(t, err)
	if d := siteDiff(updated, want); d != "" {
		t.Fatalf("empty update: %s", d)
	}

	_, err = s.UpdateSite(ctx, site.ID, core.SiteUpdate{NiceID: ptr("second"), Name: ptr("lost")})
	wantErr(t, err, core.CodeConflict, "A site with niceId second already exists in this organization")
	got, err = s.GetSite(ctx, site.ID)
	must(t, err)
	if d := siteDiff(got, want); d != "" {
		t.Fatalf("a refused update changed the site: %s", d)
	}

	_, err = s.UpdateSite(ctx, 424242, core.SiteUpdate{Name: ptr("x")})
	wantErr(t, err, core.CodeNotFound, "Site with ID 424242 not found")
}

func testDeleteSite(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	gone := mkSite(t, s, "acme", "gone", &core.Newt{ID: "newt-gone", SecretHash: "h"})
	kept := mkSite(t, s, "acme", "kept", &core.Newt{ID: "newt-kept", SecretHash: "h"})

	must(t, s.DeleteSite(ctx, gone.ID))
	_, err := s.GetSite(ctx, gone.ID)
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", gone.ID))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt-gone'`); n != 0 {
		t.Fatalf("the deleted site's newt remains")
	}
	if _, err := s.GetSite(ctx, kept.ID); err != nil {
		t.Fatalf("the other site: %v", err)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt-kept'`); n != 1 {
		t.Fatalf("the other site's newt is gone")
	}
	wantErr(t, s.DeleteSite(ctx, gone.ID), core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", gone.ID))

	// Ids of deleted sites are not handed out again.
	again := mkSite(t, s, "acme", "gone", nil)
	if again.ID <= kept.ID {
		t.Fatalf("new site id %d reuses or precedes %d", again.ID, kept.ID)
	}
}

func testAddressesAndExitNodes(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")

	first, err := s.FirstExitNode(ctx)
	must(t, err)
	if first != nil {
		t.Fatalf("no exit nodes, got %+v", first)
	}
	id1 := mkExitNode(t, s, "one")
	id2 := mkExitNode(t, s, "two")
	first, err = s.FirstExitNode(ctx)
	must(t, err)
	want := core.ExitNode{ID: id1, Name: "one", Address: "100.89.128.1/24", Endpoint: "gerbil.example.com",
		PublicKey: "pub-one", ListenPort: 51820}
	if first == nil || *first != want {
		t.Fatalf("FirstExitNode = %+v, want %+v", first, want)
	}
	node, err := s.GetExitNode(ctx, id2)
	must(t, err)
	if node.ID != id2 || node.Name != "two" {
		t.Fatalf("GetExitNode(%d) = %+v", id2, node)
	}
	_, err = s.GetExitNode(ctx, 999)
	wantErr(t, err, core.CodeNotFound, "Exit node not found")

	for _, site := range []core.Site{
		{OrgID: "acme", NiceID: "a", Address: ptr("100.90.128.3/24"), ExitNodeID: &id1, Subnet: ptr("100.89.128.4/30")},
		{OrgID: "acme", NiceID: "b", ExitNodeID: &id1, Subnet: ptr("100.89.128.8/30")},
		{OrgID: "acme", NiceID: "c", Address: ptr("100.90.128.2/24"), ExitNodeID: &id1},
		{OrgID: "other", NiceID: "d", Address: ptr("100.90.128.9/24"), ExitNodeID: &id2, Subnet: ptr("100.89.128.12/30")},
	} {
		site.Name, site.Type = site.NiceID, core.SiteWireGuard
		_, err := s.CreateSite(ctx, site, nil)
		must(t, err)
	}
	addrs, err := s.OrgAddresses(ctx, "acme")
	must(t, err)
	if !slices.Equal(addrs, []string{"100.90.128.3/24", "100.90.128.2/24"}) {
		t.Errorf("OrgAddresses = %v", addrs)
	}
	subnets, err := s.ExitNodeSubnets(ctx, id1)
	must(t, err)
	if !slices.Equal(subnets, []string{"100.89.128.4/30", "100.89.128.8/30"}) {
		t.Errorf("ExitNodeSubnets = %v", subnets)
	}
	if addrs, err := s.OrgAddresses(ctx, "nope"); err != nil || addrs == nil || len(addrs) != 0 {
		t.Errorf("OrgAddresses of an unknown org = %v, %v", addrs, err)
	}
}

// testConcurrentWriters runs writers in parallel: with the store's write
// serialisation none of them may fail (SQLITE_BUSY would), and -race
// checks the store's own state.
func testConcurrentWriters(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Go(func() {
			_, err := s.CreateSite(ctx, core.Site{OrgID: "acme", NiceID: fmt.Sprintf("site-%d", i), Name: "s",
				Type: core.SiteNewt, Address: ptr(fmt.Sprintf("100.90.128.%d/24", i+2))},
				&core.Newt{ID: fmt.Sprintf("newt-%d", i), SecretHash: "h"})
			errs <- err
		})
		wg.Go(func() {
			errs <- s.CreateAPIKey(ctx, core.APIKey{ID: fmt.Sprintf("key-%d", i), Name: "k", Hash: "h", LastChars: "abcd"},
				"acme", []string{"getOrg", "listSites"})
		})
		wg.Go(func() {
			_, _, err := s.ListSites(ctx, "acme", core.Page{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
	if _, total, _ := s.ListSites(ctx, "acme", core.Page{}); total != n {
		t.Errorf("%d sites, want %d", total, n)
	}
	if _, total, _ := s.ListOrgAPIKeys(ctx, "acme", core.Page{}); total != n {
		t.Errorf("%d keys, want %d", total, n)
	}
	if got := keyChanges(t, s, 0); len(got) != n {
		t.Errorf("%d key changes logged, want %d", len(got), n)
	}
}

// testConcurrentConflicts races creators of the same niceId, address and
// key id: exactly one wins and the others get the conflict, never an
// internal error (on PostgreSQL the unique index decides the race).
func testConcurrentConflicts(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	const n = 10
	race := func(name string, create func(i int) error, wantMsg string) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() { errs <- create(i) })
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case core.ErrorCode(err) != core.CodeConflict || err.Error() != wantMsg:
				t.Errorf("%s: got %v, want conflict %q", name, err, wantMsg)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d creators succeeded, want 1", name, won)
		}
	}
	race("niceId", func(i int) error {
		_, err := s.CreateSite(ctx, core.Site{OrgID: "acme", NiceID: "same", Name: "s", Type: core.SiteLocal}, nil)
		return err
	}, "A site with niceId same already exists in this organization")
	race("address", func(i int) error {
		_, err := s.CreateSite(ctx, core.Site{OrgID: "acme", NiceID: fmt.Sprintf("addr-%d", i), Name: "s",
			Type: core.SiteLocal, Address: ptr("100.90.128.5/24")}, nil)
		return err
	}, "Address 100.90.128.5/24 is already in use in this organization")
	race("key id", func(i int) error {
		return s.CreateAPIKey(ctx, core.APIKey{ID: "samekey", Name: "k", Hash: "h", LastChars: "abcd"}, "", nil)
	}, "API key with ID samekey already exists")
	race("org id", func(i int) error {
		_, err := s.CreateOrg(ctx, core.Org{ID: "sameorg", Name: "o"})
		return err
	}, "Organization with ID sameorg already exists")
}

func testClosedStore(t *testing.T, b backend) {
	s := openStore(t, b)
	must(t, s.Close())
	_, err := s.GetOrg(context.Background(), "acme")
	if err == nil || core.ErrorCode(err) != core.CodeInternal {
		t.Fatalf("read on a closed store: %v, want an internal error", err)
	}
}
