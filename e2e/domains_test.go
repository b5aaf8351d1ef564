package e2e

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The domain routes, driven as a client would: the config domain is
// linked to every org and protected; an org's own domains are listed,
// read, updated (POST and the PATCH alias), restarted and deleted; a
// domain of another org answers like a missing one.
func TestDomains(t *testing.T) {
	f := newFixture(t)
	acme := f.acme["domainId"]

	// The list: the config domain as Pangolin 1.8 showed it, then acme's.
	var list struct {
		Domains    []map[string]any `json:"domains"`
		Pagination map[string]int   `json:"pagination"`
	}
	call(t, "GET", f.url+"/v1/org/acme/domains", f.root, nil).want(t, 200, "Domains retrieved successfully").decode(t, &list)
	if len(list.Domains) != 2 || list.Pagination["total"] != 2 || list.Pagination["limit"] != 1000 {
		t.Fatalf("list %+v", list)
	}
	want := map[string]any{"domainId": "example", "baseDomain": "example.com", "verified": true, "type": "wildcard",
		"failed": false, "tries": 0.0, "configManaged": true, "certResolver": nil, "preferWildcardCert": false, "errorMessage": nil}
	if !reflect.DeepEqual(list.Domains[0], want) {
		t.Fatalf("config domain listed as %v, want %v", list.Domains[0], want)
	}
	if list.Domains[1]["domainId"] != acme || list.Domains[1]["baseDomain"] != "acme.test" || list.Domains[1]["configManaged"] != false {
		t.Fatalf("acme's domain listed as %v", list.Domains[1])
	}
	var page struct {
		Domains    []map[string]any `json:"domains"`
		Pagination map[string]int   `json:"pagination"`
	}
	call(t, "GET", f.url+"/v1/org/acme/domains?page=2&pageSize=1", f.root, nil).want(t, 200, "").decode(t, &page)
	if len(page.Domains) != 1 || page.Domains[0]["domainId"] != acme || page.Pagination["page"] != 2 || page.Pagination["total"] != 2 {
		t.Fatalf("page 2: %+v", page)
	}

	// Create: answer, duplicates, bad input.
	var created map[string]any
	call(t, "PUT", f.url+"/v1/org/acme/domain", f.root, map[string]any{"type": "wildcard", "baseDomain": "Apps.Acme.io", "certResolver": "letsencrypt"}).
		want(t, 201, "Domain created successfully").decode(t, &created)
	id, _ := created["domainId"].(string)
	if len(id) != 15 || created["certResolver"] != "letsencrypt" || created["preferWildcardCert"] != nil {
		t.Fatalf("created %v", created)
	}
	if a, _ := json.Marshal(created["aRecords"]); string(a) != `[{"baseDomain":"*.apps.acme.io","value":"Server IP Address"},{"baseDomain":"apps.acme.io","value":"Server IP Address"}]` {
		t.Fatalf("aRecords %s", a)
	}
	call(t, "PUT", f.url+"/v1/org/acme/domain", f.root, map[string]any{"type": "wildcard", "baseDomain": "apps.acme.io"}).
		want(t, 400, "Domain apps.acme.io already exists in this organization")
	call(t, "PUT", f.url+"/v1/org/globex/domain", f.root, map[string]any{"type": "ns", "baseDomain": "apps.acme.io"}).
		want(t, 400, "already verified by another organization")
	for body, msg := range map[string]string{
		`{"type":"wildcard","baseDomain":"https://x.com"}`:              "baseDomain",
		`{"type":"wildcard","baseDomain":"localhost"}`:                  "baseDomain",
		`{"type":"wildcard","baseDomain":"10.0.0.1"}`:                   "baseDomain",
		`{"type":"a","baseDomain":"x.com"}`:                             `"type"`,
		`{"type":"wildcard","baseDomain":"x.com","certResolver":"a b"}`: "certResolver",
	} {
		call(t, "PUT", f.url+"/v1/org/acme/domain", f.root, body).want(t, 400, msg)
	}
	var ns map[string]any
	call(t, "PUT", f.url+"/v1/org/acme/domain", f.root, map[string]any{"type": "ns", "baseDomain": "ns.acme.io"}).want(t, 201, "").decode(t, &ns)
	var nsDomain map[string]any
	call(t, "GET", f.url+"/v1/org/acme/domain/"+ns["domainId"].(string), f.root, nil).want(t, 200, "").decode(t, &nsDomain)
	if nsDomain["verified"] != false || nsDomain["type"] != "ns" {
		t.Fatalf("ns domain %v", nsDomain)
	}
	call(t, "GET", f.url+"/v1/org/acme/domain/"+ns["domainId"].(string)+"/dns-records", f.root, nil).
		want(t, 404, "No DNS records found for this domain")

	// Get, DNS records (a bare array), update, restart.
	var got map[string]any
	call(t, "GET", f.url+"/v1/org/acme/domain/"+id, f.root, nil).want(t, 200, "Domain retrieved successfully").decode(t, &got)
	if got["baseDomain"] != "apps.acme.io" || got["verified"] != true || got["configManaged"] != false || got["certResolver"] != "letsencrypt" {
		t.Fatalf("got %v", got)
	}
	var records []map[string]any
	call(t, "GET", f.url+"/v1/org/acme/domain/"+id+"/dns-records", f.root, nil).want(t, 200, "DNS records retrieved successfully").decode(t, &records)
	if len(records) != 2 || records[0]["recordType"] != "A" || records[0]["baseDomain"] != "*.apps.acme.io" ||
		records[0]["domainId"] != id || records[0]["value"] != "Server IP Address" || records[0]["verified"] != true {
		t.Fatalf("records %v", records)
	}
	var updated map[string]any
	call(t, "POST", f.url+"/v1/org/acme/domain/"+id, f.root, map[string]any{"preferWildcardCert": true}).
		want(t, 200, "Domain updated successfully").decode(t, &updated)
	if !reflect.DeepEqual(updated, map[string]any{"domainId": id, "certResolver": "letsencrypt", "preferWildcardCert": true}) {
		t.Fatalf("updated %v", updated)
	}
	call(t, "PATCH", f.url+"/v1/org/acme/domain/"+id, f.root, map[string]any{"certResolver": ""}).want(t, 200, "").decode(t, &updated)
	if !reflect.DeepEqual(updated, map[string]any{"domainId": id, "certResolver": nil, "preferWildcardCert": true}) {
		t.Fatalf("cleared %v", updated)
	}
	var success map[string]any
	call(t, "POST", f.url+"/v1/org/acme/domain/"+id+"/restart", f.root, nil).want(t, 200, "Domain restarted successfully").decode(t, &success)
	if success["success"] != true {
		t.Fatalf("restart %v", success)
	}

	// The config domain: readable in every org, not deletable nor changeable.
	call(t, "GET", f.url+"/v1/org/globex/domain/example", f.root, nil).want(t, 200, "")
	call(t, "DELETE", f.url+"/v1/org/acme/domain/example", f.root, nil).want(t, 400, "managed by the server's config file (domains.example)")
	call(t, "POST", f.url+"/v1/org/acme/domain/example", f.root, map[string]any{"certResolver": "x"}).want(t, 400, "config file")
	call(t, "GET", f.url+"/v1/org/acme/domain/example/dns-records", f.root, nil).want(t, 404, "No DNS records found")

	// Another org's domain answers like a missing one, for every route.
	for _, r := range []struct{ method, path string }{
		{"GET", ""}, {"POST", ""}, {"PATCH", ""}, {"DELETE", ""}, {"GET", "/dns-records"}, {"POST", "/restart"},
	} {
		var body any
		if r.method == "POST" && r.path == "" || r.method == "PATCH" {
			body = map[string]any{"preferWildcardCert": false}
		}
		call(t, r.method, f.url+"/v1/org/globex/domain/"+id+r.path, f.root, body).
			want(t, 404, "Domain with ID "+id+" not found in organization globex")
		call(t, r.method, f.url+"/v1/org/acme/domain/nosuchdomain"+r.path, f.root, body).
			want(t, 404, "Domain with ID nosuchdomain not found in organization acme")
	}
	call(t, "GET", f.url+"/v1/org/nope/domains", f.root, nil).want(t, 404, "Organization with ID nope not found")

	// Delete.
	call(t, "DELETE", f.url+"/v1/org/acme/domain/"+id, f.root, nil).want(t, 200, "Domain deleted successfully").decode(t, &success)
	if success["success"] != true {
		t.Fatalf("delete %v", success)
	}
	call(t, "GET", f.url+"/v1/org/acme/domain/"+id, f.root, nil).want(t, 404, "not found")
}
