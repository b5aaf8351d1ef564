package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// The private resource routes (N3-N8) on both path families: create with
// grants, lists by org and by site, get, update, delete.
func TestPrivateResourceRoutes(t *testing.T) {
	f := newFixture(t)
	url := f.url + "/v1"
	site, member := f.acme["siteId"], f.acme["roleId"]
	for _, base := range []string{"/site-resource", "/private-resource"} {
		t.Run(base, func(t *testing.T) {
			nice := "db" + base[1:3]
			var r map[string]any
			call(t, "PUT", url+"/org/acme"+base, f.root, `{"name":"DB","mode":"host","siteId":`+site+`,"destination":"db.lan",
				"alias":"db`+base[1:3]+`.internal","niceId":"`+nice+`","tcpPortRangeString":"5432","udpPortRangeString":"",
				"roleIds":[`+member+`],"userIds":["acme-user"],"clientIds":[`+f.acme["clientId"]+`]}`).
				want(t, 201, "Site resource created successfully").decode(t, &r)
			wantJSON(t, "created", r, `{"siteId":`+site+`,"orgId":"acme","niceId":"`+nice+`","name":"DB","mode":"host",
				"destination":"db.lan","enabled":true,"aliasAddress":null,"tcpPortRangeString":"5432","udpPortRangeString":"","disableIcmp":false}`)
			id := itoa(int64(r["siteResourceId"].(float64)))
			var got map[string]any
			call(t, "GET", url+base+"/"+id, f.root, nil).want(t, 200, "Site resource retrieved successfully").decode(t, &got)
			if !mapsEqual(got, r) {
				t.Fatalf("get %v, created %v", got, r)
			}
			roles := call(t, "GET", url+base+"/"+id+"/roles", f.root, nil).want(t, 200, "")
			users := call(t, "GET", url+base+"/"+id+"/users", f.root, nil).want(t, 200, "")
			clients := call(t, "GET", url+base+"/"+id+"/clients", f.root, nil).want(t, 200, "")
			if want := `{"roles":[{"roleId":` + adminRole(t, f, f.acme) + `,"name":"Admin","description":"Admin role with the most permissions","isAdmin":true},` +
				`{"roleId":` + member + `,"name":"Member","description":"Members can only view resources","isAdmin":null}]}`; string(roles.env.Data) != want {
				t.Fatalf("roles %s", roles.env.Data)
			}
			if want := `{"users":[{"userId":"acme-user","username":"acme-user","type":"internal","idpName":null,"idpId":null,"email":"acme-user@example.com"}]}`; string(users.env.Data) != want {
				t.Fatalf("users %s", users.env.Data)
			}
			if want := `{"clients":[{"clientId":` + f.acme["clientId"] + `,"name":"acme-client","subnet":"100.90.128.1/24"}]}`; string(clients.env.Data) != want {
				t.Fatalf("clients %s", clients.env.Data)
			}

			// Update: partial, checked as a whole; grants stay.
			var up map[string]any
			call(t, "POST", url+base+"/"+id, f.root, `{"mode":"cidr","destination":"10.20.0.0/16","alias":""}`).
				want(t, 200, "Site resource updated successfully").decode(t, &up)
			wantJSON(t, "updated", up, `{"mode":"cidr","destination":"10.20.0.0/16","alias":null,"name":"DB","niceId":"`+nice+`"}`)
			call(t, "POST", url+base+"/"+id, f.root, `{"mode":"host"}`).want(t, 400, `"destination"`)
			call(t, "POST", url+base+"/"+id, f.root, `{}`).want(t, 400, "At least one field")
			call(t, "POST", url+base+"/"+id, f.root, `{"siteId":`+f.globex["siteId"]+`}`).want(t, 404, "Site with ID "+f.globex["siteId"]+" not found")

			r2 := call(t, "DELETE", url+base+"/"+id, f.root, nil).want(t, 200, "Site resource deleted successfully")
			if string(r2.env.Data) != `{"message":"Site resource deleted successfully"}` {
				t.Fatalf("delete data %s", r2.env.Data)
			}
			call(t, "GET", url+base+"/"+id, f.root, nil).want(t, 404, "Site resource not found")
		})
	}

	// Refusals on create, each naming what is wrong.
	for body, want := range map[string]struct {
		status int
		msg    string
	}{
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"nas.lan"}`:                                             {400, "needs an alias"},
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"100.90.128.7"}`:                                        {400, "overlaps the organization's network"},
		`{"name":"x","mode":"cidr","siteId":` + site + `,"destination":"10.0.0.1"}`:                                            {400, `"destination"`},
		`{"name":"x","mode":"port","siteId":` + site + `,"destination":"10.0.0.1"}`:                                            {400, `"mode"`},
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"10.0.0.1","alias":"a b"}`:                              {400, `"alias"`},
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"10.0.0.1","tcpPortRangeString":"0"}`:                   {400, "tcpPortRangeString"},
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"10.0.0.1","udpPortRangeString":"9-3"}`:                 {400, "udpPortRangeString"},
		`{"name":"x","mode":"host","siteId":` + f.globex["siteId"] + `,"destination":"10.0.0.1"}`:                              {404, "Site with ID " + f.globex["siteId"] + " not found"},
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"10.0.0.1","roleIds":[` + f.globex["roleId"] + `]}`:     {404, "One or more roles not found"},
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"10.0.0.1","userIds":["globex-user"]}`:                  {403, "one or more specified users"},
		`{"name":"x","mode":"host","siteId":` + site + `,"destination":"10.0.0.1","clientIds":[` + f.globex["clientId"] + `]}`: {403, "one or more specified clients"},
	} {
		call(t, "PUT", url+"/org/acme/site-resource", f.root, body).want(t, want.status, want.msg)
	}
	// niceIds are shared with public resources.
	var web struct {
		NiceID string `json:"niceId"`
	}
	call(t, "GET", url+"/resource/"+f.acme["resourceId"], f.root, nil).want(t, 200, "").decode(t, &web)
	call(t, "PUT", url+"/org/acme/site-resource", f.root, `{"name":"x","mode":"host","siteId":`+site+`,"destination":"10.0.0.1","niceId":"`+web.NiceID+`"}`).
		want(t, 409, "A resource with niceId "+web.NiceID+" already exists")
	// An alias is unique in its org, not across orgs.
	call(t, "PUT", url+"/org/acme/private-resource", f.root, `{"name":"x","mode":"host","siteId":`+site+`,"destination":"10.0.0.1","alias":"x.internal"}`).want(t, 201, "")
	call(t, "PUT", url+"/org/acme/private-resource", f.root, `{"name":"y","mode":"host","siteId":`+site+`,"destination":"10.0.0.2","alias":"x.internal"}`).
		want(t, 409, "Alias x.internal is already in use")
	call(t, "PUT", url+"/org/globex/private-resource", f.root, `{"name":"x","mode":"host","siteId":`+f.globex["siteId"]+`,"destination":"10.0.0.1","alias":"x.internal"}`).want(t, 201, "")

	// Lists: by org (with filters and paging) and by site, on both paths.
	call(t, "PUT", url+"/org/acme/site-resource", f.root, `{"name":"LAN","mode":"cidr","siteId":`+site+`,"destination":"192.168.0.0/24"}`).want(t, 201, "")
	names := func(path string) []string {
		t.Helper()
		var l struct {
			SiteResources []map[string]any `json:"siteResources"`
			Pagination    map[string]int   `json:"pagination"`
		}
		call(t, "GET", url+path, f.root, nil).want(t, 200, "Site resources retrieved successfully").decode(t, &l)
		var out []string
		for _, r := range l.SiteResources {
			out = append(out, r["name"].(string))
			if r["siteNiceId"] != f.acme["niceId"] || r["siteName"] != "acme-site" {
				t.Fatalf("item %v", r)
			}
		}
		if l.Pagination["total"] < len(out) {
			t.Fatalf("pagination %v for %v", l.Pagination, out)
		}
		return out
	}
	for path, want := range map[string][]string{
		"/org/acme/site-resources":                              {"acme-nas", "x", "LAN"},
		"/org/acme/private-resources?mode=cidr":                 {"LAN"},
		"/org/acme/site-resources?query=X.INT":                  {"x"},
		"/org/acme/site-resources?sort_by=name&order=desc":      {"x", "LAN", "acme-nas"},
		"/org/acme/site-resources?page=2&pageSize=2":            {"LAN"},
		"/org/acme/site/" + site + "/resources":                 {"acme-nas", "x", "LAN"},
		"/org/acme/site/" + site + "/private-resources?limit=1": {"acme-nas"},
	} {
		if got := names(path); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	// The site must be the org's; the org's site by niceId still answers
	// beside the list's path.
	call(t, "GET", url+"/org/acme/site/"+f.globex["siteId"]+"/resources", f.root, nil).want(t, 404, "Site with ID "+f.globex["siteId"]+" not found")
	call(t, "GET", url+"/org/acme/site/"+f.acme["niceId"], f.root, nil).want(t, 200, "Site retrieved successfully")
	call(t, "GET", url+"/org/nope/site-resources", f.root, nil).want(t, 404, "Organization with ID nope not found")
}

func mapsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The grants of a private resource (N9-N20) on both path families, and a
// client granted several at once (N21) only within its org.
func TestPrivateResourceGrants(t *testing.T) {
	f := newFixture(t)
	url := f.url + "/v1"
	member := f.acme["roleId"]
	admin := adminRole(t, f, f.acme)
	var dev struct {
		ClientID int64 `json:"clientId"`
	}
	// A user's device, which private resources are never granted to.
	device, err := f.svc.Store().(*sqlstore.Store).CreateClient(context.Background(), &corev1.OlmClient{OrgId: "acme", NiceId: "phone",
		Name: "Phone", UserId: proto.String("acme-user"), Type: "olm"}, coreOlm("olm-phone"),
		func(_, _ []string) (string, error) { return "100.90.128.99/24", nil })
	if err != nil {
		t.Fatal(err)
	}
	dev.ClientID = device.GetClientId()
	client := f.acme["clientId"]
	for _, base := range []string{"/site-resource/", "/private-resource/"} {
		u := url + base + f.acme["siteResourceId"]
		// Roles.
		wantEmpty(t, call(t, "POST", u+"/roles", f.root, `{"roleIds":[`+member+`]}`).want(t, 201, "Roles set for site resource successfully"))
		for body, want := range map[string]struct {
			status int
			msg    string
		}{
			`{"roleIds":[` + admin + `]}`:              {400, "Admin role cannot be assigned to site resources"},
			`{"roleIds":[` + f.globex["roleId"] + `]}`: {404, "One or more roles not found"},
			`{"roleIds":[0]}`:                          {400, "roleIds[0] must be a positive integer"},
		} {
			call(t, "POST", u+"/roles", f.root, body).want(t, want.status, want.msg)
		}
		call(t, "POST", u+"/roles/add", f.root, `{"roleId":`+member+`}`).want(t, 409, "Role already assigned to site resource")
		wantEmpty(t, call(t, "POST", u+"/roles/remove", f.root, `{"roleId":`+member+`}`).want(t, 200, "Role removed from site resource successfully"))
		call(t, "POST", u+"/roles/remove", f.root, `{"roleId":`+member+`}`).want(t, 404, "Role not found in site resource")
		call(t, "POST", u+"/roles/remove", f.root, `{"roleId":`+admin+`}`).want(t, 400, "Admin role cannot be removed from site resources")
		call(t, "POST", u+"/roles/add", f.root, `{"roleId":`+f.globex["roleId"]+`}`).want(t, 404, "does not belong to the same organization")
		wantEmpty(t, call(t, "POST", u+"/roles/add", f.root, `{"roleId":`+member+`}`).want(t, 201, "Role added to site resource successfully"))

		// Users.
		wantEmpty(t, call(t, "POST", u+"/users", f.root, `{"userIds":["acme-user"]}`).want(t, 201, "Users set for site resource successfully"))
		call(t, "POST", u+"/users", f.root, `{"userIds":["globex-user"]}`).want(t, 403, "one or more specified users")
		call(t, "POST", u+"/users/add", f.root, `{"userId":"acme-user"}`).want(t, 409, "User already assigned to site resource")
		wantEmpty(t, call(t, "POST", u+"/users/remove", f.root, `{"userId":"acme-user"}`).want(t, 200, "User removed from site resource successfully"))
		call(t, "POST", u+"/users/remove", f.root, `{"userId":"acme-user"}`).want(t, 404, "User not found in site resource")
		wantEmpty(t, call(t, "POST", u+"/users/add", f.root, `{"userId":"acme-user"}`).want(t, 201, "User added to site resource successfully"))

		// Clients: machine clients of the org only.
		wantEmpty(t, call(t, "POST", u+"/clients", f.root, `{"clientIds":[`+client+`]}`).want(t, 201, "Clients set for site resource successfully"))
		call(t, "POST", u+"/clients", f.root, `{"clientIds":[`+f.globex["clientId"]+`]}`).want(t, 403, "one or more specified clients")
		call(t, "POST", u+"/clients", f.root, `{"clientIds":[`+itoa(dev.ClientID)+`]}`).want(t, 400, "Cannot add clients that are associated with a user")
		call(t, "POST", u+"/clients/add", f.root, `{"clientId":`+client+`}`).want(t, 409, "Client already assigned to site resource")
		call(t, "POST", u+"/clients/add", f.root, `{"clientId":`+f.globex["clientId"]+`}`).want(t, 403, "one or more specified clients")
		call(t, "POST", u+"/clients/remove", f.root, `{"clientId":`+itoa(dev.ClientID)+`}`).want(t, 400, "Cannot remove clients")
		wantEmpty(t, call(t, "POST", u+"/clients/remove", f.root, `{"clientId":`+client+`}`).want(t, 200, "Client removed from site resource successfully"))
		call(t, "POST", u+"/clients/remove", f.root, `{"clientId":`+client+`}`).want(t, 404, "Client not found in site resource")
		wantEmpty(t, call(t, "POST", u+"/clients/add", f.root, `{"clientId":`+client+`}`).want(t, 201, "Client added to site resource successfully"))
		wantEmpty(t, call(t, "POST", u+"/clients", f.root, `{"clientIds":[]}`).want(t, 201, ""))
	}
	r := call(t, "GET", url+"/site-resource/"+f.acme["siteResourceId"]+"/clients", f.root, nil).want(t, 200, "Site resource clients retrieved successfully")
	if string(r.env.Data) != `{"clients":[]}` {
		t.Fatalf("clients after clearing %s", r.env.Data)
	}

	// N21: a client granted site resources of its org; another org's site
	// resource answers like a missing one, even to a root key.
	var second struct {
		SiteResourceID int64 `json:"siteResourceId"`
	}
	call(t, "PUT", url+"/org/acme/site-resource", f.root, `{"name":"y","mode":"host","siteId":`+f.acme["siteId"]+`,"destination":"10.0.0.9","clientIds":[`+client+`]}`).
		want(t, 201, "").decode(t, &second)
	for _, path := range []string{"/site-resources", "/private-resources"} {
		call(t, "POST", url+"/client/"+client+path, f.root, `{"siteResourceIds":[`+f.globex["siteResourceId"]+`]}`).
			want(t, 404, "One or more site resources not found")
		call(t, "POST", url+"/client/"+client+path, f.root, `{"siteResourceIds":[999999]}`).want(t, 404, "One or more site resources not found")
		call(t, "POST", url+"/client/"+client+path, f.root, `{"siteResourceIds":[]}`).want(t, 400, `"siteResourceIds"`)
		call(t, "POST", url+"/client/"+itoa(dev.ClientID)+path, f.root, `{"siteResourceIds":[`+f.acme["siteResourceId"]+`]}`).
			want(t, 400, "machine (non-user) clients")
	}
	r = call(t, "POST", url+"/client/"+client+"/site-resources", f.root,
		`{"siteResourceIds":[`+f.acme["siteResourceId"]+`,`+itoa(second.SiteResourceID)+`,`+f.acme["siteResourceId"]+`]}`).
		want(t, 201, "Client added to site resources successfully")
	if want := `{"addedCount":1,"skippedCount":1,"siteResourceIds":[` + f.acme["siteResourceId"] + `]}`; string(r.env.Data) != want {
		t.Fatalf("added %s, want %s", r.env.Data, want)
	}
	call(t, "POST", url+"/client/"+client+"/private-resources", f.root, `{"siteResourceIds":[`+f.acme["siteResourceId"]+`]}`).
		want(t, 409, "Client is already assigned to all specified site resources")
	// An org key reaches only its own org's clients (404 like a missing one).
	acmeKey := f.acme["token"]
	call(t, "POST", url+"/org/acme/api-key/"+f.acme["apiKeyId"]+"/actions", f.root, `{"actionIds":["setResourceUsers"]}`).want(t, 200, "")
	eventually(t, "the new action", func() bool {
		return call(t, "POST", url+"/client/"+f.globex["clientId"]+"/site-resources", acmeKey,
			`{"siteResourceIds":[`+f.globex["siteResourceId"]+`]}`).status == http.StatusNotFound
	})
	call(t, "POST", url+"/client/"+f.globex["clientId"]+"/site-resources", acmeKey, `{"siteResourceIds":[`+f.globex["siteResourceId"]+`]}`).
		want(t, 404, "Client with ID "+f.globex["clientId"]+" not found")
}

func coreOlm(id string) core.Olm { return core.Olm{ID: id, SecretHash: "h"} }
