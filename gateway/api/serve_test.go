package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

func ptr[T any](v T) *T { return &v }

// The health route answers without the envelope and without the core.
func TestHealthIsAnsweredByTheGateway(t *testing.T) {
	a := newTestAPI(t)
	res := a.send(t, "GET", "/v1/", "", "", http.Header{})
	if res.status != 200 || res.body != `{"message":"Healthy"}` {
		t.Fatalf("health: %d %s", res.status, res.body)
	}
	if n := a.core.callCount(); n != 0 {
		t.Fatalf("health called the core %d times", n)
	}
}

// A read: the path parameter reaches the core with the key's id, and the
// answer is Pangolin's envelope, byte for byte as gin's c.JSON wrote it.
func TestAnswerIsTheEnvelope(t *testing.T) {
	a := newTestAPI(t)
	a.core.reply("GetOrg", &corev1.GetOrgResponse{Org: &corev1.Org{
		OrgId: "acme", Name: "Acme <&>", Subnet: ptr("100.90.128.0/24"), CreatedAt: "2026-01-02T03:04:05.678Z",
	}})
	res := a.do(t, "GET", "/v1/org/acme", "acme", "").want(t, 200, "")
	want := `{"data":{"org":{"orgId":"acme","name":"Acme \u003c\u0026\u003e","subnet":"100.90.128.0/24","utilitySubnet":null,` +
		`"createdAt":"2026-01-02T03:04:05.678Z"}},"success":true,"error":false,"message":"Organization retrieved successfully","status":200}`
	if res.body != want {
		t.Fatalf("answer\n got %s\nwant %s", res.body, want)
	}
	call := a.core.lastCall(t)
	if got := call.req.(*corev1.OrgIdRequest).GetOrgId(); got != "acme" {
		t.Fatalf("core got orgId %q", got)
	}
	if got := call.md.Get(corev1.MetadataKeyID); len(got) != 1 || got[0] != "acmekey00000000" {
		t.Fatalf("key id metadata: %v", got)
	}
}

// Lists: items, then pagination in the style the request used; total is
// never written as a field of data.
func TestListAnswersPagination(t *testing.T) {
	a := newTestAPI(t)
	a.core.answer("ListSites", func(req proto.Message) (proto.Message, error) {
		r := req.(*corev1.ListSitesRequest)
		if r.GetOrgId() != "acme" {
			t.Errorf("orgId %q", r.GetOrgId())
		}
		return &corev1.ListSitesResponse{Total: 41}, nil
	})
	for _, c := range []struct{ query, want string }{
		{"", `{"sites":[],"pagination":{"total":41,"limit":1000,"offset":0}}`},
		{"?limit=10&offset=20", `{"sites":[],"pagination":{"total":41,"limit":10,"offset":20}}`},
		{"?page=3&pageSize=7", `{"sites":[],"pagination":{"total":41,"page":3,"pageSize":7}}`},
		{"?page=2", `{"sites":[],"pagination":{"total":41,"page":2,"pageSize":20}}`},
		{"?offset=2147483647", `{"sites":[],"pagination":{"total":41,"limit":1000,"offset":2147483647}}`},
		{"?page=2147484&pageSize=1000", `{"sites":[],"pagination":{"total":41,"page":2147484,"pageSize":1000}}`},
	} {
		query, want := c.query, c.want
		res := a.do(t, "GET", "/v1/org/acme/sites"+query, "root", "").want(t, 200, "Sites retrieved successfully")
		if string(res.env.Data) != want {
			t.Errorf("%q: data %s, want %s", query, res.env.Data, want)
		}
	}
	page := a.core.lastCall(t).req.(*corev1.ListSitesRequest).GetPage()
	if page.GetLimit() != 1000 || page.GetOffset() != 2147483000 {
		t.Fatalf("page sent to the core: %v", page)
	}
}

