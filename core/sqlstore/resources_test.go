package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// An org is created with its Admin role (every action) and its Member role
// (the member actions); they go with the org.
func testOrgRoles(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	type role struct {
		id          int64
		admin       *bool
		description string
	}
	roles := map[string]role{}
	rows, err := s.reader.Query(`SELECT role_id, is_admin, name, description FROM roles WHERE org_id = 'acme'`)
	must(t, err)
	for rows.Next() {
		var r role
		var admin *bool
		var name string
		must(t, rows.Scan(&r.id, &admin, &name, &r.description))
		r.admin = admin
		roles[name] = r
	}
	must(t, rows.Err())
	rows.Close()
	admin, member := roles[core.AdminRoleName], roles[core.MemberRoleName]
	if len(roles) != 2 || admin.admin == nil || !*admin.admin || admin.description != core.AdminRoleDescription ||
		member.admin != nil || member.description != core.MemberRoleDescription {
		t.Fatalf("roles %+v", roles)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_actions WHERE role_id = $1 AND org_id = 'acme'`, admin.id); n != len(core.Actions) {
		t.Errorf("Admin holds %d actions, want %d", n, len(core.Actions))
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_actions WHERE role_id = $1`, member.id); n != len(core.MemberActions) {
		t.Errorf("Member holds %d actions, want %d", n, len(core.MemberActions))
	}
	// An action added to the catalogue later is granted to every Admin role.
	exec(t, s, `DELETE FROM actions WHERE action_id = 'getOrg'`)
	must(t, s.seedActions(ctx))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_actions WHERE role_id = $1 AND action_id = 'getOrg'`, admin.id); n != 1 {
		t.Errorf("a re-seeded action is not granted to Admin")
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_actions WHERE role_id = $1 AND action_id = 'getOrg'`, member.id); n != 0 {
		t.Errorf("a re-seeded action is granted to Member")
	}
	must(t, s.DeleteOrg(ctx, "acme"))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM roles`) + rowCount(t, s, `SELECT COUNT(*) FROM role_actions`); n != 0 {
		t.Errorf("%d role rows outlive their org", n)
	}
}

func mkResource(t *testing.T, s *Store, r *corev1.Resource) *corev1.Resource {
	t.Helper()
	if r.ResourceGuid == "" {
		r.ResourceGuid = "guid-" + r.GetOrgId() + "-" + r.GetNiceId()
	}
	stored, err := s.CreateResource(context.Background(), r)
	must(t, err)
	return stored
}

func httpResource(orgID, niceID, fullDomain string) *corev1.Resource {
	return &corev1.Resource{
		OrgId: orgID, NiceId: niceID, Name: "web " + niceID, FullDomain: proto.String(fullDomain),
		Subdomain: proto.String(niceID), Ssl: true, Sso: true, Http: true, Protocol: "tcp", Enabled: true,
		EnableProxy: proto.Bool(true),
	}
}

func testCreateGetResource(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	site := mkSite(t, s, "acme", "site-one", nil)
	in := httpResource("acme", "web-one", "app.example.com")
	in.SiteId = proto.Int64(site.GetSiteId())
	in.Headers = []*corev1.Header{{Name: "X-Env", Value: "prod"}, {Name: "X-Quote", Value: `a "b" \ c`}}
	in.MaintenanceModeType = proto.String("forced")
	in.ProxyProtocolVersion = proto.Int32(1)
	created := mkResource(t, s, proto.Clone(in).(*corev1.Resource))
	if created.GetResourceId() <= 0 {
		t.Fatalf("no id assigned: %v", created)
	}
	in.ResourceId = created.GetResourceId()
	in.ResourceGuid = created.GetResourceGuid()
	wantMsg(t, "created", created, in)
	got, err := s.GetResource(ctx, created.GetResourceId())
	must(t, err)
	wantMsg(t, "read", got, in)
	orgID, err := s.ResourceOrg(ctx, created.GetResourceId())
	must(t, err)
	if orgID != "acme" {
		t.Fatalf("resource org %q", orgID)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_resources rr JOIN roles r ON r.role_id = rr.role_id
		WHERE rr.resource_id = $1 AND r.is_admin AND r.org_id = 'acme'`, created.GetResourceId()); n != 1 {
		t.Fatalf("the Admin role is not linked to the new resource")
	}

	raw := &corev1.Resource{OrgId: "acme", NiceId: "ssh", Name: "SSH", Protocol: "tcp", ProxyPort: proto.Int32(2222),
		Sso: true, Enabled: true, EnableProxy: proto.Bool(true)}
	rawStored := mkResource(t, s, raw)
	if rawStored.FullDomain != nil || rawStored.GetHttp() || rawStored.GetProxyPort() != 2222 || len(rawStored.Headers) != 0 {
		t.Fatalf("raw resource stored as %v", rawStored)
	}

	// Refused: each conflict names its rule and leaves nothing behind.
	before := rowCount(t, s, `SELECT COUNT(*) FROM resources`)
	dup := httpResource("globex", "web-two", "app.example.com")
	dup.ResourceGuid = "g2"
	_, err = s.CreateResource(ctx, dup)
	wantErr(t, err, core.CodeConflict, "Resource with that domain already exists")
	_, err = s.CreateResource(ctx, &corev1.Resource{OrgId: "globex", NiceId: "ssh", ResourceGuid: "g3", Name: "x",
		Protocol: "tcp", ProxyPort: proto.Int32(2222)})
	wantErr(t, err, core.CodeConflict, "Resource with that protocol and port already exists")
	_, err = s.CreateResource(ctx, &corev1.Resource{OrgId: "acme", NiceId: "ssh", ResourceGuid: "g4", Name: "x",
		Protocol: "udp", ProxyPort: proto.Int32(2222)})
	wantErr(t, err, core.CodeConflict, "A resource with niceId ssh already exists in this organization")
	_, err = s.CreateResource(ctx, &corev1.Resource{OrgId: "nope", NiceId: "x", ResourceGuid: "g5", Name: "x", Protocol: "tcp"})
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	if after := rowCount(t, s, `SELECT COUNT(*) FROM resources`); after != before {
		t.Fatalf("refused creates left %d rows", after-before)
	}
	// The same niceId and port on the other protocol are free elsewhere.
	mkResource(t, s, &corev1.Resource{OrgId: "globex", NiceId: "ssh", Name: "x", Protocol: "udp", ProxyPort: proto.Int32(2222)})

	_, err = s.GetResource(ctx, 999999)
	wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")
	_, err = s.ResourceOrg(ctx, 999999)
	wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")
}

