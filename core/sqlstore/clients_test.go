package sqlstore

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// firstFree is an AssignAddress for the store's tests: the first address
// of 100.90.128.0/24 past .1 that neither list holds (the core's own rule
// lives in core; what the store owes is asking it under the org's lock).
func firstFree(sites, clients []string) (string, error) {
	used := append(slices.Clone(sites), clients...)
	for a := netip.MustParseAddr("100.90.128.2"); a.Is4(); a = a.Next() {
		if s := a.String() + "/24"; !slices.Contains(used, s) {
			return s, nil
		}
	}
	return "", fmt.Errorf("full")
}

// fixed is an AssignAddress answering one address.
func fixed(addr string) core.AssignAddress {
	return func(sites, clients []string) (string, error) { return addr, nil }
}

func mkClient(t *testing.T, s *Store, orgID, niceID string) *corev1.OlmClient {
	t.Helper()
	c, err := s.CreateClient(context.Background(), &corev1.OlmClient{OrgId: orgID, NiceId: niceID, Name: "client " + niceID,
		OlmId: proto.String("olm-" + orgID + "-" + niceID), Type: core.ClientType}, core.Olm{ID: "olm-" + orgID + "-" + niceID, SecretHash: "$argon2id$h"}, firstFree)
	must(t, err)
	return c
}

