package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pangolin-gateway/core"
	"pangolin-gateway/gateway/api"
)

// validBodies holds a well-formed body for every route that takes one, so
// that the tables below reach the guard or the check they mean to test.
var validBodies = map[string]any{
	"PUT /org":                                   map[string]any{"orgId": "initech", "name": "Initech", "subnet": "100.90.130.0/24"},
	"POST /org/:orgId":                           map[string]any{"name": "renamed"},
	"PUT /org/:orgId/site":                       map[string]any{"name": "intruder", "type": "local"},
	"POST /site/:siteId":                         map[string]any{"name": "renamed"},
	"PUT /org/:orgId/api-key":                    map[string]any{"name": "intruder"},
	"POST /org/:orgId/api-key/:apiKeyId/actions": map[string]any{"actionIds": []string{"getOrg"}},
}

// queries holds the required query of routes that have one.
var queries = map[string]string{"GET /org/checkId": "?orgId=globex"}

var pathParam = regexp.MustCompile(`:([A-Za-z]+)`)

// fixture is two orgs with a site and an org key each.
type fixture struct {
	*stack
	// params fill path parameters with globex's objects.
	globex map[string]string
	acme   map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := newStack(t, "")
	f := &fixture{stack: s, globex: map[string]string{}, acme: map[string]string{}}
	for org, params := range map[string]map[string]string{"acme": f.acme, "globex": f.globex} {
		subnet := map[string]string{"acme": "100.90.128.0/24", "globex": "100.90.129.0/24"}[org]
		call(t, "PUT", s.url+"/v1/org", s.root, map[string]any{"orgId": org, "name": org, "subnet": subnet}).want(t, 201, "")
		var site struct {
			SiteID int64  `json:"siteId"`
			NiceID string `json:"niceId"`
		}
		call(t, "PUT", s.url+"/v1/org/"+org+"/site", s.root, map[string]any{"name": org + "-site", "type": "local"}).
			want(t, 201, "").decode(t, &site)
		keyID, token := createOrgKey(t, s.url, s.root, org, org+"-key")
		params["orgId"], params["siteId"], params["niceId"], params["apiKeyId"] = org, strconv.FormatInt(site.SiteID, 10), site.NiceID, keyID
		params["token"] = token
	}
	return f
}

// path fills a route's parameters from params; it fails the test for a
// parameter the fixture does not know, so every new route needs a row.
func path(t *testing.T, r api.Route, params map[string]string) string {
	t.Helper()
	return "/v1" + pathParam.ReplaceAllStringFunc(r.Path, func(m string) string {
		v, ok := params[m[1:]]
		if !ok {
			t.Fatalf("%s %s: no fixture for path parameter %s: add one", r.Method, r.Path, m)
		}
		return v
	}) + queries[r.Method+" "+r.Path]
}

func body(t *testing.T, r api.Route) any {
	t.Helper()
	if r.Body == nil {
		return nil
	}
	b, ok := validBodies[r.Method+" "+r.Path]
	if !ok {
		t.Fatalf("%s %s: no valid body in validBodies: add one", r.Method, r.Path)
	}
	return b
}

// Every action of the route table is in the core's catalogue.
func TestRouteActionsAreInTheCatalogue(t *testing.T) {
	for _, r := range api.Routes {
		if r.Scope != api.Public && !slices.Contains(core.Actions, r.Action) {
			t.Errorf("%s %s: action %q is not in core.Actions", r.Method, r.Path, r.Action)
		}
	}
	if len(core.Actions) < core.Pangolin18ActionCount {
		t.Fatalf("catalogue has %d ids, fewer than Pangolin 1.8's %d", len(core.Actions), core.Pangolin18ActionCount)
	}
}

// TestTenancy: an acme key holding every action tries every route on
// globex's objects. Each answer is 403, and globex is unchanged after.
func TestTenancy(t *testing.T) {
	f := newFixture(t)
	acmeKey := f.acme["token"]
	call(t, "POST", f.url+"/v1/org/acme/api-key/"+f.acme["apiKeyId"]+"/actions", f.root,
		map[string]any{"actionIds": core.Actions}).want(t, 200, "")
	eventually(t, "the new actions", func() bool {
		return call(t, "GET", f.url+"/v1/org/acme", acmeKey, nil).status == 200
	})
	for _, r := range api.Routes {
		if r.Scope == api.Public {
			continue
		}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			want := map[api.Scope]string{
				api.RootOnly:     "root access",
				api.OrgInPath:    "organization globex",
				api.ObjectInCore: "organization globex",
			}[r.Scope]
			call(t, r.Method, f.url+path(t, r, f.globex), acmeKey, body(t, r)).want(t, http.StatusForbidden, want)
		})
	}
	// Nothing of globex changed or leaked.
	var org struct {
		Org struct {
			Name string `json:"name"`
		} `json:"org"`
	}
	call(t, "GET", f.url+"/v1/org/globex", f.root, nil).want(t, 200, "").decode(t, &org)
	var sites struct {
		Sites []struct {
			Name string `json:"name"`
		} `json:"sites"`
	}
	call(t, "GET", f.url+"/v1/org/globex/sites", f.root, nil).want(t, 200, "").decode(t, &sites)
	var keys struct {
		APIKeys []struct {
			APIKeyID string `json:"apiKeyId"`
		} `json:"apiKeys"`
	}
	call(t, "GET", f.url+"/v1/org/globex/api-keys", f.root, nil).want(t, 200, "").decode(t, &keys)
	if org.Org.Name != "globex" || len(sites.Sites) != 1 || sites.Sites[0].Name != "globex-site" ||
		len(keys.APIKeys) != 1 || keys.APIKeys[0].APIKeyID != f.globex["apiKeyId"] {
		t.Fatalf("globex changed: org %+v sites %+v keys %+v", org, sites, keys)
	}
	// The globex key still works and still has no actions.
	call(t, "GET", f.url+"/v1/org/globex/api-key/"+f.globex["apiKeyId"]+"/actions", f.root, nil).want(t, 200, "")
}

