package e2e

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"pangolin-gateway/config"
)

// GET /resource/{id} and its /public-resource alias answer the resource
// with its site's name.
func TestGetResource(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/v1/resource/", "/v1/public-resource/"} {
		var got map[string]any
		call(t, "GET", f.url+path+f.acme["resourceId"], f.root, nil).want(t, 200, "Resource retrieved successfully").decode(t, &got)
		if got["name"] != "acme-web" || got["siteName"] != "acme-site" || got["fullDomain"] != "web.acme.test" ||
			got["orgId"] != "acme" || got["http"] != true || got["proxyPort"] != nil {
			t.Fatalf("%s: %v", path, got)
		}
	}
	call(t, "GET", f.url+"/v1/resource/999999", f.root, nil).want(t, 404, "Resource with ID 999999 not found")
}

// pick returns the members of m named in keys.
func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func wantJSON(t *testing.T, what string, got map[string]any, want string) {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	if g := pick(got, keys...); !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		t.Fatalf("%s:\n got %s\nwant %s", what, gj, want)
	}
}

// The resource routes as Pangolin 1.8 answered them (observed-1.8.md
// #31-#37, #79), and the newer paths and rules.
func TestResources(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Flags.AllowRawResources = true })
	site := f.acme["siteId"]
	url := f.url + "/v1"

	// #31: create an HTTP resource on a site, under the server's domain.
	var web map[string]any
	call(t, "PUT", url+"/org/acme/site/"+site+"/resource", f.root,
		`{"name":"Web App","subdomain":"app","siteId":1,"http":true,"protocol":"tcp","domainId":"example"}`).
		want(t, 201, "").decode(t, &web)
	wantJSON(t, "#31 created", web, `{"siteId":`+site+`,"orgId":"acme","name":"Web App","subdomain":"app",
		"fullDomain":"app.example.com","domainId":"example","ssl":true,"blockAccess":false,"sso":true,"http":true,
		"protocol":"tcp","proxyPort":null,"emailWhitelistEnabled":false,"applyRules":false,"enabled":true,
		"stickySession":false,"tlsServerName":null,"setHostHeader":null,"enableProxy":true}`)
	webID := strconv.Itoa(int(web["resourceId"].(float64)))
	if len(web["resourceGuid"].(string)) != 36 || web["niceId"] == "" {
		t.Fatalf("guid %v niceId %v", web["resourceGuid"], web["niceId"])
	}
	// #32: the same fullDomain, from any org.
	call(t, "PUT", url+"/org/globex/resource", f.root, `{"name":"Web App 2","subdomain":"APP","http":true,"domainId":"example"}`).
		want(t, 409, "Resource with that domain already exists")
	// #33: raw TCP.
	var ssh map[string]any
	call(t, "PUT", url+"/org/acme/site/"+site+"/resource", f.root, `{"name":"SSH","siteId":1,"http":false,"protocol":"tcp","proxyPort":2222}`).
		want(t, 201, "").decode(t, &ssh)
	wantJSON(t, "#33 created", ssh, `{"siteId":`+site+`,"name":"SSH","subdomain":null,"fullDomain":null,"domainId":null,
		"ssl":false,"sso":true,"http":false,"protocol":"tcp","proxyPort":2222,"enabled":true,"enableProxy":true}`)
	sshID := strconv.Itoa(int(ssh["resourceId"].(float64)))
	call(t, "PUT", url+"/org/globex/resource", f.root, `{"name":"SSH","mode":"tcp","proxyPort":2222}`).
		want(t, 409, "Resource with that protocol and port already exists")
	call(t, "PUT", url+"/org/globex/public-resource", f.root, `{"name":"DNS","mode":"udp","proxyPort":2222}`).want(t, 201, "")

	// Refusals, each naming what is wrong.
	for body, msg := range map[string]string{
		`{"name":"x"}`:             "http field is required",
		`{"name":"x","http":true}`: `domainId is required`,
		`{"name":"x","http":true,"domainId":"example","subdomain":"a b"}`:    `"subdomain"`,
		`{"name":"x","http":true,"domainId":"example","subdomain":"*"}`:      "wildcard",
		`{"name":"x","http":true,"domainId":"example","proxyPort":80}`:       `"proxyPort"`,
		`{"name":"x","http":true,"protocol":"udp","domainId":"example"}`:     `"protocol"`,
		`{"name":"x","http":true,"domainId":"nope"}`:                         "domain nope not found in organization acme",
		`{"name":"x","http":true,"domainId":"` + f.globex["domainId"] + `"}`: "not found in organization acme",
		`{"name":"x","http":false,"proxyPort":0}`:                            `"proxyPort"`,
		`{"name":"x","http":false,"proxyPort":65536}`:                        `"proxyPort"`,
		`{"name":"x","http":false}`:                                          "proxyPort is required",
		`{"name":"x","http":false,"proxyPort":3000,"domainId":"example"}`:    `"domainId"`,
		`{"name":"","http":true,"domainId":"example"}`:                       "name",
		`{"name":"x","mode":"ssh"}`:                                          `"mode"`,
		`{"name":"x","http":true,"mode":"tcp","domainId":"example"}`:         `"mode"`,
	} {
		call(t, "PUT", url+"/org/acme/resource", f.root, body).want(t, 400, msg)
	}
	// The 1.8 path's site must be in the org: another org's is as missing as one that is not.
	call(t, "PUT", url+"/org/acme/site/"+f.globex["siteId"]+"/resource", f.root, `{"name":"x","http":true,"domainId":"example"}`).
		want(t, 404, "Site with ID "+f.globex["siteId"]+" not found")
	call(t, "PUT", url+"/org/acme/site/999999/public-resource", f.root, `{"name":"x","http":true,"domainId":"example"}`).
		want(t, 404, "Site with ID 999999 not found")
	// An unverified domain cannot serve a resource.
	var ns struct {
		DomainID string `json:"domainId"`
	}
	call(t, "PUT", url+"/org/acme/domain", f.root, `{"type":"ns","baseDomain":"ns.acme.io"}`).want(t, 201, "").decode(t, &ns)
	call(t, "PUT", url+"/org/acme/resource", f.root, `{"name":"x","http":true,"domainId":"`+ns.DomainID+`"}`).want(t, 400, "not verified")

	// Newer create: no site; a cname... the domain itself without subdomain.
	var apex map[string]any
	call(t, "PUT", url+"/org/acme/public-resource", f.root, `{"name":"Apex","mode":"http","domainId":"`+f.acme["domainId"]+`","stickySession":true}`).
		want(t, 201, "").decode(t, &apex)
	wantJSON(t, "newer create", apex, `{"siteId":null,"subdomain":null,"fullDomain":"acme.test","stickySession":true,"http":true,"protocol":"tcp"}`)

	apexID := strconv.Itoa(int(apex["resourceId"].(float64)))

	// #34: the org's list (acme-web of the fixture, Web App, SSH, Apex).
	var list struct {
		Resources  []map[string]any `json:"resources"`
		Pagination map[string]int   `json:"pagination"`
	}
	call(t, "GET", url+"/org/acme/resources", f.root, nil).want(t, 200, "Resources retrieved successfully").decode(t, &list)
	if len(list.Resources) != 4 || list.Pagination["total"] != 4 || list.Pagination["limit"] != 1000 || list.Pagination["offset"] != 0 {
		t.Fatalf("list %+v", list)
	}
	wantJSON(t, "#34 item", list.Resources[1], `{"resourceId":`+webID+`,"name":"Web App","ssl":true,"fullDomain":"app.example.com",
		"siteName":"acme-site","siteId":"`+f.acme["niceId"]+`","passwordId":null,"sso":true,"pincodeId":null,"whitelist":false,
		"http":true,"protocol":"tcp","proxyPort":null,"enabled":true,"domainId":"example"}`)
	for q, want := range map[string][]string{
		// A space: the match is on name, niceId or domain, and a
		// generated niceId (random words) holds none.
		"query=WEB%20APP":         {webID},
		"protocol=tcp":            {sshID},
		"enabled=true&query=ssh":  {sshID},
		"enabled=false":           nil,
		"siteId=" + site:          {f.acme["resourceId"], webID, sshID},
		"sort_by=name&order=desc": {webID, sshID, apexID, f.acme["resourceId"]},
		"page=2&pageSize=3":       {apexID},
	} {
		var l struct {
			Resources []struct {
				ID int `json:"resourceId"`
			} `json:"resources"`
		}
		call(t, "GET", url+"/org/acme/public-resources?"+q, f.root, nil).want(t, 200, "").decode(t, &l)
		if len(l.Resources) != len(want) {
			t.Fatalf("%s: %+v, want %v", q, l.Resources, want)
		}
		for i, id := range want {
			if strconv.Itoa(l.Resources[i].ID) != id {
				t.Fatalf("%s: %+v, want %v", q, l.Resources, want)
			}
		}
	}
	call(t, "GET", url+"/org/acme/resources?protocol=ftp", f.root, nil).want(t, 400, "protocol")
	call(t, "GET", url+"/org/acme/resources?enabled=yes", f.root, nil).want(t, 400, "enabled")
	call(t, "GET", url+"/org/nope/resources", f.root, nil).want(t, 404, "Organization with ID nope not found")

	// #35: the site's list.
	call(t, "GET", url+"/site/"+site+"/resources", f.root, nil).want(t, 200, "").decode(t, &list)
	if len(list.Resources) != 3 || list.Pagination["total"] != 3 || list.Resources[2]["name"] != "SSH" || list.Resources[2]["siteId"] != f.acme["niceId"] {
		t.Fatalf("site list %+v", list)
	}
	call(t, "GET", url+"/site/"+site+"/public-resources?pageSize=1", f.root, nil).want(t, 200, "").decode(t, &list)
	if len(list.Resources) != 1 || list.Pagination["total"] != 3 || list.Pagination["pageSize"] != 1 || list.Pagination["page"] != 1 {
		t.Fatalf("site page %+v", list)
	}

	// N30: names, a bare array.
	var names []map[string]any
	call(t, "GET", url+"/org/acme/resource-names", f.root, nil).want(t, 200, "").decode(t, &names)
	if len(names) != 4 || names[1]["name"] != "Web App" || len(names[1]) != 2 {
		t.Fatalf("names %v", names)
	}
	call(t, "GET", url+"/org/globex/public-resource-names", f.root, nil).want(t, 200, "").decode(t, &names)
	if len(names) != 2 {
		t.Fatalf("globex names %v", names)
	}

	// #36: get with the site's name.
	var got map[string]any
	call(t, "GET", url+"/resource/"+webID, f.root, nil).want(t, 200, "").decode(t, &got)
	wantJSON(t, "#36", got, `{"name":"Web App","siteName":"acme-site","fullDomain":"app.example.com"}`)

	// #37: update; what is left out stays.
	var upd map[string]any
	call(t, "POST", url+"/resource/"+webID, f.root, `{"name":"Web App Renamed","sso":false}`).
		want(t, 200, "Resource updated successfully").decode(t, &upd)
	web["name"], web["sso"] = "Web App Renamed", false
	if !reflect.DeepEqual(upd, withoutKey(web, "")) {
		t.Fatalf("#37 updated\n got %v\nwant %v", upd, web)
	}
	// Moving it: the subdomain left out stays; "" clears text fields.
	call(t, "POST", url+"/public-resource/"+webID, f.root, `{"domainId":"`+f.acme["domainId"]+`","tlsServerName":"Backend.Local","headers":[{"name":"X-Env","value":"prod"}]}`).
		want(t, 200, "").decode(t, &upd)
	wantJSON(t, "moved", upd, `{"domainId":"`+f.acme["domainId"]+`","subdomain":"app","fullDomain":"app.acme.test",
		"tlsServerName":"Backend.Local","headers":[{"name":"X-Env","value":"prod"}],"name":"Web App Renamed"}`)
	// "" is the domain itself, which Apex has.
	call(t, "POST", url+"/resource/"+webID, f.root, `{"subdomain":"","tlsServerName":""}`).want(t, 409, "Resource with that domain already exists")
	call(t, "POST", url+"/resource/"+webID, f.root, `{"subdomain":"web2","tlsServerName":""}`).want(t, 200, "").decode(t, &upd)
	wantJSON(t, "resubdomained", upd, `{"subdomain":"web2","fullDomain":"web2.acme.test","tlsServerName":null}`)
	call(t, "POST", url+"/resource/"+webID, f.root, `{"subdomain":"web"}`).want(t, 409, "Resource with that domain already exists")
	for body, msg := range map[string]string{
		`{}`:                              "At least one field",
		`{"proxyPort":80}`:                "'proxyPort' (not fields of an HTTP resource)",
		`{"tlsServerName":"a b"}`:         "tlsServerName",
		`{"maintenanceModeType":"later"}`: "maintenanceModeType",
		`{"headers":[{"name":"a b","value":"x"}]}`: "headers[0].name",
		`{"headers":[{"name":"A"}]}`:               `Required at "headers[0].value"`,
		`{"niceId":"a b"}`:                         "niceId",
		`{"domainId":"` + ns.DomainID + `"}`:       "not verified",
	} {
		call(t, "POST", url+"/resource/"+webID, f.root, body).want(t, 400, msg)
	}
	call(t, "POST", url+"/resource/"+sshID, f.root, `{"ssl":true}`).want(t, 400, "'ssl' (not fields of a raw resource)")
	call(t, "POST", url+"/resource/"+sshID, f.root, `{"proxyPort":2223,"enableProxy":false,"proxyProtocol":true}`).want(t, 200, "").decode(t, &upd)
	wantJSON(t, "raw updated", upd, `{"proxyPort":2223,"enableProxy":false,"proxyProtocol":true,"http":false}`)

	// Transfer (1.8): to another site of the org; the same site or another org's is refused.
	var second struct {
		SiteID int `json:"siteId"`
	}
	call(t, "PUT", url+"/org/acme/site", f.root, `{"name":"second","type":"local"}`).want(t, 201, "").decode(t, &second)
	call(t, "POST", url+"/resource/"+sshID+"/transfer", f.root, `{"siteId":`+strconv.Itoa(second.SiteID)+`}`).
		want(t, 200, "Resource transferred successfully").decode(t, &upd)
	if int(upd["siteId"].(float64)) != second.SiteID {
		t.Fatalf("transferred %v", upd)
	}
	call(t, "POST", url+"/resource/"+sshID+"/transfer", f.root, `{"siteId":`+strconv.Itoa(second.SiteID)+`}`).want(t, 400, "already on site")
	call(t, "POST", url+"/resource/"+sshID+"/transfer", f.root, `{"siteId":`+f.globex["siteId"]+`}`).want(t, 404, "Site with ID "+f.globex["siteId"]+" not found")

	// #79: delete.
	res := call(t, "DELETE", url+"/resource/"+sshID, f.root, nil).want(t, 200, "Resource deleted successfully")
	if string(res.env.Data) != "null" {
		t.Fatalf("delete data %s", res.env.Data)
	}
	call(t, "GET", url+"/resource/"+sshID, f.root, nil).want(t, 404, "Resource with ID "+sshID+" not found")
	call(t, "DELETE", url+"/public-resource/"+sshID, f.root, nil).want(t, 404, "not found")
}

