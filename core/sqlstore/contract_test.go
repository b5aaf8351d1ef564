package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
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
	{"TablesMatchSchema", testTablesMatchSchema},
	{"CreateGetOrg", testCreateGetOrg},
	{"ListOrgs", testListOrgs},
	{"UpdateOrg", testUpdateOrg},
	{"DeleteOrgCascade", testDeleteOrgCascade},
	{"CreateKeyAndPrincipal", testCreateKeyAndPrincipal},
	{"CreateKeyRefused", testCreateKeyRefused},
	{"KeyExpiry", testKeyExpiry},
	{"KeyLimits", testKeyLimits},
	{"RollKey", testRollKey},
	{"TouchKeys", testTouchKeys},
	{"ListKeys", testListKeys},
	{"ListOrgKeys", testListOrgKeys},
	{"DeleteKey", testDeleteKey},
	{"SetKeyActions", testSetKeyActions},
	{"ListKeyActions", testListKeyActions},
	{"CountRootKeys", testCountRootKeys},
	{"KeyChangeLog", testKeyChangeLog},
	{"KeyChangesAnnounced", testKeyChangesAnnounced},
	{"PruneKeyChanges", testPruneKeyChanges},
	{"CreateGetSite", testCreateGetSite},
	{"CreateSiteRefused", testCreateSiteRefused},
	{"ListSites", testListSites},
	{"UpdateSite", testUpdateSite},
	{"DeleteSite", testDeleteSite},
	{"ResetBandwidth", testResetBandwidth},
	{"AddressesAndExitNodes", testAddressesAndExitNodes},
	{"OrgRoles", testOrgRoles},
	{"CreateGetResource", testCreateGetResource},
	{"ResourceCascades", testResourceCascades},
	{"ListResources", testListResources},
	{"UpdateResource", testUpdateResource},
	{"DeleteAndTransferResource", testDeleteAndTransferResource},
	{"Targets", testTargets},
	{"Rules", testRules},
	{"OrgDomains", testOrgDomains},
	{"SyncConfigDomains", testSyncConfigDomains},
	{"ResourceAuthSecrets", testResourceAuthSecrets},
	{"ConcurrentAuthWriters", testConcurrentAuthWriters},
	{"ResourceWhitelist", testResourceWhitelist},
	{"ResourceRoles", testResourceRoles},
	{"ResourceUsers", testResourceUsers},
	{"AccessTokens", testAccessTokens},
	{"Roles", testRoles},
	{"MemberRoles", testMemberRoles},
	{"OrgUsers", testOrgUsers},
	{"Invitations", testInvitations},
	{"Idps", testIdps},
	{"ConcurrentPeople", testConcurrentPeople},
	{"AccessTablesMatchSchema", testAccessTablesMatchSchema},
	{"Clients", testClients},
	{"ClientAddressesUnderConcurrency", testClientAddressesUnderConcurrency},
	{"SiteResources", testSiteResources},
	{"SiteResourceGrants", testSiteResourceGrants},
	{"ConcurrentWriters", testConcurrentWriters},
	{"ConcurrentConflicts", testConcurrentConflicts},
	{"ClosedStore", testClosedStore},
	{"AuditWithChange", testAuditWithChange},
	{"AuditListAndPrune", testAuditListAndPrune},
	{"IdempotencyClaims", testIdempotencyClaims},
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

// wantMsg fails unless got equals want, field for field.
func wantMsg(t *testing.T, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, prototext.Format(got), prototext.Format(want))
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
	return int(n)
}

func ptr[T any](v T) *T { return &v }

func page(limit, offset int32) *corev1.Page { return &corev1.Page{Limit: limit, Offset: offset} }

func mkOrg(t *testing.T, s *Store, id string) *corev1.Org {
	t.Helper()
	o, err := s.CreateOrg(context.Background(), &corev1.Org{OrgId: id, Name: "Org " + id, Subnet: ptr("100.90.128.0/24")})
	must(t, err)
	return o
}

func mkKey(t *testing.T, s *Store, id, orgID string, actions ...string) {
	t.Helper()
	must(t, s.CreateKey(context.Background(), &corev1.CreatedApiKey{ApiKeyId: id, Name: "key " + id, LastChars: "ab12"},
		"$argon2id$hash-of-"+id, orgID, actions))
}

func mkSite(t *testing.T, s *Store, orgID, niceID string, newt *core.Newt) *corev1.Site {
	t.Helper()
	site, err := s.CreateSite(context.Background(), &corev1.Site{
		OrgId: orgID, NiceId: niceID, Name: "site " + niceID, Type: core.SiteNewt, DockerSocketEnabled: true,
	}, newt)
	must(t, err)
	return site
}

func mkExitNode(t *testing.T, s *Store, name string) int64 {
	t.Helper()
	var id int64
	err := s.write(context.Background(), func(tx *tx) error {
		return tx.QueryRow(`INSERT INTO exit_nodes (name, address, endpoint, public_key, listen_port)
			VALUES ($1, '100.89.128.1/24', 'gerbil.example.com', 'pub-'||$1, 51820) RETURNING exit_node_id`,
			name).Scan(&id)
	})
	must(t, err)
	return id
}

func exec(t *testing.T, s *Store, query string, args ...any) {
	t.Helper()
	must(t, s.write(context.Background(), func(tx *tx) error {
		_, err := tx.Exec(query, args...)
		return err
	}))
}

// principal reads what the key may do; actions reads its action ids.
func principal(t *testing.T, s *Store, id string) *corev1.Principal {
	t.Helper()
	p, err := s.Principal(context.Background(), id)
	must(t, err)
	return p
}

func actions(t *testing.T, s *Store, id string) []string {
	t.Helper()
	return principal(t, s, id).GetActionIds()
}