func testClients(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	site, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: "edge", Name: "edge", Type: core.SiteLocal,
		Address: ptr("100.90.128.2/24")}, nil)
	must(t, err)

	c := mkClient(t, s, "acme", "laptop")
	wantMsg(t, "created", c, &corev1.OlmClient{ClientId: c.GetClientId(), OrgId: "acme", NiceId: "laptop", Name: "client laptop",
		OlmId: proto.String("olm-acme-laptop"), Subnet: "100.90.128.3/24", Type: core.ClientType})
	if got := rowCount(t, s, `SELECT COUNT(*) FROM olms WHERE olm_id = 'olm-acme-laptop' AND secret_hash = '$argon2id$h' AND client_id = $1`, c.GetClientId()); got != 1 {
		t.Fatalf("olm rows %d", got)
	}
	// The site and client addresses are the org's; another org's are not.
	addrs, err := s.OrgAddresses(ctx, "acme")
	must(t, err)
	if !slices.Equal(addrs, []string{"100.90.128.2/24", "100.90.128.3/24"}) {
		t.Fatalf("org addresses %v", addrs)
	}
	if g := mkClient(t, s, "globex", "laptop"); g.GetSubnet() != "100.90.128.2/24" {
		t.Fatalf("globex's first client %v", g)
	}
	// Refusals change nothing.
	newClient := func(niceID, olmID string) *corev1.OlmClient {
		return &corev1.OlmClient{OrgId: "acme", NiceId: niceID, Name: "x", OlmId: &olmID, Type: core.ClientType}
	}
	_, err = s.CreateClient(ctx, newClient("laptop", "olm-new"), core.Olm{ID: "olm-new", SecretHash: "h"}, firstFree)
	wantErr(t, err, core.CodeConflict, `A client with niceId "laptop" already exists`)
	_, err = s.CreateClient(ctx, newClient("other", "olm-globex-laptop"), core.Olm{ID: "olm-globex-laptop", SecretHash: "h"}, firstFree)
	wantErr(t, err, core.CodeConflict, "OLM with ID olm-globex-laptop already exists")
	_, err = s.CreateClient(ctx, newClient("other", "olm-new"), core.Olm{ID: "olm-new", SecretHash: "h"}, fixed("100.90.128.3/24"))
	wantErr(t, err, core.CodeConflict, "Subnet 100.90.128.3/24 already exists in clients")
	_, err = s.CreateClient(ctx, &corev1.OlmClient{OrgId: "nope", NiceId: "x", Name: "x", Type: core.ClientType},
		core.Olm{ID: "olm-x", SecretHash: "h"}, firstFree)
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	// A site may not take a client's address.
	_, err = s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: "edge2", Name: "e", Type: core.SiteLocal,
		Address: ptr("100.90.128.3/24")}, nil)
	wantErr(t, err, core.CodeConflict, "Address 100.90.128.3/24 is already in use in this organization")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM clients WHERE org_id = 'acme'`); n != 1 {
		t.Fatalf("%d acme clients after refusals", n)
	}

	// Detail: the Admin role is linked; a user's device reads its user.
	d, err := s.ClientDetail(ctx, c.GetClientId())
	must(t, err)
	if len(d.GetRoles()) != 1 || d.GetRoles()[0].GetName() != core.AdminRoleName || d.UserEmail != nil {
		t.Fatalf("detail %v", d)
	}
	_, err = s.AddOrgMember(ctx, "acme", &corev1.ResourceUser{UserId: "u1", Username: "alice", Type: "internal", Email: ptr("alice@example.com")})
	must(t, err)
	dev, err := s.CreateClient(ctx, &corev1.OlmClient{OrgId: "acme", NiceId: "phone", Name: "Phone", UserId: ptr("u1"), Type: core.ClientType},
		core.Olm{ID: "olm-phone", SecretHash: "h"}, firstFree)
	must(t, err)
	d, err = s.ClientDetail(ctx, dev.GetClientId())
	must(t, err)
	if d.GetUserEmail() != "alice@example.com" || d.GetUserUsername() != "alice" || d.GetUserType() != "internal" {
		t.Fatalf("device detail %v", d)
	}

	// Lists: machine clients or devices, by state, query and order.
	list := func(f core.ClientFilter) []string {
		t.Helper()
		f.OrgID = "acme"
		items, total, err := s.ListClients(ctx, f, nil)
		must(t, err)
		var out []string
		for _, it := range items {
			out = append(out, it.GetNiceId())
		}
		if int(total) != len(out) {
			t.Fatalf("total %d for %d items", total, len(out))
		}
		return out
	}
	other := mkClient(t, s, "acme", "build-box")
	if got := list(core.ClientFilter{Active: true}); !slices.Equal(got, []string{"laptop", "build-box"}) {
		t.Fatalf("active %v", got)
	}
	if got := list(core.ClientFilter{Active: true, UserDevices: true, Query: ptr("ALICE@")}); !slices.Equal(got, []string{"phone"}) {
		t.Fatalf("devices %v", got)
	}
	items, _, err := s.ListClients(ctx, core.ClientFilter{OrgID: "acme", UserDevices: true, Active: true}, nil)
	must(t, err)
	if it := items[0]; it.GetUsername() != "alice" || it.GetUserEmail() != "alice@example.com" || it.GetOrgName() != "Org acme" || it.GetOlmArchived() {
		t.Fatalf("device item %v", it)
	}

	// Update: state and names; the id, org, user, OLM and subnet stay.
	up, err := s.UpdateClient(ctx, other.GetClientId(), func(c *corev1.OlmClient) error {
		c.Archived, c.Name, c.Subnet, c.OrgId = true, "Build box", "1.2.3.4/32", "globex"
		return nil
	})
	must(t, err)
	if !up.GetArchived() || up.GetName() != "Build box" || up.GetSubnet() != other.GetSubnet() || up.GetOrgId() != "acme" {
		t.Fatalf("updated %v", up)
	}
	if got := list(core.ClientFilter{Active: true}); !slices.Equal(got, []string{"laptop"}) {
		t.Fatalf("active after archive %v", got)
	}
	if got := list(core.ClientFilter{Archived: true, Active: true, SortBy: "name", Desc: true}); !slices.Equal(got, []string{"laptop", "build-box"}) {
		t.Fatalf("active+archived by name desc %v", got)
	}
	_, err = s.UpdateClient(ctx, other.GetClientId(), func(c *corev1.OlmClient) error { c.NiceId = "laptop"; return nil })
	wantErr(t, err, core.CodeConflict, `A client with niceId "laptop" already exists`)
	_, err = s.UpdateClient(ctx, 999999, func(*corev1.OlmClient) error { return nil })
	wantErr(t, err, core.CodeNotFound, "Client with ID 999999 not found")

	// Delete: the OLM and the role links go with it.
	must(t, s.DeleteClient(ctx, c.GetClientId()))
	wantErr(t, s.DeleteClient(ctx, c.GetClientId()), core.CodeNotFound, fmt.Sprintf("Client with ID %d not found", c.GetClientId()))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM olms WHERE client_id = $1`, c.GetClientId()) +
		rowCount(t, s, `SELECT COUNT(*) FROM role_clients WHERE client_id = $1`, c.GetClientId()); n != 0 {
		t.Fatalf("%d rows left of the deleted client", n)
	}
	_, err = s.ClientOrg(ctx, c.GetClientId())
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Client with ID %d not found", c.GetClientId()))
	// Deleting the org removes its clients.
	must(t, s.DeleteSite(ctx, site.GetSiteId()))
	must(t, s.DeleteOrg(ctx, "acme"))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM clients WHERE org_id = 'acme'`); n != 0 {
		t.Fatalf("%d clients of a deleted org", n)
	}
}

// testClientAddressesUnderConcurrency creates clients and sites of one org
// at once: every overlay address is handed out once, and a requested
// address raced for by many goes to exactly one.
func testClientAddressesUnderConcurrency(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			_, err := s.CreateClient(ctx, &corev1.OlmClient{OrgId: "acme", NiceId: fmt.Sprintf("c%d", i), Name: "c", Type: core.ClientType},
				core.Olm{ID: fmt.Sprintf("olm-%d", i), SecretHash: "h"}, firstFree)
			errs <- err
		})
		// Sites take addresses from the top of the subnet meanwhile.
		wg.Go(func() {
			_, err := s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: fmt.Sprintf("s%d", i), Name: "s", Type: core.SiteLocal,
				Address: ptr(fmt.Sprintf("100.90.128.%d/24", 250-i))}, nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent create: %v", err)
		}
	}
	addrs, err := s.OrgAddresses(ctx, "acme")
	must(t, err)
	slices.Sort(addrs)
	if len(addrs) != 2*n || len(slices.Compact(slices.Clone(addrs))) != 2*n {
		t.Fatalf("%d addresses, %d distinct, want %d: %v", len(addrs), len(slices.Compact(slices.Clone(addrs))), 2*n, addrs)
	}
	// A site and clients race for one address: one wins.
	var won, lost int
	var mu sync.Mutex
	for i := range 10 {
		wg.Go(func() {
			var err error
			if i == 0 {
				_, err = s.CreateSite(ctx, &corev1.Site{OrgId: "acme", NiceId: "race", Name: "s", Type: core.SiteLocal, Address: ptr("100.90.128.100/24")}, nil)
			} else {
				_, err = s.CreateClient(ctx, &corev1.OlmClient{OrgId: "acme", NiceId: fmt.Sprintf("race%d", i), Name: "c", Type: core.ClientType},
					core.Olm{ID: fmt.Sprintf("olm-race-%d", i), SecretHash: "h"}, func(sites, clients []string) (string, error) {
						if slices.Contains(sites, "100.90.128.100/24") || slices.Contains(clients, "100.90.128.100/24") {
							return "", core.Errorf(core.CodeConflict, "taken")
						}
						return "100.90.128.100/24", nil
					})
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case core.ErrorCode(err) == core.CodeConflict:
				lost++
			default:
				t.Errorf("race: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != 9 {
		t.Fatalf("%d won, %d lost the address, want 1 and 9", won, lost)
	}
}

func mkSiteResource(t *testing.T, s *Store, r *corev1.SiteResource, g core.SiteResourceGrants) *corev1.SiteResource {
	t.Helper()
	stored, err := s.CreateSiteResource(context.Background(), r, g, noAlias)
	must(t, err)
	return stored
}

// noAlias gives no alias address; aliasAt the first one not used.
func noAlias(*corev1.SiteResource, []string) (*string, error) { return nil, nil }

func aliasAt(r *corev1.SiteResource, used []string) (*string, error) {
	if r.Alias == nil {
		return nil, nil
	}
	for i := 8; ; i++ {
		if a := fmt.Sprintf("100.96.128.%d", i); !slices.Contains(used, a) {
			return &a, nil
		}
	}
}

func hostResource(orgID, niceID string, siteID int64) *corev1.SiteResource {
	return &corev1.SiteResource{OrgId: orgID, SiteId: siteID, NiceId: niceID, Name: "nas " + niceID, Mode: core.ModeHost,
		Destination: ptr("10.0.0.20"), Enabled: true, TcpPortRangeString: "*", UdpPortRangeString: "*"}
}

func testSiteResources(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	site := mkSite(t, s, "acme", "edge", nil)
	foreign := mkSite(t, s, "globex", "edge", nil)
	mkResource(t, s, httpResource("acme", "web", "web.example.com"))

	in := hostResource("acme", "nas", site.GetSiteId())
	in.Alias = ptr("nas.internal")
	r, err := s.CreateSiteResource(ctx, in, core.SiteResourceGrants{}, aliasAt)
	must(t, err)
	wantMsg(t, "created", r, &corev1.SiteResource{SiteResourceId: r.GetSiteResourceId(), SiteId: site.GetSiteId(), OrgId: "acme",
		NiceId: "nas", Name: "nas nas", Mode: core.ModeHost, Destination: ptr("10.0.0.20"), Enabled: true, Alias: ptr("nas.internal"),
		AliasAddress: ptr("100.96.128.8"), TcpPortRangeString: "*", UdpPortRangeString: "*"})
	got, err := s.GetSiteResource(ctx, r.GetSiteResourceId())
	must(t, err)
	wantMsg(t, "get", got, r)
	if roles, _ := s.SiteResourceRoles(ctx, r.GetSiteResourceId()); len(roles) != 1 || roles[0].GetName() != core.AdminRoleName {
		t.Fatalf("roles of a new site resource: %v", roles)
	}

	// Refusals: another org's site, a niceId of a resource or site
	// resource of the org, an alias of the org.
	_, err = s.CreateSiteResource(ctx, hostResource("acme", "x", foreign.GetSiteId()), core.SiteResourceGrants{}, noAlias)
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", foreign.GetSiteId()))
	for _, nice := range []string{"web", "nas"} {
		_, err = s.CreateSiteResource(ctx, hostResource("acme", nice, site.GetSiteId()), core.SiteResourceGrants{}, noAlias)
		wantErr(t, err, core.CodeConflict, "A resource with niceId "+nice+" already exists in this organization")
	}
	_, err = s.CreateResource(ctx, &corev1.Resource{OrgId: "acme", NiceId: "nas", ResourceGuid: "g2", Name: "x", Http: true, Protocol: "tcp"})
	wantErr(t, err, core.CodeConflict, "A resource with niceId nas already exists in this organization")
	dup := hostResource("acme", "nas2", site.GetSiteId())
	dup.Alias = ptr("nas.internal")
	_, err = s.CreateSiteResource(ctx, dup, core.SiteResourceGrants{}, aliasAt)
	wantErr(t, err, core.CodeConflict, "Alias nas.internal is already in use in this organization")
	// Grants that do not hold refuse the whole create.
	_, err = s.CreateSiteResource(ctx, hostResource("acme", "nas3", site.GetSiteId()), core.SiteResourceGrants{RoleIDs: []int64{999999}}, noAlias)
	wantErr(t, err, core.CodeNotFound, "One or more roles not found")
	_, err = s.CreateSiteResource(ctx, hostResource("acme", "nas3", site.GetSiteId()), core.SiteResourceGrants{UserIDs: []string{"nobody"}}, noAlias)
	wantErr(t, err, core.CodeForbidden, "Key does not have access to one or more specified users")
	gc := mkClient(t, s, "globex", "c")
	_, err = s.CreateSiteResource(ctx, hostResource("acme", "nas3", site.GetSiteId()), core.SiteResourceGrants{ClientIDs: []int64{gc.GetClientId()}}, noAlias)
	wantErr(t, err, core.CodeForbidden, "Key does not have access to one or more specified clients")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM site_resources`); n != 1 {
		t.Fatalf("%d site resources after refusals", n)
	}
	// A second alias gets the next address.
	other := hostResource("acme", "db", site.GetSiteId())
	other.Alias = ptr("db.internal")
	other = must2(t)(s.CreateSiteResource(ctx, other, core.SiteResourceGrants{}, aliasAt))
	if other.GetAliasAddress() != "100.96.128.9" {
		t.Fatalf("second alias address %v", other.AliasAddress)
	}

	// Lists.
	cidr := &corev1.SiteResource{OrgId: "acme", SiteId: site.GetSiteId(), NiceId: "lan", Name: "LAN", Mode: core.ModeCIDR,
		Destination: ptr("192.168.1.0/24"), Enabled: true, TcpPortRangeString: "22,80-90", UdpPortRangeString: ""}
	mkSiteResource(t, s, cidr, core.SiteResourceGrants{})
	list := func(f core.SiteResourceFilter) []string {
		t.Helper()
		f.OrgID = "acme"
		items, total, err := s.ListSiteResources(ctx, f, page(2, 0))
		must(t, err)
		var out []string
		for _, it := range items {
			out = append(out, it.GetNiceId())
		}
		if len(out) == 2 && total < 2 || len(out) < 2 && int(total) != len(out) {
			t.Fatalf("total %d for %v", total, out)
		}
		return out
	}
	if got := list(core.SiteResourceFilter{}); !slices.Equal(got, []string{"nas", "db"}) {
		t.Fatalf("first page %v", got)
	}
	if got := list(core.SiteResourceFilter{Mode: ptr("cidr")}); !slices.Equal(got, []string{"lan"}) {
		t.Fatalf("cidr %v", got)
	}
	if got := list(core.SiteResourceFilter{Query: ptr("192.168"), SiteID: ptr(site.GetSiteId())}); !slices.Equal(got, []string{"lan"}) {
		t.Fatalf("query %v", got)
	}
	if got := list(core.SiteResourceFilter{SortByName: true}); !slices.Equal(got, []string{"lan", "db"}) {
		t.Fatalf("by name %v", got)
	}
	items, _, err := s.ListSiteResources(ctx, core.SiteResourceFilter{OrgID: "acme", SiteID: ptr(foreign.GetSiteId())}, nil)
	must(t, err)
	if len(items) != 0 {
		t.Fatalf("another org's site lists %v", items)
	}
	items, _, err = s.ListSiteResources(ctx, core.SiteResourceFilter{OrgID: "acme", Query: ptr("nas")}, nil)
	must(t, err)
	if it := items[0]; it.GetSiteName() != "site edge" || it.GetSiteNiceId() != "edge" {
		t.Fatalf("item %v", it)
	}

	// Update: a change is checked against the others, the id and org stay.
	up, err := s.UpdateSiteResource(ctx, r.GetSiteResourceId(), func(r *corev1.SiteResource) error {
		r.Name, r.OrgId, r.Alias, r.AliasAddress = "NAS", "globex", nil, nil
		return nil
	}, aliasAt)
	must(t, err)
	if up.GetName() != "NAS" || up.GetOrgId() != "acme" || up.Alias != nil || up.AliasAddress != nil {
		t.Fatalf("updated %v", up)
	}
	_, err = s.UpdateSiteResource(ctx, r.GetSiteResourceId(), func(r *corev1.SiteResource) error { r.Alias = ptr("db.internal"); return nil }, aliasAt)
	wantErr(t, err, core.CodeConflict, "Alias db.internal is already in use in this organization")
	_, err = s.UpdateSiteResource(ctx, r.GetSiteResourceId(), func(r *corev1.SiteResource) error { r.SiteId = foreign.GetSiteId(); return nil }, noAlias)
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Site with ID %d not found", foreign.GetSiteId()))
	_, err = s.UpdateSiteResource(ctx, 999999, func(*corev1.SiteResource) error { return nil }, noAlias)
	wantErr(t, err, core.CodeNotFound, "Site resource not found")

	// Delete; deleting its site removes the rest.
	must(t, s.DeleteSiteResource(ctx, r.GetSiteResourceId()))
	wantErr(t, s.DeleteSiteResource(ctx, r.GetSiteResourceId()), core.CodeNotFound, "Site resource not found")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_site_resources WHERE site_resource_id = $1`, r.GetSiteResourceId()); n != 0 {
		t.Fatalf("%d role links of a deleted site resource", n)
	}
	must(t, s.DeleteSite(ctx, site.GetSiteId()))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM site_resources`); n != 0 {
		t.Fatalf("%d site resources of a deleted site", n)
	}
}