func withoutKey(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// Without flags.allow_raw_resources a raw resource is refused, on create
// and on update of its port.
func TestRawResourcesNeedTheFlag(t *testing.T) {
	f := newFixture(t)
	call(t, "PUT", f.url+"/v1/org/acme/resource", f.root, `{"name":"SSH","http":false,"protocol":"tcp","proxyPort":2222}`).
		want(t, 400, "Raw resources are not allowed")
	call(t, "POST", f.url+"/v1/resource/"+f.acme["resourceId"], f.root, `{"proxyPort":2222}`).want(t, 400, "Raw resources are not allowed")
}

// Deleting an org takes its resources, their targets and rules, and the
// domains only it has; the server's domain stays for the others.
func TestDeleteOrgTakesItsResources(t *testing.T) {
	f := newFixture(t)
	call(t, "DELETE", f.url+"/v1/org/globex", f.root, nil).want(t, 200, "")
	call(t, "GET", f.url+"/v1/resource/"+f.globex["resourceId"], f.root, nil).want(t, 404, "Resource with ID")
	call(t, "GET", f.url+"/v1/target/"+f.globex["targetId"], f.root, nil).want(t, 404, "Target with ID")
	// Its domain's base name is free again.
	call(t, "PUT", f.url+"/v1/org/acme/domain", f.root, `{"type":"wildcard","baseDomain":"globex.test"}`).want(t, 201, "")
	call(t, "GET", f.url+"/v1/org/acme/domain/example", f.root, nil).want(t, 200, "")
	call(t, "GET", f.url+"/v1/resource/"+f.acme["resourceId"], f.root, nil).want(t, 200, "")
}