// loggedKeys returns the key ids logged after seq.
func loggedKeys(t *testing.T, s *Store, after int64) []string {
	t.Helper()
	changes, err := s.KeyChangesAfter(context.Background(), after, 0)
	must(t, err)
	ids := []string{}
	for _, c := range changes {
		ids = append(ids, c.GetApiKeyId())
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
	if n := len(actions(t, s, "key1")); n != len(core.Actions) {
		t.Fatalf("after reopen: key has %d actions, want %d", n, len(core.Actions))
	}
	if got := loggedKeys(t, s, 0); !slices.Equal(got, []string{"key1"}) {
		t.Fatalf("after reopen: key changes %v, want only the creation of key1", got)
	}
}

func testSeedRemovesStaleActions(t *testing.T, b backend) {
	url, dir := b.newDB(t)
	s := openAt(t, url, dir)
	mkKey(t, s, "key1", "", "getOrg")
	mkKey(t, s, "key2", "", "getOrg")
	// An id a previous version seeded and key1 was granted.
	exec(t, s, `INSERT INTO actions (action_id) VALUES ('retiredAction')`)
	exec(t, s, `INSERT INTO api_key_actions (api_key_id, action_id) VALUES ('key1', 'retiredAction')`)
	seq := newestSeq(t, s)
	must(t, s.Close())

	s = openAt(t, url, dir)
	if n := rowCount(t, s, `SELECT COUNT(*) FROM actions`); n != len(core.Actions) {
		t.Fatalf("%d actions, want %d", n, len(core.Actions))
	}
	if got := actions(t, s, "key1"); !slices.Equal(got, []string{"getOrg"}) {
		t.Fatalf("key1 actions %v, want [getOrg]", got)
	}
	if got := loggedKeys(t, s, seq); !slices.Equal(got, []string{"key1"}) {
		t.Fatalf("key changes %v, want [key1] (its grant was removed)", got)
	}
}

// Times go in and come out in core.TimeFormat on both dialects (text on
// SQLite, timestamptz on PostgreSQL); the store stamps what has none.
func testTimestamps(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	const given = "2025-08-01T12:34:56.789Z"
	org, err := s.CreateOrg(ctx, &corev1.Org{OrgId: "acme", Name: "Acme", CreatedAt: given})
	must(t, err)
	if org.GetCreatedAt() != given {
		t.Fatalf("org created at %q, want %q", org.GetCreatedAt(), given)
	}
	must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "key1", Name: "k", LastChars: "abcd", CreatedAt: given}, "h", "", nil))
	keys, err := s.ListKeys(ctx)
	must(t, err)
	if keys[0].GetCreatedAt() != given {
		t.Fatalf("key created at %q, want %q", keys[0].GetCreatedAt(), given)
	}

	// An empty time is set by the store: now, UTC, at ms precision.
	before := time.Now().Add(-time.Second)
	org, err = s.CreateOrg(ctx, &corev1.Org{OrgId: "other", Name: "Other"})
	must(t, err)
	at, err := time.Parse(core.TimeFormat, org.GetCreatedAt())
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("store-set created at %q is not now in core.TimeFormat (%v)", org.GetCreatedAt(), err)
	}
	got, err := s.GetOrg(ctx, "other")
	must(t, err)
	wantMsg(t, "GetOrg after CreateOrg", got, org)
}

// Each table's declared columns exist in the schema of both dialects, and
// every field of the messages the store writes whole is a column: a new
// field is written in the proto, the table's column list and a migration,
// and a forgotten one fails here.
func testTablesMatchSchema(t *testing.T, b backend) {
	s := openStore(t, b)
	for _, tb := range []*table{orgs, sites, exitNodes, apiKeys, keyActions, keyChanges, resources, domains, dnsRecords, targets, rules,
		clients, siteResources, roles, users, memberships, idps, idpOidcConfigs, idpOrgs, apiLogs} {
		cols := ""
		for i, c := range tb.columns {
			if i > 0 {
				cols += ", "
			}
			cols += c
		}
		rows, err := s.reader.Query(`SELECT ` + cols + ` FROM ` + tb.name + ` LIMIT 0`)
		if err != nil {
			t.Errorf("table %s: %v", tb.name, err)
			continue
		}
		rows.Close()
	}
	for tb, msg := range map[*table]proto.Message{orgs: &corev1.Org{}, sites: &corev1.Site{}, resources: &corev1.Resource{},
		domains: &corev1.Domain{}, dnsRecords: &corev1.DnsRecord{},
		targets: &corev1.Target{}, rules: &corev1.Rule{}, clients: &corev1.OlmClient{}, siteResources: &corev1.SiteResource{},
		roles: &corev1.Role{}, memberships: &corev1.OrgMembership{},
		idps: &corev1.Idp{}, idpOidcConfigs: &corev1.IdpOidcConfig{}, idpOrgs: &corev1.IdpOrgPolicy{}, apiLogs: &corev1.ApiLog{}} {
		fields := msg.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			if name := fields.Get(i).Name(); !tb.hasColumn(name) {
				t.Errorf("%s.%s is no column of %s", msg.ProtoReflect().Descriptor().Name(), name, tb.name)
			}
		}
	}
}

func testCreateGetOrg(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	in := &corev1.Org{OrgId: "acme", Name: "Acme", Subnet: ptr("100.90.128.0/24"), UtilitySubnet: ptr("100.96.128.0/24"),
		CreatedAt: "2025-01-02T03:04:05.006Z"}
	created, err := s.CreateOrg(ctx, in)
	must(t, err)
	got, err := s.GetOrg(ctx, "acme")
	must(t, err)
	wantMsg(t, "created", created, in)
	wantMsg(t, "read", got, in)

	bare, err := s.CreateOrg(ctx, &corev1.Org{OrgId: "bare", Name: "Bare"})
	must(t, err)
	if bare.Subnet != nil || bare.UtilitySubnet != nil {
		t.Fatalf("nil subnets came back as %v, %v", bare.Subnet, bare.UtilitySubnet)
	}

	_, err = s.CreateOrg(ctx, &corev1.Org{OrgId: "acme", Name: "Again"})
	wantErr(t, err, core.CodeConflict, "Organization with ID acme already exists")
	got, err = s.GetOrg(ctx, "acme")
	must(t, err)
	if got.GetName() != "Acme" {
		t.Fatalf("conflicting create changed the org name to %q", got.GetName())
	}

	_, err = s.GetOrg(ctx, "nope")
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
}

