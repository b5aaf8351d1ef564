package sqlstore

import (
	"context"
	"fmt"
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