// NoData answers data null, Empty answers data {}.
func TestNoDataAndEmpty(t *testing.T) {
	a := newTestAPI(t)
	a.core.reply("DeleteSite", &corev1.NoData{})
	a.core.reply("SetKeyActions", &corev1.Empty{})
	res := a.do(t, "DELETE", "/v1/site/7", "root", "").want(t, 200, "Site deleted successfully")
	if string(res.env.Data) != "null" {
		t.Fatalf("delete: data %s", res.env.Data)
	}
	if id := a.core.lastCall(t).req.(*corev1.SiteIdRequest).GetSiteId(); id != 7 {
		t.Fatalf("siteId %d", id)
	}
	res = a.do(t, "POST", "/v1/org/acme/api-key/k/actions", "root", `{"actionIds":["getOrg"]}`).want(t, 200, "actions updated")
	if string(res.env.Data) != "{}" {
		t.Fatalf("set actions: data %s", res.env.Data)
	}
	if got := a.core.lastCall(t).req.(*corev1.SetKeyActionsRequest); got.GetApiKeyId() != "k" || len(got.GetActionIds()) != 1 {
		t.Fatalf("set actions request %v", got)
	}
}

// A route's data_field is written as data on its own: here a bare array,
// [] when empty. The spec says so too.
func TestDataField(t *testing.T) {
	a := newTestAPI(t)
	a.core.reply("GetDNSRecords", &corev1.DnsRecords{Records: []*corev1.DnsRecord{
		{Id: 1, DomainId: "d", RecordType: "A", BaseDomain: ptr("*.x.io"), Value: "v", Verified: true},
	}})
	res := a.do(t, "GET", "/v1/org/acme/domain/d/dns-records", "root", "").want(t, 200, "DNS records retrieved")
	want := `[{"id":1,"domainId":"d","recordType":"A","baseDomain":"*.x.io","value":"v","verified":true}]`
	if string(res.env.Data) != want {
		t.Fatalf("data\n got %s\nwant %s", res.env.Data, want)
	}
	a.core.reply("GetDNSRecords", &corev1.DnsRecords{})
	res = a.do(t, "GET", "/v1/org/acme/domain/d/dns-records", "root", "").want(t, 200, "")
	if string(res.env.Data) != "[]" {
		t.Fatalf("empty: data %s", res.env.Data)
	}
	spec, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]json.RawMessage `json:"properties"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	var data struct {
		Type  string            `json:"type"`
		Items map[string]string `json:"items"`
	}
	raw := doc.Paths["/org/{orgId}/domain/{domainId}/dns-records"]["get"].Responses["200"].Content["application/json"].Schema.Properties["data"]
	if err := json.Unmarshal(raw, &data); err != nil || data.Type != "array" || data.Items["$ref"] != "#/components/schemas/DnsRecord" {
		t.Fatalf("spec data schema %s (%v)", raw, err)
	}
}

// A created site is the site's fields plus the newt credentials, which
// are left out when unset.
func TestInlineAndOmitUnset(t *testing.T) {
	a := newTestAPI(t)
	site := &corev1.Site{SiteId: 3, OrgId: "acme", NiceId: "n", Name: "s", Type: "local", MegabytesIn: 1.5}
	a.core.reply("CreateSite", &corev1.CreatedSite{Site: site})
	res := a.do(t, "PUT", "/v1/org/acme/site", "root", `{"name":"s","type":"local"}`).want(t, 201, "Site created")
	want := `{"siteId":3,"orgId":"acme","niceId":"n","exitNodeId":null,"name":"s","pubKey":null,"subnet":null,"megabytesIn":1.5,` +
		`"megabytesOut":0,"lastBandwidthUpdate":null,"type":"local","online":false,"address":null,"endpoint":null,"publicKey":null,` +
		`"lastHolePunch":null,"listenPort":null,"dockerSocketEnabled":false,"remoteSubnets":null}`
	if string(res.env.Data) != want {
		t.Fatalf("data\n got %s\nwant %s", res.env.Data, want)
	}
	a.core.reply("CreateSite", &corev1.CreatedSite{Site: site, NewtId: ptr("nid"), Secret: ptr("sec")})
	res = a.do(t, "PUT", "/v1/org/acme/site", "root", `{"name":"s","type":"newt"}`).want(t, 201, "")
	if !strings.HasSuffix(string(res.env.Data), `"remoteSubnets":null,"newtId":"nid","secret":"sec"}`) {
		t.Fatalf("data %s", res.env.Data)
	}
}

// checkId: 200 when the id is taken, 404 when free, both successful.
func TestCheckOrgIDHook(t *testing.T) {
	a := newTestAPI(t)
	exists := false
	a.core.answer("CheckOrgId", func(req proto.Message) (proto.Message, error) {
		if id := req.(*corev1.CheckOrgIdRequest).GetOrgId(); id != "acme" {
			t.Errorf("orgId %q", id)
		}
		return &corev1.CheckOrgIdResponse{Exists: exists}, nil
	})
	res := a.do(t, "GET", "/v1/org/checkId?orgId=acme", "root", "")
	if res.body != `{"data":{},"success":true,"error":false,"message":"Organization ID is available","status":404}` || res.status != 404 {
		t.Fatalf("free: %d %s", res.status, res.body)
	}
	exists = true
	res = a.do(t, "GET", "/v1/org/checkId?orgId=acme", "root", "")
	if res.body != `{"data":{},"success":true,"error":false,"message":"Organization ID already exists","status":200}` || res.status != 200 {
		t.Fatalf("taken: %d %s", res.status, res.body)
	}
	a.do(t, "GET", "/v1/org/checkId", "root", "").want(t, 400, `Required at "orgId"`)
	a.do(t, "GET", "/v1/org/checkId?orgId=", "root", "").want(t, 400, `Required at "orgId"`)
}

// The guards refuse early, in Pangolin's order, with today's messages; the
// core is not called. An object named by id is left to the core.
func TestGuards(t *testing.T) {
	a := newTestAPI(t)
	a.keys["reader"] = authPrincipal("readerkey000000", false, []string{"acme"}, []string{"getOrg"})
	a.do(t, "GET", "/v1/orgs", "", "").want(t, 401, "API key required: send Authorization: Bearer <apiKeyId>.<secret>")
	a.do(t, "GET", "/v1/orgs", "nope", "").want(t, 401, "Invalid API key")
	a.do(t, "GET", "/v1/orgs", "acme", "").want(t, 403, "Key does not have root access")
	a.do(t, "GET", "/v1/org/globex", "acme", "").want(t, 403, "Key does not have access to organization globex")
	a.do(t, "GET", "/v1/org/acme/sites", "reader", "").want(t, 403, "Key does not have permission to perform this action: listSites")
	// Scope before action: a key lacking both learns only about the org.
	a.do(t, "GET", "/v1/org/globex/sites", "reader", "").want(t, 403, "organization globex")
	a.do(t, "DELETE", "/v1/site/1", "reader", "").want(t, 403, "deleteSite")
	if n := a.core.callCount(); n != 0 {
		t.Fatalf("refused requests reached the core %d times", n)
	}
	a.core.answer("GetSite", func(proto.Message) (proto.Message, error) {
		return nil, status.Error(codes.NotFound, "Site with ID 2 not found")
	})
	a.do(t, "GET", "/v1/site/2", "acme", "").want(t, 404, "Site with ID 2 not found")
}

// gRPC statuses map to HTTP in one place; internals never leak.
func TestCoreErrors(t *testing.T) {
	a := newTestAPI(t)
	for code, want := range map[codes.Code]int{
		codes.InvalidArgument: 400, codes.PermissionDenied: 403, codes.NotFound: 404, codes.AlreadyExists: 409,
		codes.FailedPrecondition: 409, codes.ResourceExhausted: 429, codes.Unavailable: 503, codes.Internal: 500,
		codes.Unauthenticated: 401,
	} {
		a.core.answer("GetOrg", func(proto.Message) (proto.Message, error) { return nil, status.Error(code, "from core") })
		res := a.do(t, "GET", "/v1/org/acme", "root", "").want(t, want, "")
		if leaked := strings.Contains(res.env.Message, "from core"); leaked != (want < 500 && want != 401) {
			t.Errorf("%s: message %q", code, res.env.Message)
		}
	}
}

func TestUnknownRoute(t *testing.T) {
	a := newTestAPI(t)
	a.do(t, "GET", "/v1/nope", "", "").want(t, 404, "Route not found: GET /v1/nope")
	a.do(t, "PATCH", "/v1/orgs", "root", "").want(t, 404, "Route not found")
}

// Issue 7, items 4, 7 and 8: input that reached the core (and PostgreSQL's
// refusal, a 500), wrapped, or was read loosely is a 400 (or 415, 413)
// naming what is wrong, and never reaches the core.
func TestStrictInput(t *testing.T) {
	a := newTestAPI(t)
	for _, c := range []struct {
		method, path, ct, body string
		status                 int
		msg                    string
	}{
		// Item 4: strings that are not UTF-8 or hold NUL.
		{"GET", "/v1/org/acme/site/%ff", "", "", 400, "Invalid niceId"},
		{"GET", "/v1/org/acme%00", "", "", 400, "Invalid orgId"},
		{"PUT", "/v1/org/acme/site", "application/json", `{"name":"a\u0000b","type":"local"}`, 400, `"name"`},
		{"PUT", "/v1/org/acme/site", "application/json", "{\"name\":\"a\xffb\",\"type\":\"local\"}", 400, `"name"`},
		{"PUT", "/v1/org/acme/site", "application/json", `{"name":"a\udc00b","type":"local"}`, 400, `"name"`},
		{"GET", "/v1/org/checkId?orgId=%ff", "", "", 400, `"orgId"`},
		{"GET", "/v1/org/checkId?orgId=a%00", "", "", 400, `"orgId"`},
		// Item 7: paging that would wrap in the core's int32.
		{"GET", "/v1/org/acme/sites?offset=4294967296", "", "", 400, "offset must be an integer from 0 to 2147483647"},
		{"GET", "/v1/org/acme/sites?page=3000000&pageSize=1000", "", "", 400, "page must be an integer from 1 to 2147484"},
		{"GET", "/v1/org/acme/sites?page=99999999999999999999", "", "", 400, "page must be an integer from 1 to 2147483647"},
		{"GET", "/v1/org/acme/sites?limit=1001", "", "", 400, "limit must be at most 1000"},
		{"GET", "/v1/org/acme/sites?limit=0", "", "", 400, "limit must be an integer of at least 1"},
		{"GET", "/v1/org/acme/sites?offset=-1", "", "", 400, "offset must be an integer of at least 0"},
		{"GET", "/v1/org/acme/sites?limit=1&page=1", "", "", 400, "not both"},
		// Item 8: names match exactly, no duplicate keys, JSON only, every
		// malformed query refused, canonical ids.
		{"POST", "/v1/org/acme", "application/json", `{"NAME":"b"}`, 400, "Unrecognized key(s) in object: 'NAME'"},
		{"POST", "/v1/org/acme", "application/json", `{"name":"a","name":"b"}`, 400, "Duplicate key 'name'"},
		{"PUT", "/v1/org/acme/api-key", "application/json", `{"name":"a","x":1,"x":2}`, 400, "Duplicate key 'x'"},
		{"POST", "/v1/org/acme", "text/plain", `{"name":"b"}`, 415, "text/plain"},
		{"POST", "/v1/org/acme", "application/x-www-form-urlencoded", `{"name":"b"}`, 415, "application/json"},
		{"POST", "/v1/org/acme", "", `{"name":"b"}`, 415, "Content-Type"},
		{"GET", "/v1/orgs?x=%zz", "", "", 400, "Malformed query string"},
		{"GET", "/v1/orgs?limit=%zz", "", "", 400, "Malformed query string"},
		{"GET", "/v1/orgs?limit=5&limit=6", "", "", 400, "'limit' given more than once"},
		{"GET", "/v1/site/+3", "", "", 400, "Invalid siteId"},
		{"GET", "/v1/site/03", "", "", 400, "Invalid siteId"},
		{"GET", "/v1/site/0", "", "", 400, "Invalid siteId"},
		{"GET", "/v1/site/-1", "", "", 400, "Invalid siteId"},
		{"GET", "/v1/site/9223372036854775808", "", "", 400, "Invalid siteId"},
		{"GET", "/v1/site/1e3", "", "", 400, "Invalid siteId"},
		{"GET", "/v1/orgs?limit=03", "", "", 400, "limit"},
		// Today's rules, kept.
		{"GET", "/v1/orgs?bogus=1&alsoBogus=2", "", "", 400, "Unrecognized query parameter(s): 'alsoBogus', 'bogus'"},
		{"PUT", "/v1/org", "application/json", `{"orgId":"a","name":1,"subnet":"s"}`, 400, `Expected string, received number at "name"`},
		{"PUT", "/v1/org", "application/json", `{"orgId":"a","name":"n"}`, 400, `Required at "subnet"`},
		{"PUT", "/v1/org", "application/json", `{"orgId":"a","name":"n","subnet":null}`, 400, `Required at "subnet"`},
		{"PUT", "/v1/org", "application/json", `[]`, 400, "Expected object, received array"},
		{"PUT", "/v1/org", "application/json", `{"orgId":"a"} x`, 400, "unexpected data after the JSON object"},
		{"PUT", "/v1/org", "application/json", `{"orgId":`, 400, "Malformed JSON body"},
		{"PUT", "/v1/org", "application/json", `{"orgId":"a","name":"n","subnet":"s","x":1}`, 400, "Unrecognized key(s) in object: 'x'"},
		{"PUT", "/v1/org", "application/json", `{"name":"` + strings.Repeat("x", 100<<10) + `"}`, 413, "Request body too large"},
	} {
		h := http.Header{}
		if c.ct != "" {
			h.Set("Content-Type", c.ct)
		}
		t.Run(c.method+" "+c.path+" "+c.ct+" "+shorten(c.body), func(t *testing.T) {
			before := a.core.callCount()
			a.send(t, c.method, c.path, "root", c.body, h).want(t, c.status, c.msg)
			if a.core.callCount() != before {
				t.Fatal("refused input reached the core")
			}
		})
	}
}

// Bodies the rules accept: an empty body is {}, JSON media types with
// parameters, null for an optional field, a lenient route's unknown keys.
func TestAcceptedInput(t *testing.T) {
	a := newTestAPI(t)
	a.core.reply("UpdateOrg", &corev1.Org{OrgId: "acme"})
	a.core.reply("CreateOrgKey", &corev1.CreatedApiKey{ApiKeyId: "k"})
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"} {
		a.send(t, "POST", "/v1/org/acme", "root", `{"name":"b"}`, http.Header{"Content-Type": {ct}}).want(t, 200, "")
		if got := a.core.lastCall(t).req.(*corev1.UpdateOrgRequest); got.Name == nil || *got.Name != "b" {
			t.Fatalf("%s: request %v", ct, got)
		}
	}
	a.send(t, "POST", "/v1/org/acme", "root", "", http.Header{}).want(t, 200, "")
	a.send(t, "POST", "/v1/org/acme", "root", " ", http.Header{"Content-Type": {"text/plain"}}).want(t, 200, "")
	a.do(t, "POST", "/v1/org/acme", "root", `{"name":null}`).want(t, 200, "")
	if got := a.core.lastCall(t).req.(*corev1.UpdateOrgRequest); got.Name != nil {
		t.Fatalf("null name: %v", got)
	}
	a.do(t, "PUT", "/v1/org/acme/api-key", "root", `{"name":"ci","extra":{"a":[1,{"b":2}]}}`).want(t, 201, "API key created")
	if got := a.core.lastCall(t).req.(*corev1.CreateOrgKeyRequest); got.GetName() != "ci" || got.GetOrgId() != "acme" {
		t.Fatalf("create key: %v", got)
	}
	// A body field that is a path field in the contract is not settable.
	a.do(t, "POST", "/v1/org/acme", "root", `{"orgId":"globex"}`).want(t, 400, "'orgId'")
	// Routes without body fields ignore a body, as they always did.
	a.core.reply("DeleteSite", &corev1.NoData{})
	a.send(t, "DELETE", "/v1/site/1", "root", "whatever", http.Header{"Content-Type": {"text/plain"}}).want(t, 200, "")
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}