func testListOrgs(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	list, total, err := s.ListOrgs(ctx, nil)
	must(t, err)
	if len(list) != 0 || total != 0 || list == nil {
		t.Fatalf("empty store: %v, total %d; want an empty non-nil list", list, total)
	}
	for _, id := range []string{"delta", "alpha", "charlie", "bravo", "echo"} {
		mkOrg(t, s, id)
	}
	ids := func(list []*corev1.Org) []string {
		var out []string
		for _, o := range list {
			out = append(out, o.GetOrgId())
		}
		return out
	}
	for _, tc := range []struct {
		page *corev1.Page
		want []string
	}{
		{nil, []string{"alpha", "bravo", "charlie", "delta", "echo"}},
		{page(2, 0), []string{"alpha", "bravo"}},
		{page(2, 3), []string{"delta", "echo"}},
		{page(0, 4), []string{"echo"}},
		{page(10, 10), nil},
	} {
		list, total, err := s.ListOrgs(ctx, tc.page)
		must(t, err)
		if !slices.Equal(ids(list), tc.want) || total != 5 {
			t.Errorf("ListOrgs(%v) = %v, total %d; want %v, total 5", tc.page, ids(list), total, tc.want)
		}
	}
	if list, _, _ := s.ListOrgs(ctx, page(1, 0)); list[0].GetName() != "Org alpha" || list[0].GetSubnet() != "100.90.128.0/24" {
		t.Errorf("listed org %v lacks its fields", list[0])
	}
}

func testUpdateOrg(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	created := mkOrg(t, s, "acme")
	updated, err := s.UpdateOrg(ctx, &corev1.UpdateOrgRequest{OrgId: "acme", Name: ptr("Acme Corp")})
	must(t, err)
	want := proto.Clone(created).(*corev1.Org)
	want.Name = "Acme Corp"
	wantMsg(t, "UpdateOrg", updated, want)
	unchanged, err := s.UpdateOrg(ctx, &corev1.UpdateOrgRequest{OrgId: "acme"})
	must(t, err)
	wantMsg(t, "UpdateOrg without a change", unchanged, want)
	got, err := s.GetOrg(ctx, "acme")
	must(t, err)
	wantMsg(t, "stored", got, want)
	_, err = s.UpdateOrg(ctx, &corev1.UpdateOrgRequest{OrgId: "nope", Name: ptr("x")})
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	_, err = s.UpdateOrg(ctx, &corev1.UpdateOrgRequest{OrgId: "nope"})
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
	exec(t, s, `INSERT INTO api_key_orgs (api_key_id, org_id) VALUES ('rootkey', 'doomed')`)
	seq := newestSeq(t, s)

	must(t, s.DeleteOrg(ctx, "doomed"))

	_, err := s.GetOrg(ctx, "doomed")
	wantErr(t, err, core.CodeNotFound, "Organization with ID doomed not found")
	for _, site := range []*corev1.Site{site1, site2} {
		_, err := s.GetSite(ctx, site.GetSiteId())
		wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", site.GetSiteId()))
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt1'`); n != 0 {
		t.Errorf("the deleted site's newt is still stored")
	}
	for _, id := range []string{"orgkey1", "orgkey2"} {
		_, err := s.Principal(ctx, id)
		wantErr(t, err, core.CodeNotFound, "API key not found")
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id IN ('orgkey1', 'orgkey2')`); n != 0 {
		t.Errorf("%d action grants of deleted keys remain", n)
	}
	if got := loggedKeys(t, s, seq); !slices.Equal(got, []string{"orgkey1", "orgkey2"}) {
		t.Errorf("key changes %v, want [orgkey1 orgkey2]", got)
	}

	wantMsg(t, "root key after delete", principal(t, s, "rootkey"), &corev1.Principal{
		ApiKeyId: "rootkey", IsRoot: true, OrgIds: []string{}, ActionIds: []string{"deleteOrg", "getOrg"}})
	wantMsg(t, "other org's key", principal(t, s, "otherkey"), &corev1.Principal{
		ApiKeyId: "otherkey", OrgIds: []string{"kept"}, ActionIds: []string{"getOrg"}})
	got, err := s.GetSite(ctx, kept.GetSiteId())
	must(t, err)
	if got.GetNiceId() != "site-one" || rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt2'`) != 1 {
		t.Errorf("other org's site or newt changed")
	}

	seq = newestSeq(t, s)
	wantErr(t, s.DeleteOrg(ctx, "doomed"), core.CodeNotFound, "Organization with ID doomed not found")
	if got := loggedKeys(t, s, seq); len(got) != 0 {
		t.Errorf("a refused delete logged key changes %v", got)
	}
}

