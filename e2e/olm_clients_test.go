package e2e

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// The client routes (N44-N54): defaults, create with a generated or a
// sent OLM credential, lists of machine clients and of user devices,
// get, update, archive, block, delete.
func TestClientRoutes(t *testing.T) {
	f := newFixture(t)
	url := f.url + "/v1"
	// The fixture's client took acme's first address.
	var defaults struct {
		OlmID     string `json:"olmId"`
		OlmSecret string `json:"olmSecret"`
		Subnet    string `json:"subnet"`
	}
	call(t, "GET", url+"/org/acme/pick-client-defaults", f.root, nil).want(t, 200, "Client defaults chosen successfully").decode(t, &defaults)
	if !regexp.MustCompile(`^[a-z0-9]{15}$`).MatchString(defaults.OlmID) || !regexp.MustCompile(`^[a-z0-9]{48}$`).MatchString(defaults.OlmSecret) ||
		defaults.Subnet != "100.90.128.2" {
		t.Fatalf("defaults %+v", defaults)
	}
	// Nothing was reserved: a create with the defaults gets that address;
	// the secret sent is never answered.
	var box map[string]any
	call(t, "PUT", url+"/org/acme/client", f.root, map[string]any{"name": "Build box", "olmId": defaults.OlmID,
		"secret": defaults.OlmSecret, "subnet": defaults.Subnet, "type": "olm"}).want(t, 201, "Client created successfully").decode(t, &box)
	wantJSON(t, "created", box, `{"orgId":"acme","name":"Build box","olmId":"`+defaults.OlmID+`","subnet":"100.90.128.2/24",
		"type":"olm","online":false,"archived":false,"blocked":false,"userId":null,"approvalState":null,"megabytesIn":0}`)
	if _, ok := box["secret"]; ok {
		t.Fatalf("a sent secret was answered: %v", box)
	}
	boxID := itoa(int64(box["clientId"].(float64)))
	// A generated secret is answered this once.
	var laptop map[string]any
	call(t, "PUT", url+"/org/acme/client", f.root, `{"name":"Laptop"}`).want(t, 201, "").decode(t, &laptop)
	if s, _ := laptop["secret"].(string); len(s) != 48 || laptop["subnet"] != "100.90.128.3/24" {
		t.Fatalf("created %v", laptop)
	}
	laptopID := itoa(int64(laptop["clientId"].(float64)))
	r := call(t, "GET", url+"/client/"+laptopID, f.root, nil).want(t, 200, "Client retrieved successfully")
	if regexp.MustCompile(`"secret"|[Hh]ash`).Match(r.body) {
		t.Fatalf("get shows a secret: %s", r.body)
	}
	var got map[string]any
	r.decode(t, &got)
	wantJSON(t, "get", got, `{"name":"Laptop","subnet":"100.90.128.3/24","olmVersion":null,"userEmail":null,"roles":[{"roleId":`+
		adminRole(t, f, f.acme)+`,"name":"Admin"}]}`)

	for body, want := range map[string]struct {
		status int
		msg    string
	}{
		`{"name":"x","subnet":"` + defaults.Subnet + `"}`: {409, "Subnet 100.90.128.2/24 already exists in clients"},
		`{"name":"x","olmId":"` + defaults.OlmID + `"}`:   {409, "OLM with ID " + defaults.OlmID + " already exists"},
		`{"name":"x","subnet":"100.90.129.5"}`:            {400, "not in the organization subnet"},
		`{"name":"x","subnet":"nope"}`:                    {400, `"subnet"`},
		`{"name":"x","type":"wireguard"}`:                 {400, `"type"`},
		`{"name":"","subnet":"100.90.128.9"}`:             {400, "name"},
		`{"name":"x","secret":"short"}`:                   {400, "secret"},
	} {
		call(t, "PUT", url+"/org/acme/client", f.root, body).want(t, want.status, want.msg)
	}
	// A site cannot take a client's address either.
	call(t, "PUT", url+"/org/acme/site", f.root, `{"name":"s","type":"local","address":"100.90.128.3"}`).
		want(t, 409, "Address 100.90.128.3/24 is already in use")

	// A user's device (made in the store: devices enrol through OLM, not this API).
	store := f.svc.Store().(*sqlstore.Store)
	if _, err := store.AddOrgMember(context.Background(), "acme", &corev1.ResourceUser{UserId: "u-dev", Username: "dana", Type: "internal",
		Email: proto.String("dana@example.com")}); err != nil {
		t.Fatal(err)
	}
	device, err := store.CreateClient(context.Background(), &corev1.OlmClient{OrgId: "acme", NiceId: "danas-phone", Name: "Phone",
		UserId: proto.String("u-dev"), Type: core.ClientType}, core.Olm{ID: "olm-dana", SecretHash: "h"},
		func(_, _ []string) (string, error) { return "100.90.128.200/24", nil })
	if err != nil {
		t.Fatal(err)
	}
	deviceID := itoa(device.GetClientId())

	list := func(path, query string) []string {
		t.Helper()
		var l struct {
			Clients    []map[string]any `json:"clients"`
			Devices    []map[string]any `json:"devices"`
			Pagination map[string]int   `json:"pagination"`
		}
		call(t, "GET", url+path+query, f.root, nil).want(t, 200, "").decode(t, &l)
		var names []string
		for _, c := range append(l.Clients, l.Devices...) {
			names = append(names, c["name"].(string))
		}
		return names
	}
	if got := list("/org/acme/clients", ""); !slices.Equal(got, []string{"acme-client", "Build box", "Laptop"}) {
		t.Fatalf("clients %v", got)
	}
	if got := list("/org/acme/user-devices", "?query=DANA@"); !slices.Equal(got, []string{"Phone"}) {
		t.Fatalf("devices %v", got)
	}
	var devices struct {
		Devices    []map[string]any `json:"devices"`
		Pagination map[string]int   `json:"pagination"`
	}
	call(t, "GET", url+"/org/acme/user-devices?page=1&pageSize=5", f.root, nil).want(t, 200, "User devices retrieved successfully").decode(t, &devices)
	wantJSON(t, "device item", devices.Devices[0], `{"name":"Phone","userId":"u-dev","username":"dana","userEmail":"dana@example.com",
		"orgName":"acme","olmArchived":false,"archived":false,"blocked":false}`)
	if devices.Pagination["total"] != 1 || devices.Pagination["page"] != 1 || devices.Pagination["pageSize"] != 5 {
		t.Fatalf("pagination %v", devices.Pagination)
	}
	if got := list("/org/acme/clients", "?sort_by=name&order=desc&limit=2"); !slices.Equal(got, []string{"Laptop", "Build box"}) {
		t.Fatalf("sorted %v", got)
	}
	call(t, "GET", url+"/org/acme/clients?status=gone", f.root, nil).want(t, 400, `"status"`)
	call(t, "GET", url+"/org/acme/clients?sort_by=size", f.root, nil).want(t, 400, `"sort_by"`)

	// Update: data is an array holding the stored client.
	r = call(t, "POST", url+"/client/"+boxID, f.root, `{"name":"Builder","niceId":"builder"}`).want(t, 200, "Client updated successfully")
	var updated []map[string]any
	r.decode(t, &updated)
	if len(updated) != 1 || updated[0]["name"] != "Builder" || updated[0]["niceId"] != "builder" || updated[0]["subnet"] != "100.90.128.2/24" {
		t.Fatalf("updated %s", r.env.Data)
	}
	call(t, "POST", url+"/client/"+laptopID, f.root, `{"niceId":"builder"}`).want(t, 409, `A client with niceId "builder" already exists`)
	// niceIds are per org: globex may use it.
	call(t, "POST", url+"/client/"+f.globex["clientId"], f.root, `{"niceId":"builder"}`).want(t, 200, "")
	call(t, "POST", url+"/client/"+boxID, f.root, `{}`).want(t, 400, "At least one field")

	// Archive, block: each answers the stored client; twice is a 400.
	for _, step := range []struct{ path, want, again string }{
		{"archive", `{"archived":true}`, "is already archived"},
		{"block", `{"blocked":true,"approvalState":"denied"}`, "is already blocked"},
	} {
		var c map[string]any
		call(t, "POST", url+"/client/"+boxID+"/"+step.path, f.root, nil).want(t, 200, "").decode(t, &c)
		wantJSON(t, step.path, c, step.want)
		call(t, "POST", url+"/client/"+boxID+"/"+step.path, f.root, nil).want(t, 400, step.again)
	}
	if got := list("/org/acme/clients", ""); slices.Contains(got, "Builder") {
		t.Fatalf("an archived client is listed as active: %v", got)
	}
	if got := list("/org/acme/clients", "?status=archived,blocked"); !slices.Equal(got, []string{"Builder"}) {
		t.Fatalf("archived or blocked %v", got)
	}
	for _, step := range []struct{ path, want, again string }{
		{"unarchive", `{"archived":false}`, "is not archived"},
		{"unblock", `{"blocked":false,"approvalState":null}`, "is not blocked"},
	} {
		var c map[string]any
		call(t, "POST", url+"/client/"+boxID+"/"+step.path, f.root, nil).want(t, 200, "Client "+step.path).decode(t, &c)
		wantJSON(t, step.path, c, step.want)
		call(t, "POST", url+"/client/"+boxID+"/"+step.path, f.root, nil).want(t, 400, step.again)
	}

	// Delete: a device is archived, not deleted; a machine client goes.
	call(t, "DELETE", url+"/client/"+deviceID, f.root, nil).want(t, 400, "User clients must be archived instead")
	call(t, "POST", url+"/client/"+deviceID+"/archive", f.root, nil).want(t, 200, "")
	r = call(t, "DELETE", url+"/client/"+boxID, f.root, nil).want(t, 200, "Client deleted successfully")
	if string(r.env.Data) != "null" {
		t.Fatalf("delete data %s", r.env.Data)
	}
	call(t, "GET", url+"/client/"+boxID, f.root, nil).want(t, 404, "Client with ID "+boxID+" not found")
	// Its address is free again.
	call(t, "GET", url+"/org/acme/pick-client-defaults", f.root, nil).want(t, 200, "").decode(t, &defaults)
	if defaults.Subnet != "100.90.128.2" {
		t.Fatalf("after delete, defaults %+v", defaults)
	}
}