// must2 returns a function that fails t on an error and passes the value.
func must2(t *testing.T) func(*corev1.SiteResource, error) *corev1.SiteResource {
	return func(r *corev1.SiteResource, err error) *corev1.SiteResource {
		t.Helper()
		must(t, err)
		return r
	}
}

func testSiteResourceGrants(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	site := mkSite(t, s, "acme", "edge", nil)
	ops := mkRole(t, s, "acme", "Ops")
	admin := roleID(t, s, "acme", core.AdminRoleName)
	_, err := s.AddOrgMember(ctx, "acme", &corev1.ResourceUser{UserId: "u1", Username: "alice", Type: "internal"})
	must(t, err)
	_, err = s.AddOrgMember(ctx, "globex", &corev1.ResourceUser{UserId: "u2", Username: "bob", Type: "internal"})
	must(t, err)
	c1, c2 := mkClient(t, s, "acme", "c1"), mkClient(t, s, "acme", "c2")
	foreign := mkClient(t, s, "globex", "c1")
	dev, err := s.CreateClient(ctx, &corev1.OlmClient{OrgId: "acme", NiceId: "phone", Name: "Phone", UserId: ptr("u1"), Type: core.ClientType},
		core.Olm{ID: "olm-phone", SecretHash: "h"}, firstFree)
	must(t, err)

	r := mkSiteResource(t, s, hostResource("acme", "nas", site.GetSiteId()),
		core.SiteResourceGrants{RoleIDs: []int64{ops}, UserIDs: []string{"u1"}, ClientIDs: []int64{c1.GetClientId()}})
	id := r.GetSiteResourceId()
	clientIDs := func() []int64 {
		t.Helper()
		list, err := s.SiteResourceClients(ctx, id)
		must(t, err)
		var out []int64
		for _, c := range list {
			out = append(out, c.GetClientId())
		}
		return out
	}
	roles, err := s.SiteResourceRoles(ctx, id)
	must(t, err)
	users, err := s.SiteResourceUsers(ctx, id)
	must(t, err)
	if len(roles) != 2 || roles[0].GetRoleId() != admin || roles[1].GetRoleId() != ops || len(users) != 1 || users[0].GetUsername() != "alice" ||
		!slices.Equal(clientIDs(), []int64{c1.GetClientId()}) {
		t.Fatalf("grants at create: roles %v users %v clients %v", roles, users, clientIDs())
	}
	list, err := s.SiteResourceClients(ctx, id)
	must(t, err)
	wantMsg(t, "client item", list[0], &corev1.SiteResourceClient{ClientId: c1.GetClientId(), Name: "client c1", Subnet: c1.GetSubnet()})

	// Roles and users follow the rules of public resources, in their own tables.
	wantErr(t, s.SetSiteResourceRoles(ctx, id, []int64{admin}), core.CodeInvalid, "Admin role cannot be assigned to site resources")
	wantErr(t, s.AddSiteResourceRole(ctx, id, ops), core.CodeConflict, "Role already assigned to site resource")
	wantErr(t, s.RemoveSiteResourceRole(ctx, id, admin), core.CodeInvalid, "Admin role cannot be removed from site resources")
	must(t, s.RemoveSiteResourceRole(ctx, id, ops))
	wantErr(t, s.RemoveSiteResourceRole(ctx, id, ops), core.CodeNotFound, "Role not found in site resource")
	wantErr(t, s.AddSiteResourceRole(ctx, id, roleID(t, s, "globex", core.MemberRoleName)), core.CodeNotFound,
		"Role not found or does not belong to the same organization")
	wantErr(t, s.SetSiteResourceUsers(ctx, id, []string{"u1", "u2"}), core.CodeForbidden, "Key does not have access to one or more specified users")
	wantErr(t, s.AddSiteResourceUser(ctx, id, "u1"), core.CodeConflict, "User already assigned to site resource")
	must(t, s.SetSiteResourceUsers(ctx, id, nil))
	wantErr(t, s.RemoveSiteResourceUser(ctx, id, "u1"), core.CodeNotFound, "User not found in site resource")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_resources`) + rowCount(t, s, `SELECT COUNT(*) FROM user_resources`); n != 0 {
		t.Fatalf("%d public resource grants written", n)
	}

	// Clients: machine clients of the org only.
	must(t, s.SetSiteResourceClients(ctx, id, []int64{c2.GetClientId(), c1.GetClientId()}))
	if got := clientIDs(); !slices.Equal(got, []int64{c1.GetClientId(), c2.GetClientId()}) {
		t.Fatalf("clients after set %v", got)
	}
	wantErr(t, s.SetSiteResourceClients(ctx, id, []int64{c1.GetClientId(), foreign.GetClientId()}), core.CodeForbidden,
		"Key does not have access to one or more specified clients")
	wantErr(t, s.SetSiteResourceClients(ctx, id, []int64{999999}), core.CodeForbidden, "Key does not have access to one or more specified clients")
	wantErr(t, s.SetSiteResourceClients(ctx, id, []int64{dev.GetClientId()}), core.CodeInvalid, "Cannot add clients that are associated with a user")
	wantErr(t, s.AddSiteResourceClient(ctx, id, c1.GetClientId()), core.CodeConflict, "Client already assigned to site resource")
	wantErr(t, s.RemoveSiteResourceClient(ctx, id, dev.GetClientId()), core.CodeInvalid, "Cannot remove clients that are associated with a user")
	must(t, s.RemoveSiteResourceClient(ctx, id, c1.GetClientId()))
	wantErr(t, s.RemoveSiteResourceClient(ctx, id, c1.GetClientId()), core.CodeNotFound, "Client not found in site resource")
	must(t, s.AddSiteResourceClient(ctx, id, c1.GetClientId()))
	must(t, s.SetSiteResourceClients(ctx, id, nil))
	if got := clientIDs(); len(got) != 0 {
		t.Fatalf("clients after clearing %v", got)
	}

	// A client granted several site resources at once: those of its org,
	// the ones it has already skipped.
	r2 := mkSiteResource(t, s, hostResource("acme", "db", site.GetSiteId()), core.SiteResourceGrants{ClientIDs: []int64{c1.GetClientId()}})
	added, err := s.AddClientSiteResources(ctx, c1.GetClientId(), []int64{id, r2.GetSiteResourceId()})
	must(t, err)
	if !slices.Equal(added, []int64{id}) {
		t.Fatalf("added %v", added)
	}
	_, err = s.AddClientSiteResources(ctx, c1.GetClientId(), []int64{id, r2.GetSiteResourceId()})
	wantErr(t, err, core.CodeConflict, "Client is already assigned to all specified site resources")
	gsite := mkSite(t, s, "globex", "edge", nil)
	gr := mkSiteResource(t, s, hostResource("globex", "nas", gsite.GetSiteId()), core.SiteResourceGrants{})
	for _, ids := range [][]int64{{gr.GetSiteResourceId()}, {id, 999999}} {
		_, err = s.AddClientSiteResources(ctx, c2.GetClientId(), ids)
		wantErr(t, err, core.CodeNotFound, "One or more site resources not found")
	}
	_, err = s.AddClientSiteResources(ctx, dev.GetClientId(), []int64{id})
	wantErr(t, err, core.CodeInvalid, "This endpoint only supports machine (non-user) clients; the specified client is associated with a user")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM client_site_resources WHERE client_id <> $1`, c1.GetClientId()); n != 0 {
		t.Fatalf("%d links after refused grants", n)
	}
	// Deleting a client removes its grants.
	must(t, s.DeleteClient(ctx, c1.GetClientId()))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM client_site_resources`); n != 0 {
		t.Fatalf("%d links of a deleted client", n)
	}
}