func testCreateKeyAndPrincipal(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	const created = "2025-08-01T12:34:56.789Z"
	must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "rootkey", ApiKey: "the-secret", Name: "Root",
		LastChars: "wxyz", CreatedAt: created}, "$argon2id$v=19$root", "", []string{"listOrgs", "createOrg", "listOrgs"}))
	must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "orgkey", Name: "Org", LastChars: "abcd", CreatedAt: created},
		"$argon2id$v=19$org", "acme", nil))

	wantMsg(t, "root key", principal(t, s, "rootkey"), &corev1.Principal{
		ApiKeyId: "rootkey", IsRoot: true, OrgIds: []string{}, ActionIds: []string{"createOrg", "listOrgs"}})
	wantMsg(t, "org key", principal(t, s, "orgkey"), &corev1.Principal{
		ApiKeyId: "orgkey", OrgIds: []string{"acme"}, ActionIds: []string{}})
	for id, want := range map[string]string{"rootkey": "$argon2id$v=19$root", "orgkey": "$argon2id$v=19$org"} {
		hash, err := s.KeyHash(ctx, id)
		must(t, err)
		if hash != want {
			t.Errorf("KeyHash(%s) = %q, want %q", id, hash, want)
		}
	}
	// Only the hash is stored: the secret the created key carries is no column.
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_keys WHERE api_key_hash LIKE '%the-secret%' OR name LIKE '%the-secret%'`); n != 0 {
		t.Fatalf("the secret was stored")
	}

	_, err := s.Principal(ctx, "nope")
	wantErr(t, err, core.CodeNotFound, "API key not found")
	_, err = s.KeyHash(ctx, "nope")
	wantErr(t, err, core.CodeNotFound, "API key not found")
}

func testCreateKeyRefused(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "taken", "acme", "getOrg")
	seq := newestSeq(t, s)
	key := func(id string) *corev1.CreatedApiKey {
		return &corev1.CreatedApiKey{ApiKeyId: id, Name: "replacement", LastChars: "abcd"}
	}

	wantErr(t, s.CreateKey(ctx, key("newkey"), "h", "nope", nil), core.CodeNotFound, "Organization with ID nope not found")
	wantErr(t, s.CreateKey(ctx, key("newkey"), "h", "acme", []string{"getOrg", "noSuchAction"}),
		core.CodeInvalid, "One or more actions do not exist")
	wantErr(t, s.CreateKey(ctx, key("newkey"), "h", "", []string{"noSuchAction"}),
		core.CodeInvalid, "One or more actions do not exist")
	_, err := s.Principal(ctx, "newkey")
	wantErr(t, err, core.CodeNotFound, "API key not found")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id = 'newkey'`); n != 0 {
		t.Fatalf("refused key left %d grants", n)
	}

	wantErr(t, s.CreateKey(ctx, key("taken"), "h", "", []string{"listOrgs"}), core.CodeConflict, "API key with ID taken already exists")
	wantMsg(t, "key after a conflicting create", principal(t, s, "taken"), &corev1.Principal{
		ApiKeyId: "taken", OrgIds: []string{"acme"}, ActionIds: []string{"getOrg"}})
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_keys WHERE name = 'replacement'`); n != 0 {
		t.Fatalf("conflicting create changed the key")
	}
	if got := loggedKeys(t, s, seq); len(got) != 0 {
		t.Fatalf("refused creates logged key changes %v", got)
	}
}

// testKeyExpiry: a key's expiry is stored in UTC and read back, exactly
// as written, by every read of the key: Principal (what the core checks on
// each call), Key, ListKeys and ListOrgKeys. No expiry reads as unset.
func testKeyExpiry(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	const created, expires = "2025-08-01T12:34:56.789Z", "2031-02-03T04:05:06.789Z"
	must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "brief", Name: "brief", LastChars: "abcd",
		CreatedAt: created, ExpiresAt: ptr(expires)}, "h", "acme", []string{"getOrg"}))
	must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "forever", Name: "forever", LastChars: "efgh",
		CreatedAt: created}, "h", "", nil))

	wantMsg(t, "expiring key", principal(t, s, "brief"), &corev1.Principal{
		ApiKeyId: "brief", OrgIds: []string{"acme"}, ActionIds: []string{"getOrg"}, ExpiresAt: ptr(expires)})
	wantMsg(t, "key without expiry", principal(t, s, "forever"), &corev1.Principal{
		ApiKeyId: "forever", IsRoot: true, OrgIds: []string{}, ActionIds: []string{}})

	key, err := s.Key(ctx, "brief")
	must(t, err)
	wantMsg(t, "Key", key, &corev1.ApiKey{ApiKeyId: "brief", Name: "brief", LastChars: "abcd",
		CreatedAt: created, ExpiresAt: ptr(expires)})
	_, err = s.Key(ctx, "nope")
	wantErr(t, err, core.CodeNotFound, "API key not found")

	keys, err := s.ListKeys(ctx)
	must(t, err)
	if len(keys) != 2 || keys[0].GetExpiresAt() != expires || keys[1].ExpiresAt != nil {
		t.Fatalf("ListKeys: %v, want brief expiring at %s and forever without expiry", keys, expires)
	}
	orgKeys, _, err := s.ListOrgKeys(ctx, "acme", "", page(10, 0))
	must(t, err)
	if len(orgKeys) != 1 || orgKeys[0].GetExpiresAt() != expires {
		t.Fatalf("ListOrgKeys: %v, want brief expiring at %s", orgKeys, expires)
	}
}

func testListKeys(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	keys, err := s.ListKeys(ctx)
	must(t, err)
	if keys == nil || len(keys) != 0 {
		t.Fatalf("empty store: %v, want an empty non-nil list", keys)
	}
	mkOrg(t, s, "acme")
	for _, k := range []struct{ id, org, at string }{
		{"k3", "", "2025-01-01T01:00:00.000Z"},
		{"k2", "acme", "2025-01-01T00:00:00.000Z"},
		{"k1", "", "2025-01-01T00:00:00.000Z"},
		{"k0", "acme", "2025-01-01T02:00:00.000Z"},
	} {
		must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: k.id, Name: k.id, LastChars: "abcd", CreatedAt: k.at},
			"h", k.org, []string{"getOrg"}))
	}
	keys, err = s.ListKeys(ctx)
	must(t, err)
	var got []string
	for _, k := range keys {
		got = append(got, k.GetApiKeyId())
	}
	if want := []string{"k1", "k2", "k3", "k0"}; !slices.Equal(got, want) {
		t.Fatalf("ListKeys: %q, want %q (by creation time, then id)", got, want)
	}
	wantMsg(t, "listed key", keys[0], &corev1.ApiKey{ApiKeyId: "k1", Name: "k1", LastChars: "abcd", CreatedAt: "2025-01-01T00:00:00.000Z"})
}

func testListOrgKeys(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	for i, id := range []string{"e", "d", "c", "b", "a"} {
		must(t, s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: id, Name: id, LastChars: "abcd",
			CreatedAt: fmt.Sprintf("2025-01-01T00:%02d:00.000Z", i/2)}, "h", "acme", nil))
	}
	mkKey(t, s, "otherkey", "other")
	mkKey(t, s, "rootkey", "")
	// A root key linked to the org (Pangolin 1.8 data) is still not listed.
	exec(t, s, `INSERT INTO api_key_orgs (api_key_id, org_id) VALUES ('rootkey', 'acme')`)

	// Created at: e, d at :00; c, b at :01; a at :02.
	all := []string{"d", "e", "b", "c", "a"}
	for _, tc := range []struct {
		page *corev1.Page
		want []string
	}{
		{nil, all},
		{page(2, 0), all[:2]},
		{page(2, 2), all[2:4]},
		{page(5, 4), all[4:]},
		{page(0, 7), nil},
	} {
		keys, total, err := s.ListOrgKeys(ctx, "acme", "", tc.page)
		must(t, err)
		var got []string
		for _, k := range keys {
			got = append(got, k.GetApiKeyId())
			if k.GetOrgId() != "acme" {
				t.Errorf("listed key %v", k)
			}
		}
		if !slices.Equal(got, tc.want) || total != 5 {
			t.Errorf("ListOrgKeys(%v) = %v total %d, want %v total 5", tc.page, got, total, tc.want)
		}
	}
	keys, total, err := s.ListOrgKeys(ctx, "nope", "", nil)
	must(t, err)
	if len(keys) != 0 || keys == nil || total != 0 {
		t.Errorf("unknown org: %v total %d, want an empty non-nil list", keys, total)
	}
}

func testDeleteKey(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "gone", "acme", "getOrg", "listSites")
	mkKey(t, s, "kept", "acme", "getOrg")
	seq := newestSeq(t, s)

	must(t, s.DeleteKey(ctx, "gone"))
	_, err := s.Principal(ctx, "gone")
	wantErr(t, err, core.CodeNotFound, "API key not found")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id = 'gone'`) +
		rowCount(t, s, `SELECT COUNT(*) FROM api_key_orgs WHERE api_key_id = 'gone'`); n != 0 {
		t.Fatalf("%d grants or org links of the deleted key remain", n)
	}
	if _, err := s.Principal(ctx, "kept"); err != nil {
		t.Fatalf("the other key: %v", err)
	}
	if got := loggedKeys(t, s, seq); !slices.Equal(got, []string{"gone"}) {
		t.Fatalf("key changes %v, want [gone]", got)
	}

	wantErr(t, s.DeleteKey(ctx, "gone"), core.CodeNotFound, "API key not found")
	if got := loggedKeys(t, s, seq); len(got) != 1 {
		t.Fatalf("a refused delete was logged: %v", got)
	}
}