// Creates of many clients at once over HTTP get distinct addresses.
func TestConcurrentClientCreatesOverHTTP(t *testing.T) {
	f := newFixture(t)
	const n = 12
	subnets := make(chan string, n)
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			var c struct {
				Subnet string `json:"subnet"`
			}
			call(t, "PUT", f.url+"/v1/org/globex/client", f.root, map[string]any{"name": "c" + itoa(int64(i))}).want(t, 201, "").decode(t, &c)
			subnets <- c.Subnet
		}()
	}
	for range n {
		<-done
	}
	close(subnets)
	seen := map[string]bool{}
	for s := range subnets {
		if seen[s] {
			t.Fatalf("address %s handed out twice", s)
		}
		seen[s] = true
	}
	if len(seen) != n {
		t.Fatalf("%d addresses for %d clients", len(seen), n)
	}
}

// adminRole returns the id of the org's Admin role, as the API lists it.
func adminRole(t *testing.T, f *fixture, params map[string]string) string {
	t.Helper()
	var roles struct {
		Roles []struct {
			RoleID int64  `json:"roleId"`
			Name   string `json:"name"`
		} `json:"roles"`
	}
	call(t, "GET", f.url+"/v1/site-resource/"+params["siteResourceId"]+"/roles", f.root, nil).want(t, 200, "").decode(t, &roles)
	for _, r := range roles.Roles {
		if r.Name == core.AdminRoleName {
			return itoa(r.RoleID)
		}
	}
	t.Fatalf("no Admin role in %+v", roles)
	return ""
}