// TestBadInput: bad tokens, bodies, ids and queries on every route get a
// 4xx in the envelope, never a 5xx.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	keyID, _, _ := strings.Cut(f.root, ".")
	for _, r := range api.Routes {
		if r.Scope == api.Public {
			continue
		}
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			url := f.url + path(t, r, f.acme)
			valid := body(t, r)
			send := func(header string, b any) reply {
				t.Helper()
				req := callWithHeader(t, r.Method, url, header, b)
				if req.status < 400 || req.status > 499 {
					t.Fatalf("header %.40q body %.80v: want 4xx, got %d: %s", header, b, req.status, req.body)
				}
				return req
			}
			// Tokens.
			for _, h := range []string{
				"", "Basic " + f.root, "bearer " + f.root, "Bearer", "Bearer " + keyID, "Bearer " + f.root + ".x",
				"Bearer " + keyID + ".wrongsecretwrongsecretwrongsecret0000", "Bearer nosuchkey000000.abc",
				"Bearer " + strings.Repeat("a", 10000), "Bearer ../../etc/passwd.x", "Bearer " + keyID + ".SECRET",
			} {
				send(h, valid).want(t, http.StatusUnauthorized, "")
			}
			root := "Bearer " + f.root
			// Bodies.
			if r.Body != nil {
				for _, b := range []string{`{"name":`, `[]`, `"text"`, `12`, `{"name":"x"} trailing`, `{"a":1}{"b":2}`} {
					send(root, b).want(t, http.StatusBadRequest, "")
				}
				if !r.LenientBody {
					send(root, withField(valid, "unexpectedField", 1)).want(t, http.StatusBadRequest, "unexpectedField")
				}
				send(root, `{"name":"`+strings.Repeat("x", 200<<10)+`"}`).want(t, http.StatusRequestEntityTooLarge, "")
				for _, wrong := range wrongTypes(reflect.TypeOf(r.Body)) {
					send(root, withField(valid, wrong.field, wrong.value)).want(t, http.StatusBadRequest, wrong.field)
				}
			}
			// Ids.
			if strings.Contains(r.Path, ":siteId") {
				for _, id := range []string{"abc", "-1", "0", "1.5", "99999999999999999999999", "1e3"} {
					params := maps.Clone(f.acme)
					params["siteId"] = id
					u := f.url + path(t, r, params)
					callWithHeader(t, r.Method, u, root, valid).want(t, http.StatusBadRequest, "siteId")
				}
			}
			// Queries.
			call(t, r.Method, addQuery(url, "bogus=1"), f.root, valid).want(t, http.StatusBadRequest, "bogus")
			if r.Paged {
				for _, q := range []string{"limit=abc", "limit=0", "limit=1001", "offset=-1", "page=0", "pageSize=5000", "limit=1&page=1"} {
					call(t, r.Method, addQuery(url, q), f.root, valid).want(t, http.StatusBadRequest, "")
				}
			}
		})
	}
}

func addQuery(url, q string) string {
	if strings.Contains(url, "?") {
		return url + "&" + q
	}
	return url + "?" + q
}

// withField returns the body with one field set to v.
func withField(body any, field string, v any) map[string]any {
	out := map[string]any{}
	raw, _ := json.Marshal(body)
	json.Unmarshal(raw, &out)
	out[field] = v
	return out
}

type wrongType struct {
	field string
	value any
}

// wrongTypes gives, for each field of a body type, a value of another JSON type.
func wrongTypes(t reflect.Type) []wrongType {
	var out []wrongType
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.String:
			out = append(out, wrongType{name, 123}, wrongType{name, true}, wrongType{name, []string{"x"}})
		case reflect.Bool:
			out = append(out, wrongType{name, "yes"}, wrongType{name, 1})
		case reflect.Int, reflect.Int32, reflect.Int64:
			out = append(out, wrongType{name, "1"}, wrongType{name, 1.5}, wrongType{name, false})
		case reflect.Slice:
			out = append(out, wrongType{name, "x"}, wrongType{name, []int{1}}, wrongType{name, map[string]int{"a": 1}})
		}
	}
	return out
}