func testSetKeyActions(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "key1", "acme", "getOrg", "listSites")
	mkKey(t, s, "key2", "acme", "getOrg")

	seq := newestSeq(t, s)
	must(t, s.SetKeyActions(ctx, "key1", []string{"updateSite", "getSite", "updateSite", "getOrg"}))
	if got := actions(t, s, "key1"); !slices.Equal(got, []string{"getOrg", "getSite", "updateSite"}) {
		t.Fatalf("after set: %v", got)
	}
	if got := loggedKeys(t, s, seq); !slices.Equal(got, []string{"key1"}) {
		t.Fatalf("key changes %v, want [key1]", got)
	}

	seq = newestSeq(t, s)
	wantErr(t, s.SetKeyActions(ctx, "key1", []string{"listSites", "noSuchAction"}),
		core.CodeInvalid, "One or more actions do not exist")
	if got := actions(t, s, "key1"); !slices.Equal(got, []string{"getOrg", "getSite", "updateSite"}) {
		t.Fatalf("a refused set changed the actions to %v", got)
	}
	wantErr(t, s.SetKeyActions(ctx, "nope", []string{"getOrg"}), core.CodeNotFound, "API key not found")
	if got := loggedKeys(t, s, seq); len(got) != 0 {
		t.Fatalf("refused sets logged %v", got)
	}

	must(t, s.SetKeyActions(ctx, "key1", []string{}))
	if got := actions(t, s, "key1"); len(got) != 0 {
		t.Fatalf("an empty set left %v", got)
	}
	if got := actions(t, s, "key2"); !slices.Equal(got, []string{"getOrg"}) {
		t.Fatalf("the other key's actions changed to %v", got)
	}
}

func testListKeyActions(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkKey(t, s, "key1", "", "updateSite", "getOrg", "listSites", "createSite")
	mkKey(t, s, "empty", "")
	ids := func(list []*corev1.KeyAction) []string {
		out := []string{}
		for _, a := range list {
			out = append(out, a.GetActionId())
		}
		return out
	}
	all := []string{"createSite", "getOrg", "listSites", "updateSite"}
	for _, tc := range []struct {
		page *corev1.Page
		want []string
	}{
		{nil, all},
		{page(3, 0), all[:3]},
		{page(2, 1), all[1:3]},
		{page(0, 3), all[3:]},
		{page(1, 9), []string{}},
	} {
		list, total, err := s.ListKeyActions(ctx, "key1", tc.page)
		must(t, err)
		if !slices.Equal(ids(list), tc.want) || total != 4 {
			t.Errorf("ListKeyActions(%v) = %v total %d, want %v total 4", tc.page, ids(list), total, tc.want)
		}
	}
	list, total, err := s.ListKeyActions(ctx, "empty", nil)
	must(t, err)
	if list == nil || len(list) != 0 || total != 0 {
		t.Errorf("key without actions: %v total %d", list, total)
	}
	_, _, err = s.ListKeyActions(ctx, "nope", nil)
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
	must(t, s.DeleteKey(ctx, "root1"))
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
	must(t, s.SetKeyActions(ctx, "b", []string{"getOrg"}))
	must(t, s.DeleteKey(ctx, "a"))
	_, err = s.UpdateOrg(ctx, &corev1.UpdateOrgRequest{OrgId: "acme", Name: ptr("renamed")})
	must(t, err)

	changes, err = s.KeyChangesAfter(ctx, 0, 0)
	must(t, err)
	var ids []string
	for i, c := range changes {
		ids = append(ids, c.GetApiKeyId())
		if i > 0 && c.GetSeq() <= changes[i-1].GetSeq() {
			t.Fatalf("seqs not ascending: %v", changes)
		}
	}
	if !slices.Equal(ids, []string{"a", "b", "b", "a"}) {
		t.Fatalf("logged %v, want [a b b a] (create a, create b, set b, delete a)", ids)
	}
	oldest, newest, err = s.KeyChangeBounds(ctx)
	must(t, err)
	if oldest != changes[0].GetSeq() || newest != changes[3].GetSeq() {
		t.Fatalf("bounds (%d, %d), want (%d, %d)", oldest, newest, changes[0].GetSeq(), changes[3].GetSeq())
	}

	after, err := s.KeyChangesAfter(ctx, changes[0].GetSeq(), 2)
	must(t, err)
	if len(after) != 2 || !proto.Equal(after[0], changes[1]) || !proto.Equal(after[1], changes[2]) {
		t.Fatalf("KeyChangesAfter(%d, 2) = %v, want %v", changes[0].GetSeq(), after, changes[1:3])
	}
	after, err = s.KeyChangesAfter(ctx, newest, 5)
	must(t, err)
	if len(after) != 0 {
		t.Fatalf("changes after the newest: %v", after)
	}
}

