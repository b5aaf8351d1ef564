package e2e

import (
	"strconv"
	"testing"

	"pangolin-gateway/config"
)

// The rule routes as Pangolin 1.8 answered them (observed-1.8.md #44,
// #45), value validation by match, and rules named under another resource.
func TestRules(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Flags.AllowRawResources = true })
	url := f.url + "/v1"
	res := f.acme["resourceId"]

	// #44
	var rule map[string]any
	call(t, "PUT", url+"/resource/"+res+"/rule", f.root, `{"action":"ACCEPT","match":"IP","value":"10.1.2.4","priority":2}`).
		want(t, 201, "Resource rule created successfully").decode(t, &rule)
	wantJSON(t, "#44", rule, `{"resourceId":`+res+`,"enabled":true,"priority":2,"action":"ACCEPT","match":"IP","value":"10.1.2.4","method":null}`)
	id := strconv.Itoa(int(rule["ruleId"].(float64)))
	var newer map[string]any
	call(t, "PUT", url+"/public-resource/"+res+"/rule", f.root, `{"action":"PASS","match":"COUNTRY","value":"de","priority":0,"enabled":false,"method":"GET"}`).
		want(t, 201, "").decode(t, &newer)
	wantJSON(t, "newer", newer, `{"action":"PASS","match":"COUNTRY","value":"DE","priority":0,"enabled":false,"method":"GET"}`)
	for body, msg := range map[string]string{
		`{"action":"ACCEPT","match":"CIDR","value":"10.0.0.1","priority":1}`:                "Invalid CIDR",
		`{"action":"ACCEPT","match":"IP","value":"10.0.0.0/8","priority":1}`:                "Invalid IP",
		`{"action":"ACCEPT","match":"PATH","value":"/a b","priority":1}`:                    "Invalid URL glob",
		`{"action":"ACCEPT","match":"ASN","value":"ASX","priority":1}`:                      "Invalid ASN",
		`{"action":"ACCEPT","match":"COUNTRY","value":"Germany","priority":1}`:              "Invalid country",
		`{"action":"ALLOW","match":"IP","value":"10.0.0.1","priority":1}`:                   `"action"`,
		`{"action":"ACCEPT","match":"HOST","value":"x","priority":1}`:                       `"match"`,
		`{"action":"ACCEPT","match":"IP","value":"10.0.0.1"}`:                               `Required at "priority"`,
		`{"action":"ACCEPT","match":"IP","value":"10.0.0.1","priority":1,"method":"TRACE"}`: `"method"`,
	} {
		call(t, "PUT", url+"/resource/"+res+"/rule", f.root, body).want(t, 400, msg)
	}
	// Rules are for HTTP resources.
	var raw struct {
		ResourceID int `json:"resourceId"`
	}
	call(t, "PUT", url+"/org/acme/resource", f.root, `{"name":"ssh","http":false,"proxyPort":2222}`).want(t, 201, "").decode(t, &raw)
	call(t, "PUT", url+"/resource/"+strconv.Itoa(raw.ResourceID)+"/rule", f.root, `{"action":"ACCEPT","match":"IP","value":"10.0.0.1","priority":1}`).
		want(t, 400, "HTTP resources")

	// #45: by priority (the newer rule 0, the fixture's 1, this one 2).
	var list struct {
		Rules      []map[string]any `json:"rules"`
		Pagination map[string]int   `json:"pagination"`
	}
	call(t, "GET", url+"/resource/"+res+"/rules", f.root, nil).want(t, 200, "Resource rules retrieved successfully").decode(t, &list)
	if len(list.Rules) != 3 || list.Pagination["total"] != 3 || list.Rules[0]["value"] != "DE" ||
		list.Rules[1]["ruleId"] != mustNumber(t, f.acme["ruleId"]) || list.Rules[2]["ruleId"] != rule["ruleId"] {
		t.Fatalf("#45 %+v", list)
	}
	call(t, "GET", url+"/public-resource/"+res+"/rules?pageSize=1&page=3", f.root, nil).want(t, 200, "").decode(t, &list)
	if len(list.Rules) != 1 || list.Rules[0]["ruleId"] != rule["ruleId"] || list.Pagination["page"] != 3 {
		t.Fatalf("page %+v", list)
	}

	// Update: partial; the value is checked against the new match, or the stored one.
	var upd map[string]any
	call(t, "POST", url+"/resource/"+res+"/rule/"+id, f.root, `{"priority":7}`).want(t, 200, "Resource rule updated successfully").decode(t, &upd)
	wantJSON(t, "priority", upd, `{"priority":7,"action":"ACCEPT","match":"IP","value":"10.1.2.4","enabled":true}`)
	call(t, "POST", url+"/resource/"+res+"/rule/"+id, f.root, `{"match":"CIDR"}`).want(t, 400, "Invalid CIDR")
	call(t, "POST", url+"/resource/"+res+"/rule/"+id, f.root, `{"value":"/x"}`).want(t, 400, "Invalid IP")
	call(t, "POST", url+"/public-resource/"+res+"/rule/"+id, f.root, `{"match":"PATH","value":"/x/*","action":"DROP","method":"POST"}`).
		want(t, 200, "").decode(t, &upd)
	wantJSON(t, "path rule", upd, `{"match":"PATH","value":"/x/*","action":"DROP","priority":7,"method":"POST"}`)
	call(t, "POST", url+"/resource/"+res+"/rule/"+id, f.root, `{"method":""}`).want(t, 200, "").decode(t, &upd)
	wantJSON(t, "method cleared", upd, `{"method":null}`)
	call(t, "POST", url+"/resource/"+res+"/rule/"+id, f.root, `{}`).want(t, 400, "At least one field")

	// A rule of another resource (of the same org, or another's) is not found under this one.
	var second struct {
		ResourceID int `json:"resourceId"`
	}
	call(t, "PUT", url+"/org/acme/resource", f.root, `{"name":"second","http":true,"domainId":"example","subdomain":"second"}`).
		want(t, 201, "").decode(t, &second)
	other := url + "/resource/" + strconv.Itoa(second.ResourceID) + "/rule/" + id
	call(t, "POST", other, f.root, `{"priority":1}`).want(t, 404, "Resource rule with ID "+id+" not found")
	call(t, "DELETE", other, f.root, nil).want(t, 404, "Resource rule with ID "+id+" not found")
	call(t, "DELETE", url+"/resource/"+res+"/rule/"+f.globex["ruleId"], f.root, nil).want(t, 404, "Resource rule with ID "+f.globex["ruleId"]+" not found")

	r := call(t, "DELETE", url+"/resource/"+res+"/rule/"+id, f.root, nil).want(t, 200, "Resource rule deleted successfully")
	if string(r.env.Data) != "null" {
		t.Fatalf("delete data %s", r.env.Data)
	}
	call(t, "DELETE", url+"/public-resource/"+res+"/rule/"+id, f.root, nil).want(t, 404, "not found")
}

func mustNumber(t *testing.T, s string) float64 {
	t.Helper()
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