// Deleting a resource, its site (1.8 resources) or its org removes what
// hangs off it, through the schema's cascades: targets, rules, auth,
// grants, tokens.
func testResourceCascades(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	site := mkSite(t, s, "acme", "site-one", nil)
	exec(t, s, `INSERT INTO users (user_id, username, type, date_created) VALUES ('u1', 'ann', 'internal', $1)`, now())
	exec(t, s, `INSERT INTO user_orgs (user_id, org_id, role_id)
		SELECT 'u1', 'acme', role_id FROM roles WHERE org_id = 'acme' AND name = 'Member'`)
	children := []string{"targets", "resource_rules", "role_resources", "user_resources", "resource_passwords",
		"resource_pincodes", "resource_header_auth", "resource_whitelist", "resource_access_tokens"}
	populate := func(r *corev1.Resource) {
		id := r.GetResourceId()
		for _, q := range []string{
			`INSERT INTO targets (resource_id, site_id, ip, port) VALUES ($1, $2, '10.0.0.1', 80)`,
			`INSERT INTO resource_rules (resource_id, priority, action, match, value) VALUES ($1, 1, 'ACCEPT', 'IP', '10.0.0.1')`,
			`INSERT INTO user_resources (user_id, resource_id) VALUES ('u1', $1)`,
			`INSERT INTO resource_passwords (resource_id, password_hash) VALUES ($1, 'h')`,
			`INSERT INTO resource_pincodes (resource_id, pincode_hash, digit_length) VALUES ($1, 'h', 6)`,
			`INSERT INTO resource_header_auth (resource_id, header_auth_hash) VALUES ($1, 'h')`,
			`INSERT INTO resource_whitelist (resource_id, email) VALUES ($1, 'a@example.com')`,
			`INSERT INTO resource_access_tokens (access_token_id, org_id, resource_id, token_hash, session_length, created_at)
			 VALUES ($2, 'acme', $1, 'h', 1000, 1)`,
		} {
			args := []any{id}
			switch {
			case strings.Contains(q, "INTO targets"):
				args = append(args, site.GetSiteId())
			case strings.Contains(q, "access_token_id"):
				args = append(args, fmt.Sprint("tok", id))
			}
			exec(t, s, q, args...)
		}
	}
	left := func(id int64) int {
		n := 0
		for _, tb := range children {
			n += rowCount(t, s, fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE resource_id = $1`, tb), id)
		}
		return n
	}
	byDelete := mkResource(t, s, httpResource("acme", "one", "one.example.com"))
	bySite := httpResource("acme", "two", "two.example.com")
	bySite.SiteId = proto.Int64(site.GetSiteId())
	bySite = mkResource(t, s, bySite)
	byOrg := mkResource(t, s, httpResource("acme", "three", "three.example.com"))
	for _, r := range []*corev1.Resource{byDelete, bySite, byOrg} {
		populate(r)
		if n := left(r.GetResourceId()); n != len(children) {
			t.Fatalf("populated %d child rows, want %d", n, len(children))
		}
	}

	exec(t, s, `DELETE FROM resources WHERE resource_id = $1`, byDelete.GetResourceId())
	if n := left(byDelete.GetResourceId()); n != 0 {
		t.Errorf("%d rows outlive their resource", n)
	}
	must(t, s.DeleteSite(ctx, site.GetSiteId()))
	_, err := s.GetResource(ctx, bySite.GetResourceId())
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Resource with ID %d not found", bySite.GetResourceId()))
	if n := left(bySite.GetResourceId()); n != 0 {
		t.Errorf("%d rows outlive their site's resource", n)
	}
	must(t, s.DeleteOrg(ctx, "acme"))
	for _, tb := range append(children, "resources", "user_orgs", "roles") {
		if n := rowCount(t, s, `SELECT COUNT(*) FROM `+tb); n != 0 {
			t.Errorf("%d rows of %s outlive their org", n, tb)
		}
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM users`); n != 1 {
		t.Errorf("the org's deletion removed its member's user row")
	}
}

func listIDs(list []*corev1.ResourceListItem) []int64 {
	var ids []int64
	for _, r := range list {
		ids = append(ids, r.GetResourceId())
	}
	return ids
}

func testListResources(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	site := mkSite(t, s, "acme", "site-one", nil)
	other := mkSite(t, s, "acme", "site-two", nil)
	onSite := httpResource("acme", "zeta", "zeta.example.com")
	onSite.Name, onSite.SiteId = "Zeta_1", proto.Int64(site.GetSiteId())
	a := mkResource(t, s, onSite)
	plain := httpResource("acme", "alpha", "alpha.example.com")
	plain.Name, plain.Ssl = "alpha 100%", false
	bRes := mkResource(t, s, plain)
	raw := mkResource(t, s, &corev1.Resource{OrgId: "acme", NiceId: "ssh", Name: "Mid", Protocol: "udp", ProxyPort: proto.Int32(53), Enabled: true})
	mkResource(t, s, httpResource("globex", "alpha", "globex.example.com"))
	exec(t, s, `INSERT INTO targets (resource_id, site_id, ip, port) VALUES ($1, $2, '10.0.0.1', 80)`, raw.GetResourceId(), other.GetSiteId())
	exec(t, s, `INSERT INTO resource_passwords (resource_id, password_hash) VALUES ($1, 'h')`, a.GetResourceId())

	list, total, err := s.ListResources(ctx, core.ResourceFilter{OrgID: "acme"}, nil)
	must(t, err)
	if total != 3 || !slices.Equal(listIDs(list), []int64{a.GetResourceId(), bRes.GetResourceId(), raw.GetResourceId()}) {
		t.Fatalf("all: %v total %d", listIDs(list), total)
	}
	wantMsg(t, "list item", list[0], &corev1.ResourceListItem{
		ResourceId: a.GetResourceId(), Name: "Zeta_1", Ssl: true, FullDomain: proto.String("zeta.example.com"),
		SiteName: proto.String("site site-one"), SiteNiceId: proto.String("site-one"), PasswordId: list[0].PasswordId,
		Sso: true, Http: true, Protocol: "tcp", Enabled: true, NiceId: "zeta",
	})
	if list[0].PasswordId == nil || list[1].PasswordId != nil || list[2].SiteNiceId != nil {
		t.Fatalf("computed fields: %v", list)
	}
	for name, tc := range map[string]struct {
		f     core.ResourceFilter
		page  *corev1.Page
		want  []int64
		total int32
	}{
		"query name":     {core.ResourceFilter{Query: proto.String("ZETA")}, nil, []int64{a.GetResourceId()}, 1},
		"query domain":   {core.ResourceFilter{Query: proto.String("alpha.example")}, nil, []int64{bRes.GetResourceId()}, 1},
		"query wildcard": {core.ResourceFilter{Query: proto.String("%")}, nil, []int64{bRes.GetResourceId()}, 1},
		"query _":        {core.ResourceFilter{Query: proto.String("a_1")}, nil, []int64{a.GetResourceId()}, 1},
		"query nothing":  {core.ResourceFilter{Query: proto.String("nothing")}, nil, nil, 0},
		"https":          {core.ResourceFilter{Protocol: proto.String("https")}, nil, []int64{a.GetResourceId()}, 1},
		"http":           {core.ResourceFilter{Protocol: proto.String("http")}, nil, []int64{bRes.GetResourceId()}, 1},
		"udp":            {core.ResourceFilter{Protocol: proto.String("udp")}, nil, []int64{raw.GetResourceId()}, 1},
		"disabled":       {core.ResourceFilter{Enabled: proto.Bool(false)}, nil, nil, 0},
		"site":           {core.ResourceFilter{SiteID: proto.Int64(site.GetSiteId())}, nil, []int64{a.GetResourceId()}, 1},
		"target's site":  {core.ResourceFilter{SiteID: proto.Int64(other.GetSiteId())}, nil, []int64{raw.GetResourceId()}, 1},
		"by name":        {core.ResourceFilter{SortByName: true}, nil, []int64{bRes.GetResourceId(), raw.GetResourceId(), a.GetResourceId()}, 3},
		"by name desc":   {core.ResourceFilter{SortByName: true, Desc: true}, page(2, 1), []int64{raw.GetResourceId(), bRes.GetResourceId()}, 3},
		"page":           {core.ResourceFilter{}, page(1, 2), []int64{raw.GetResourceId()}, 3},
	} {
		tc.f.OrgID = "acme"
		list, total, err := s.ListResources(ctx, tc.f, tc.page)
		must(t, err)
		if total != tc.total || !slices.Equal(listIDs(list), tc.want) {
			t.Errorf("%s: %v total %d, want %v total %d", name, listIDs(list), total, tc.want, tc.total)
		}
	}
	names, err := s.ResourceNames(ctx, "acme")
	must(t, err)
	if len(names) != 3 || names[0].GetName() != "Zeta_1" || names[2].GetResourceId() != raw.GetResourceId() {
		t.Fatalf("names %v", names)
	}
	names, err = s.ResourceNames(ctx, "nope")
	must(t, err)
	if names == nil || len(names) != 0 {
		t.Fatalf("names of an unknown org: %v", names)
	}
}

func testUpdateResource(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	site := mkSite(t, s, "acme", "site-one", nil)
	r := httpResource("acme", "web", "web.example.com")
	r.SiteId = proto.Int64(site.GetSiteId())
	r = mkResource(t, s, r)
	other := mkResource(t, s, httpResource("acme", "other", "other.example.com"))
	mkResource(t, s, &corev1.Resource{OrgId: "acme", NiceId: "ssh", Name: "SSH", Protocol: "tcp", ProxyPort: proto.Int32(22)})

	got, err := s.UpdateResource(ctx, r.GetResourceId(), func(cur *corev1.Resource) error {
		wantMsg(t, "current", cur, r)
		cur.Name, cur.Sso, cur.TlsServerName = "Renamed", false, proto.String("tls.example.com")
		cur.Headers = []*corev1.Header{{Name: "X-A", Value: "1"}}
		cur.OrgId, cur.ResourceGuid, cur.ResourceId = "hijack", "hijack", 7 // ignored
		return nil
	})
	must(t, err)
	want := proto.Clone(r).(*corev1.Resource)
	want.Name, want.Sso, want.TlsServerName = "Renamed", false, proto.String("tls.example.com")
	want.Headers = []*corev1.Header{{Name: "X-A", Value: "1"}}
	wantMsg(t, "updated", got, want)
	read, err := s.GetResource(ctx, r.GetResourceId())
	must(t, err)
	wantMsg(t, "read back", read, want)

	// Clearing: unset optionals become NULL, an empty list no headers.
	got, err = s.UpdateResource(ctx, r.GetResourceId(), func(cur *corev1.Resource) error {
		cur.TlsServerName, cur.Headers, cur.SiteId = nil, nil, nil
		return nil
	})
	must(t, err)
	if got.TlsServerName != nil || len(got.Headers) != 0 || got.SiteId != nil {
		t.Fatalf("cleared %v", got)
	}

	// Conflicts leave the row as it was; a refusal from change too.
	for name, tc := range map[string]struct {
		change func(*corev1.Resource)
		msg    string
	}{
		"domain":  {func(c *corev1.Resource) { c.FullDomain = other.FullDomain }, "Resource with that domain already exists"},
		"niceId":  {func(c *corev1.Resource) { c.NiceId = "other" }, "A resource with niceId other already exists in this organization"},
		"port":    {func(c *corev1.Resource) { c.Protocol, c.ProxyPort = "tcp", proto.Int32(22) }, "Resource with that protocol and port already exists"},
		"refused": {nil, "no"},
	} {
		_, err := s.UpdateResource(ctx, r.GetResourceId(), func(cur *corev1.Resource) error {
			if tc.change == nil {
				cur.Name = "changed before refusing"
				return core.Errorf(core.CodeInvalid, "no")
			}
			tc.change(cur)
			return nil
		})
		code := core.CodeConflict
		if tc.change == nil {
			code = core.CodeInvalid
		}
		wantErr(t, err, code, tc.msg)
		after, err := s.GetResource(ctx, r.GetResourceId())
		must(t, err)
		if after.GetName() != "Renamed" || after.GetNiceId() != "web" || after.ProxyPort != nil {
			t.Fatalf("%s: a refused update changed the resource: %v", name, after)
		}
	}
	_, err = s.UpdateResource(ctx, 999999, func(*corev1.Resource) error { return nil })
	wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")
}

func testDeleteAndTransferResource(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	one := mkSite(t, s, "acme", "site-one", nil)
	two := mkSite(t, s, "acme", "site-two", nil)
	three := mkSite(t, s, "acme", "site-three", nil)
	r := httpResource("acme", "web", "web.example.com")
	r.SiteId = proto.Int64(one.GetSiteId())
	r = mkResource(t, s, r)
	exec(t, s, `INSERT INTO targets (resource_id, site_id, ip, port) VALUES ($1, $2, '10.0.0.1', 80)`, r.GetResourceId(), one.GetSiteId())
	exec(t, s, `INSERT INTO targets (resource_id, site_id, ip, port) VALUES ($1, $2, '10.0.0.2', 80)`, r.GetResourceId(), three.GetSiteId())

	moved, err := s.TransferResource(ctx, r.GetResourceId(), two.GetSiteId())
	must(t, err)
	if moved.GetSiteId() != two.GetSiteId() {
		t.Fatalf("moved %v", moved)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM targets WHERE site_id = $1`, two.GetSiteId()); n != 1 {
		t.Errorf("%d targets moved to the new site, want the one on the old site", n)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM targets WHERE site_id = $1`, three.GetSiteId()); n != 1 {
		t.Errorf("a target on another site moved")
	}
	_, err = s.TransferResource(ctx, 999999, two.GetSiteId())
	wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")

	must(t, s.DeleteResource(ctx, r.GetResourceId()))
	_, err = s.GetResource(ctx, r.GetResourceId())
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Resource with ID %d not found", r.GetResourceId()))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM targets`) + rowCount(t, s, `SELECT COUNT(*) FROM role_resources`); n != 0 {
		t.Errorf("%d rows outlive the deleted resource", n)
	}
	wantErr(t, s.DeleteResource(ctx, r.GetResourceId()), core.CodeNotFound, fmt.Sprintf("Resource with ID %d not found", r.GetResourceId()))
}