// A committed key change is announced to this process's listeners at once,
// on both dialects; other writes and refused changes are not.
func testKeyChangesAnnounced(t *testing.T, b backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	notified := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- s.ListenKeyChanges(ctx, func() { notified <- struct{}{} }) }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-notified:
		case err := <-done:
			t.Fatalf("ListenKeyChanges returned while waiting for %s: %v", what, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no announcement for %s", what)
		}
	}
	wait("the start of listening")
	mkKey(t, s, "key1", "acme")
	wait("a created key")
	must(t, s.SetKeyActions(ctx, "key1", []string{"getOrg"}))
	wait("changed actions")
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("ListenKeyChanges after cancel: %v", err)
	}
}

func testPruneKeyChanges(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	// Log entries with chosen times, written as logKeyChanges does.
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"old1", "old2", "new1"} {
		exec(t, s, `INSERT INTO key_changes (api_key_id, changed_at) VALUES ($1, $2)`,
			id, core.Timestamp(t0.Add(time.Duration(i)*time.Hour)))
	}
	_, newest, err := s.KeyChangeBounds(ctx)
	must(t, err)

	must(t, s.PruneKeyChanges(ctx, t0.Add(90*time.Minute)))
	if got := loggedKeys(t, s, 0); !slices.Equal(got, []string{"new1"}) {
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
	if len(changes) != 1 || changes[0].GetApiKeyId() != "later" || changes[0].GetSeq() <= newest {
		t.Fatalf("after emptying the log: %v, want one entry with seq > %d", changes, newest)
	}
}

func testCreateGetSite(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	exitNode := mkExitNode(t, s, "gerbil")
	in := &corev1.Site{
		SiteId: 999, // ignored: the database assigns ids
		OrgId:  "acme", NiceId: "happy-otter", ExitNodeId: &exitNode, Name: "HQ",
		PubKey: ptr("pubkey="), Subnet: ptr("100.89.128.4/30"), MegabytesIn: 1.5, MegabytesOut: 2.25,
		LastBandwidthUpdate: ptr("2025-08-01T00:00:00.000Z"), Type: core.SiteWireGuard, Online: true,
		Address: ptr("100.90.128.2/24"), Endpoint: ptr("203.0.113.7:51820"), PublicKey: ptr("peerkey="),
		LastHolePunch: ptr(int64(1754006400000)), ListenPort: ptr(int32(51820)), DockerSocketEnabled: false,
		RemoteSubnets: ptr("10.0.0.0/8,192.168.1.0/24"),
	}
	created, err := s.CreateSite(ctx, in, nil)
	must(t, err)
	if created.GetSiteId() <= 0 || created.GetSiteId() == 999 {
		t.Fatalf("site id %d", created.GetSiteId())
	}
	want := proto.Clone(in).(*corev1.Site)
	want.SiteId = created.GetSiteId()
	got, err := s.GetSite(ctx, created.GetSiteId())
	must(t, err)
	byNice, err := s.GetSiteByNiceID(ctx, "acme", "happy-otter")
	must(t, err)
	wantMsg(t, "CreateSite", created, want)
	wantMsg(t, "GetSite", got, want)
	wantMsg(t, "GetSiteByNiceID", byNice, want)
	orgID, err := s.SiteOrg(ctx, created.GetSiteId())
	must(t, err)
	if orgID != "acme" {
		t.Errorf("SiteOrg = %q", orgID)
	}

	// A minimal newt site: nulls stay null, booleans keep their values,
	// the newt credential is stored with the new site's id.
	newtSite, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: "calm-lynx", Name: "edge", Type: core.SiteNewt,
		DockerSocketEnabled: true}, &core.Newt{ID: "newt123", SecretHash: "$argon2id$newt"})
	must(t, err)
	wantMsg(t, "newt site", newtSite, &corev1.Site{SiteId: newtSite.GetSiteId(), OrgId: "acme", NiceId: "calm-lynx",
		Name: "edge", Type: core.SiteNewt, DockerSocketEnabled: true})
	var newtID, hash string
	var siteID int64
	must(t, s.reader.QueryRow(`SELECT newt_id, secret_hash, site_id FROM newts`).Scan(&newtID, &hash, &siteID))
	if newtID != "newt123" || hash != "$argon2id$newt" || siteID != newtSite.GetSiteId() {
		t.Errorf("stored newt %s %s %d", newtID, hash, siteID)
	}

	_, err = s.GetSite(ctx, 424242)
	wantErr(t, err, core.CodeNotFound, "Site with ID 424242 not found")
	_, err = s.SiteOrg(ctx, 424242)
	wantErr(t, err, core.CodeNotFound, "Site with ID 424242 not found")
	_, err = s.GetSiteByNiceID(ctx, "acme", "no-such")
	wantErr(t, err, core.CodeNotFound, "Site with niceId no-such not found")
	_, err = s.GetSiteByNiceID(ctx, "other", "happy-otter")
	wantErr(t, err, core.CodeNotFound, "Site with niceId happy-otter not found")
}

func testCreateSiteRefused(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	first, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: "taken", Name: "a", Type: core.SiteNewt,
		Address: ptr("100.90.128.2/24")}, &core.Newt{ID: "newt1", SecretHash: "h"})
	must(t, err)

	site := &corev1.Site{OrgId: "acme", NiceId: "taken", Name: "b", Type: core.SiteNewt}
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeConflict, "A site with niceId taken already exists in this organization")

	site.NiceId, site.Address = "fresh", ptr("100.90.128.2/24")
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeConflict, "Address 100.90.128.2/24 is already in use in this organization")

	site.Address = nil
	_, err = s.CreateSite(ctx, site, &core.Newt{ID: "newt1", SecretHash: "h"})
	wantErr(t, err, core.CodeConflict, "Newt with ID newt1 already exists")
	_, err = s.GetSiteByNiceID(ctx, "acme", "fresh")
	wantErr(t, err, core.CodeNotFound, "Site with niceId fresh not found") // no half-created site

	site.OrgId = "nope"
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")

	site.OrgId, site.ExitNodeId = "acme", ptr(int64(77))
	_, err = s.CreateSite(ctx, site, nil)
	wantErr(t, err, core.CodeNotFound, "Exit node not found")

	// niceId and address are unique per org only.
	other, err := s.CreateSite(ctx, &corev1.Site{OrgId: "other", NiceId: "taken", Name: "c", Type: core.SiteLocal,
		Address: ptr("100.90.128.2/24")}, nil)
	must(t, err)
	if other.GetSiteId() == first.GetSiteId() || other.GetOrgId() != "other" {
		t.Fatalf("site in the other org: %v", other)
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
		ids = append(ids, mkSite(t, s, "acme", nice, newt).GetSiteId())
		mkSite(t, s, "other", nice, nil)
	}
	exec(t, s, `UPDATE newts SET version = '1.2.0' WHERE newt_id = 'newt-alpha'`)

	for _, tc := range []struct {
		page *corev1.Page
		want []int64
	}{
		{nil, ids},
		{page(2, 0), ids[:2]},
		{page(2, 1), ids[1:3]},
		{page(0, 3), ids[3:]},
		{page(3, 4), nil},
	} {
		list, total, err := s.ListSites(ctx, "acme", tc.page)
		must(t, err)
		var got []int64
		for _, st := range list {
			got = append(got, st.GetSiteId())
			if st.GetOrgName() != "Org acme" {
				t.Errorf("listed site %v", st)
			}
		}
		if !slices.Equal(got, tc.want) || total != 4 {
			t.Errorf("ListSites(%v) = %v total %d, want %v total 4", tc.page, got, total, tc.want)
		}
	}
	list, _, err := s.ListSites(ctx, "acme", page(2, 0))
	must(t, err)
	wantMsg(t, "listed site without a newt", list[0], &corev1.SiteListItem{SiteId: ids[0], NiceId: "zeta",
		Name: "site zeta", OrgName: "Org acme", Type: core.SiteNewt})
	wantMsg(t, "listed site with a newt", list[1], &corev1.SiteListItem{SiteId: ids[1], NiceId: "alpha",
		Name: "site alpha", OrgName: "Org acme", Type: core.SiteNewt, NewtVersion: ptr("1.2.0")})
	list, total, err := s.ListSites(ctx, "nope", nil)
	must(t, err)
	if list == nil || len(list) != 0 || total != 0 {
		t.Errorf("unknown org: %v total %d", list, total)
	}
}

func testUpdateSite(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	site := mkSite(t, s, "acme", "first", nil)
	id := site.GetSiteId()
	mkSite(t, s, "acme", "second", nil)
	mkSite(t, s, "other", "elsewhere", nil)

	updated, err := s.UpdateSite(ctx, &corev1.UpdateSiteRequest{SiteId: id, Name: ptr("Renamed"), DockerSocketEnabled: ptr(false)})
	must(t, err)
	want := proto.Clone(site).(*corev1.Site)
	want.Name, want.DockerSocketEnabled = "Renamed", false
	wantMsg(t, "after update", updated, want)

	updated, err = s.UpdateSite(ctx, &corev1.UpdateSiteRequest{SiteId: id, NiceId: ptr("elsewhere"), RemoteSubnets: ptr("10.0.0.0/8")})
	must(t, err)
	want.NiceId, want.RemoteSubnets = "elsewhere", ptr("10.0.0.0/8")
	wantMsg(t, "after update", updated, want)
	got, err := s.GetSite(ctx, id)
	must(t, err)
	wantMsg(t, "stored", got, want)

	// Setting a site's own niceId again is no conflict; an empty update
	// reads the site back.
	updated, err = s.UpdateSite(ctx, &corev1.UpdateSiteRequest{SiteId: id, NiceId: ptr("elsewhere")})
	must(t, err)
	wantMsg(t, "same niceId", updated, want)
	updated, err = s.UpdateSite(ctx, &corev1.UpdateSiteRequest{SiteId: id})
	must(t, err)
	wantMsg(t, "empty update", updated, want)

	_, err = s.UpdateSite(ctx, &corev1.UpdateSiteRequest{SiteId: id, NiceId: ptr("second"), Name: ptr("lost")})
	wantErr(t, err, core.CodeConflict, "A site with niceId second already exists in this organization")
	got, err = s.GetSite(ctx, id)
	must(t, err)
	wantMsg(t, "after a refused update", got, want)

	_, err = s.UpdateSite(ctx, &corev1.UpdateSiteRequest{SiteId: 424242, Name: ptr("x")})
	wantErr(t, err, core.CodeNotFound, "Site with ID 424242 not found")
}

func testDeleteSite(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	gone := mkSite(t, s, "acme", "gone", &core.Newt{ID: "newt-gone", SecretHash: "h"})
	kept := mkSite(t, s, "acme", "kept", &core.Newt{ID: "newt-kept", SecretHash: "h"})

	must(t, s.DeleteSite(ctx, gone.GetSiteId()))
	_, err := s.GetSite(ctx, gone.GetSiteId())
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", gone.GetSiteId()))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt-gone'`); n != 0 {
		t.Fatalf("the deleted site's newt remains")
	}
	if _, err := s.GetSite(ctx, kept.GetSiteId()); err != nil {
		t.Fatalf("the other site: %v", err)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM newts WHERE newt_id = 'newt-kept'`); n != 1 {
		t.Fatalf("the other site's newt is gone")
	}
	wantErr(t, s.DeleteSite(ctx, gone.GetSiteId()), core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", gone.GetSiteId()))

	// Ids of deleted sites are not handed out again.
	again := mkSite(t, s, "acme", "gone", nil)
	if again.GetSiteId() <= kept.GetSiteId() {
		t.Fatalf("new site id %d reuses or precedes %d", again.GetSiteId(), kept.GetSiteId())
	}
}

func testResetBandwidth(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "other")
	a1 := mkSite(t, s, "acme", "a1", nil)
	a2 := mkSite(t, s, "acme", "a2", nil)
	o1 := mkSite(t, s, "other", "o1", nil)
	exec(t, s, `UPDATE sites SET megabytes_in = 12.5, megabytes_out = 3`)

	n, err := s.ResetBandwidth(ctx, "acme")
	must(t, err)
	if n != 2 {
		t.Fatalf("reset %d sites, want 2", n)
	}
	for _, id := range []int64{a1.GetSiteId(), a2.GetSiteId()} {
		site, err := s.GetSite(ctx, id)
		must(t, err)
		if site.GetMegabytesIn() != 0 || site.GetMegabytesOut() != 0 {
			t.Fatalf("site %d not reset: in %v out %v", id, site.GetMegabytesIn(), site.GetMegabytesOut())
		}
	}
	other, err := s.GetSite(ctx, o1.GetSiteId())
	must(t, err)
	if other.GetMegabytesIn() != 12.5 || other.GetMegabytesOut() != 3 {
		t.Fatalf("another org's site was reset: in %v out %v", other.GetMegabytesIn(), other.GetMegabytesOut())
	}
	if n, err := s.ResetBandwidth(ctx, "nowhere"); err != nil || n != 0 {
		t.Fatalf("org without sites: %d, %v", n, err)
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
		t.Fatalf("no exit nodes, got %v", first)
	}
	id1 := mkExitNode(t, s, "one")
	id2 := mkExitNode(t, s, "two")
	first, err = s.FirstExitNode(ctx)
	must(t, err)
	wantMsg(t, "FirstExitNode", first, &corev1.SiteDefaults{ExitNodeId: &id1, Name: ptr("one"),
		Address: ptr("100.89.128.1/24"), Endpoint: ptr("gerbil.example.com"), PublicKey: ptr("pub-one"), ListenPort: ptr(int32(51820))})
	for id, want := range map[int64]bool{id1: true, id2: true, 999: false} {
		found, err := s.ExitNodeExists(ctx, id)
		must(t, err)
		if found != want {
			t.Errorf("ExitNodeExists(%d) = %v", id, found)
		}
	}

	for _, site := range []*corev1.Site{
		{OrgId: "acme", NiceId: "a", Address: ptr("100.90.128.3/24"), ExitNodeId: &id1, Subnet: ptr("100.89.128.4/30")},
		{OrgId: "acme", NiceId: "b", ExitNodeId: &id1, Subnet: ptr("100.89.128.8/30")},
		{OrgId: "acme", NiceId: "c", Address: ptr("100.90.128.2/24"), ExitNodeId: &id1},
		{OrgId: "other", NiceId: "d", Address: ptr("100.90.128.9/24"), ExitNodeId: &id2, Subnet: ptr("100.89.128.12/30")},
	} {
		site.Name, site.Type = site.NiceId, core.SiteWireGuard
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
			_, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: fmt.Sprintf("site-%d", i), Name: "s",
				Type: core.SiteNewt, Address: ptr(fmt.Sprintf("100.90.128.%d/24", i+2))},
				&core.Newt{ID: fmt.Sprintf("newt-%d", i), SecretHash: "h"})
			errs <- err
		})
		wg.Go(func() {
			errs <- s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: fmt.Sprintf("key-%d", i), Name: "k", LastChars: "abcd"},
				"h", "acme", []string{"getOrg", "listSites"})
		})
		wg.Go(func() {
			_, _, err := s.ListSites(ctx, "acme", nil)
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
	if _, total, _ := s.ListSites(ctx, "acme", nil); total != n {
		t.Errorf("%d sites, want %d", total, n)
	}
	if _, total, _ := s.ListOrgKeys(ctx, "acme", "", nil); total != n {
		t.Errorf("%d keys, want %d", total, n)
	}
	if got := loggedKeys(t, s, 0); len(got) != n {
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
		_, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: "same", Name: "s", Type: core.SiteLocal}, nil)
		return err
	}, "A site with niceId same already exists in this organization")
	race("address", func(i int) error {
		_, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: fmt.Sprintf("addr-%d", i), Name: "s",
			Type: core.SiteLocal, Address: ptr("100.90.128.5/24")}, nil)
		return err
	}, "Address 100.90.128.5/24 is already in use in this organization")
	race("key id", func(i int) error {
		return s.CreateKey(ctx, &corev1.CreatedApiKey{ApiKeyId: "samekey", Name: "k", LastChars: "abcd"}, "h", "", nil)
	}, "API key with ID samekey already exists")
	race("org id", func(i int) error {
		_, err := s.CreateOrg(ctx, &corev1.Org{OrgId: "sameorg", Name: "o"})
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
