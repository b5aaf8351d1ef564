package e2e

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// The tables below read the contract's descriptors, as the gateway does:
// every route and alias is tried, a new one needs no row here unless it
// names a path parameter the fixture does not know (the test says so).

// route is one method and path of an operation.
type route struct {
	op           *contract.Operation
	method, path string
}

func (r route) String() string { return r.method + " " + r.path }

// routes are every routed method and path of the contract, aliases too.
func routes() []route {
	var out []route
	for _, op := range contract.Operations() {
		for _, p := range op.Paths() {
			out = append(out, route{op, p.GetMethod(), p.GetPath()})
		}
	}
	return out
}

// fields returns the request fields of a route from one source.
func (r route) fields(source apiv1.Source) []protoreflect.FieldDescriptor {
	var out []protoreflect.FieldDescriptor
	fields := r.op.Method.Input().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); contract.FieldOf(fd).GetSource() == source {
			out = append(out, fd)
		}
	}
	return out
}

func (r route) paged() bool { return r.op.Route.GetPaging() != apiv1.Paging_PAGING_NONE }

func isInteger(fd protoreflect.FieldDescriptor) bool {
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind,
		protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Sfixed32Kind, protoreflect.Sfixed64Kind,
		protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

// fixture is two orgs with, each, a site, an org key, a domain, an HTTP
// resource on the site under the domain, a target, a rule, a member (and
// its role), an identity provider with a policy for the org and an OIDC
// user of it who owns the org, an invitation, an access token to the
// resource, a machine client and a private resource behind the site.
type fixture struct {
	*stack
	// params fill path parameters with globex's objects.
	globex map[string]string
	acme   map[string]string
}

func newFixture(t *testing.T, mutate ...func(*config.Config)) *fixture {
	t.Helper()
	s := newStack(t, "", mutate...)
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
		var domain struct {
			DomainID string `json:"domainId"`
		}
		call(t, "PUT", s.url+"/v1/org/"+org+"/domain", s.root, map[string]any{"type": "wildcard", "baseDomain": org + ".test"}).
			want(t, 201, "").decode(t, &domain)
		params["domainId"] = domain.DomainID
		var res struct {
			ResourceID int64 `json:"resourceId"`
		}
		call(t, "PUT", s.url+"/v1/org/"+org+"/site/"+params["siteId"]+"/resource", s.root, map[string]any{
			"name": org + "-web", "siteId": site.SiteID, "http": true, "protocol": "tcp", "domainId": domain.DomainID, "subdomain": "web",
		}).want(t, 201, "").decode(t, &res)
		params["resourceId"] = strconv.FormatInt(res.ResourceID, 10)
		// Whitelist routes refuse a resource whose whitelist is off.
		call(t, "POST", s.url+"/v1/resource/"+params["resourceId"], s.root, map[string]any{"emailWhitelistEnabled": true}).
			want(t, 200, "")
		var target struct {
			TargetID int64 `json:"targetId"`
		}
		call(t, "PUT", s.url+"/v1/resource/"+params["resourceId"]+"/target", s.root, map[string]any{"ip": "10.0.0.5", "port": 8080}).
			want(t, 201, "").decode(t, &target)
		params["targetId"] = strconv.FormatInt(target.TargetID, 10)
		var rule struct {
			RuleID int64 `json:"ruleId"`
		}
		call(t, "PUT", s.url+"/v1/resource/"+params["resourceId"]+"/rule", s.root,
			map[string]any{"action": "ACCEPT", "match": "IP", "value": "10.1.2.3", "priority": 1}).want(t, 201, "").decode(t, &rule)
		params["ruleId"] = strconv.FormatInt(rule.RuleID, 10)
		// A member (users have no create route yet) and the role it has.
		roleID, err := s.svc.Store().(*sqlstore.Store).AddOrgMember(context.Background(), org, &corev1.ResourceUser{
			UserId: org + "-user", Username: org + "-user", Type: "internal", Email: proto.String(org + "-user@example.com"),
		})
		if err != nil {
			t.Fatal(err)
		}
		params["roleId"], params["userId"], params["username"] = strconv.FormatInt(roleID, 10), org+"-user", org+"-user"
		// An identity provider, its policy for the org, an OIDC user of it
		// with the Admin role (the org's owner), and an invitation.
		var idp struct {
			IdpID int64 `json:"idpId"`
		}
		call(t, "PUT", s.url+"/v1/idp/oidc", s.root, map[string]any{
			"name": org + "-sso", "clientId": org, "clientSecret": org + "-client-secret", "authUrl": "https://sso.test/auth",
			"tokenUrl": "https://sso.test/token", "identifierPath": "sub", "scopes": "openid",
		}).want(t, 201, "").decode(t, &idp)
		params["idpId"] = strconv.FormatInt(idp.IdpID, 10)
		call(t, "PUT", s.url+"/v1/idp/"+params["idpId"]+"/org/"+org, s.root, map[string]any{"roleMapping": "'Member'"}).want(t, 201, "")
		var roles struct {
			Roles []struct {
				RoleID  int64 `json:"roleId"`
				IsAdmin *bool `json:"isAdmin"`
			} `json:"roles"`
		}
		call(t, "GET", s.url+"/v1/org/"+org+"/roles", s.root, nil).want(t, 200, "").decode(t, &roles)
		for _, r := range roles.Roles {
			if r.IsAdmin != nil && *r.IsAdmin {
				params["adminRoleId"] = strconv.FormatInt(r.RoleID, 10)
			}
		}
		var owner struct {
			UserID  string `json:"userId"`
			IsOwner bool   `json:"isOwner"`
		}
		call(t, "PUT", s.url+"/v1/org/"+org+"/user", s.root, map[string]any{
			"username": org + "-owner", "type": "oidc", "idpId": idp.IdpID, "roleId": json.RawMessage(params["adminRoleId"]), "email": org + "-owner@example.com",
		}).want(t, 201, "").decode(t, &owner)
		if !owner.IsOwner {
			t.Fatalf("%s: the first Admin member is not the owner", org)
		}
		params["ownerId"] = owner.UserID
		var invite struct {
			InviteID string `json:"inviteId"`
		}
		call(t, "POST", s.url+"/v1/org/"+org+"/create-invite", s.root, map[string]any{
			"email": "invitee@" + org + ".test", "roleId": roleID, "validHours": 24,
		}).want(t, 200, "").decode(t, &invite)
		params["inviteId"] = invite.InviteID
		var tok struct {
			AccessTokenID string `json:"accessTokenId"`
		}
		call(t, "POST", s.url+"/v1/resource/"+params["resourceId"]+"/access-token", s.root, map[string]any{"title": org}).
			want(t, 200, "").decode(t, &tok)
		params["accessTokenId"] = tok.AccessTokenID
		var client struct {
			ClientID int64 `json:"clientId"`
		}
		call(t, "PUT", s.url+"/v1/org/"+org+"/client", s.root, map[string]any{"name": org + "-client"}).
			want(t, 201, "").decode(t, &client)
		params["clientId"] = strconv.FormatInt(client.ClientID, 10)
		var sres struct {
			SiteResourceID int64 `json:"siteResourceId"`
		}
		call(t, "PUT", s.url+"/v1/org/"+org+"/site-resource", s.root, map[string]any{
			"name": org + "-nas", "mode": "host", "siteId": site.SiteID, "destination": "10.0.0.20",
		}).want(t, 201, "").decode(t, &sres)
		params["siteResourceId"] = strconv.FormatInt(sres.SiteResourceID, 10)
	}
	return f
}

// url fills a route's path parameters from params, and adds its required
// query parameters (from the fixture too). It fails the test for a
// parameter the fixture does not know: every new one needs a fixture.
func (r route) url(t *testing.T, params map[string]string) string {
	t.Helper()
	path := r.path
	for _, name := range contract.PathParams(path) {
		v, ok := params[name]
		if !ok {
			t.Fatalf("%s: no fixture for path parameter {%s}: add one to newFixture", r, name)
		}
		path = strings.Replace(path, "{"+name+"}", v, 1)
	}
	var query []string
	for _, fd := range r.fields(apiv1.Source_SOURCE_QUERY) {
		if !contract.FieldOf(fd).GetRequired() {
			continue
		}
		v, ok := params[fd.JSONName()]
		if !ok {
			t.Fatalf("%s: no fixture for query parameter %s: add one to newFixture", r, fd.JSONName())
		}
		query = append(query, fd.JSONName()+"="+v)
	}
	if len(query) > 0 {
		path += "?" + strings.Join(query, "&")
	}
	return "/v1" + path
}

// body is a valid body for the route: its required BODY fields set to their
// examples (the contract's `example` option); nil when the route takes no
// body. It fails the test for a required field without an example.
func (r route) body(t *testing.T) any {
	t.Helper()
	fds := r.fields(apiv1.Source_SOURCE_BODY)
	if len(fds) == 0 {
		return nil
	}
	body := map[string]any{}
	for _, fd := range fds {
		f := contract.FieldOf(fd)
		if !f.GetRequired() {
			continue
		}
		if f.GetExample() == "" {
			t.Fatalf("%s: required body field %s has no example option: add one in proto/", r, fd.JSONName())
		}
		body[contract.BodyKey(fd)] = json.RawMessage(f.GetExample())
	}
	return body
}

// Every action of the contract is in the core's catalogue.
func TestRouteActionsAreInTheCatalogue(t *testing.T) {
	for _, r := range routes() {
		if a := r.op.Access.GetAction(); a != "" && !slices.Contains(core.Actions, a) {
			t.Errorf("%s: action %q is not in core.Actions", r, a)
		}
	}
	if len(core.Actions) < core.Pangolin18ActionCount {
		t.Fatalf("catalogue has %d ids, fewer than Pangolin 1.8's %d", len(core.Actions), core.Pangolin18ActionCount)
	}
}

// TestTenancy: an acme key holding every action tries every route on
// globex's objects. Routes that name the org (or need a root key) answer
// 403; routes that name an object by id answer exactly as for an id that
// does not exist (404, same message), so other tenants' ids cannot be
// enumerated. Globex is unchanged after.
func TestTenancy(t *testing.T) {
	f := newFixture(t)
	acmeKey := f.acme["token"]
	call(t, "POST", f.url+"/v1/org/acme/api-key/"+f.acme["apiKeyId"]+"/actions", f.root,
		map[string]any{"actionIds": core.Actions}).want(t, 200, "")
	eventually(t, "the new actions", func() bool {
		return call(t, "GET", f.url+"/v1/org/acme", acmeKey, nil).status == 200
	})
	for _, r := range routes() {
		t.Run(r.String(), func(t *testing.T) {
			switch a := r.op.Access; a.GetScope() {
			case apiv1.Scope_SCOPE_ROOT:
				call(t, r.method, f.url+r.url(t, f.globex), acmeKey, r.body(t)).want(t, http.StatusForbidden, "root access")
			case apiv1.Scope_SCOPE_ORG:
				call(t, r.method, f.url+r.url(t, f.globex), acmeKey, r.body(t)).want(t, http.StatusForbidden, "organization globex")
			case apiv1.Scope_SCOPE_OBJECT:
				param := r.op.Method.Input().Fields().ByName(protoreflect.Name(a.GetField())).JSONName()
				missing := maps.Clone(f.globex)
				missing[param] = "999999"
				want := call(t, r.method, f.url+r.url(t, missing), acmeKey, r.body(t)).want(t, http.StatusNotFound, "")
				got := call(t, r.method, f.url+r.url(t, f.globex), acmeKey, r.body(t)).want(t, http.StatusNotFound, "")
				// The message may name the id asked for; nothing else may differ.
				if strings.ReplaceAll(got.env.Message, f.globex[param], "{id}") != strings.ReplaceAll(want.env.Message, "999999", "{id}") ||
					strings.Contains(got.env.Message, "globex") {
					t.Fatalf("another org's %s answers %q, a missing one %q", a.GetObject(), got.env.Message, want.env.Message)
				}
			case apiv1.Scope_SCOPE_PUBLIC, apiv1.Scope_SCOPE_KEY:
				// Nothing of another org to reach.
			default:
				t.Fatalf("scope %s: say what tenancy means for it here", a.GetScope())
			}
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
// 4xx in the envelope naming what is wrong, never a 5xx.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	keyID, _, _ := strings.Cut(f.root, ".")
	for _, r := range routes() {
		if r.op.Access.GetScope() == apiv1.Scope_SCOPE_PUBLIC {
			continue
		}
		t.Run(r.String(), func(t *testing.T) {
			url := f.url + r.url(t, f.acme)
			validAny := r.body(t)
			valid, _ := validAny.(map[string]any)
			send := func(header string, b any) reply {
				t.Helper()
				res := callWithHeader(t, r.method, url, header, b)
				if res.status < 400 || res.status > 499 {
					t.Fatalf("header %.40q body %.80v: want 4xx, got %d: %s", header, b, res.status, res.body)
				}
				return res
			}
			// Tokens.
			for _, h := range []string{
				"", "Basic " + f.root, "bearer " + f.root, "Bearer", "Bearer " + keyID, "Bearer " + f.root + ".x",
				"Bearer " + keyID + ".wrongsecretwrongsecretwrongsecret0000", "Bearer nosuchkey000000.abc",
				"Bearer " + strings.Repeat("a", 10000), "Bearer ../../etc/passwd.x", "Bearer " + keyID + ".SECRET",
			} {
				send(h, validAny).want(t, http.StatusUnauthorized, "")
			}
			root := "Bearer " + f.root
			// Bodies.
			if valid != nil {
				badBodies(t, r, valid, func(b any) reply { return send(root, b) })
				for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml", ""} {
					raw, _ := json.Marshal(valid)
					withType(t, r.method, url, root, ct, raw).want(t, http.StatusUnsupportedMediaType, "")
				}
			}
			// Path parameters: ids are canonical positive decimals (by the
			// field's kind), strings UTF-8 without NUL.
			for _, name := range contract.PathParams(r.path) {
				fd := r.op.Method.Input().Fields().ByJSONName(name)
				bad := []string{"%ff", "a%00b"}
				if isInteger(fd) {
					bad = []string{"abc", "-1", "0", "1.5", "+3", "03", "99999999999999999999999", "9223372036854775808", "1e3", "%ff"}
				}
				for _, v := range bad {
					params := maps.Clone(f.acme)
					params[name] = v
					callWithHeader(t, r.method, f.url+r.url(t, params), root, validAny).want(t, http.StatusBadRequest, name)
				}
			}
			// Queries.
			call(t, r.method, addQuery(url, "bogus=1"), f.root, validAny).want(t, http.StatusBadRequest, "bogus")
			call(t, r.method, addQuery(url, "x=%zz"), f.root, validAny).want(t, http.StatusBadRequest, "Malformed query string")
			for _, fd := range r.fields(apiv1.Source_SOURCE_QUERY) {
				name := fd.JSONName()
				for _, v := range []string{"%ff", "a%00"} {
					params := maps.Clone(f.acme)
					params[name] = v
					u := f.url + r.url(t, params)
					if !strings.Contains(u, name+"="+v) {
						u = addQuery(u, name+"="+v) // not a required parameter
					}
					call(t, r.method, u, f.root, validAny).want(t, http.StatusBadRequest, `"`+name+`"`)
				}
			}
			if r.paged() {
				for q, msg := range map[string]string{
					"limit=abc": "limit", "limit=0": "limit", "limit=1001": "limit", "limit=%2B5": "limit", "limit=05": "limit",
					"offset=-1": "offset", "offset=2147483648": "offset", "offset=4294967296": "offset",
					"page=0": "page", "page=3000000&pageSize=1000": "page", "page=99999999999999999999": "page",
					"pageSize=5000": "pageSize", "limit=1&page=1": "not both", "limit=1&limit=2": "limit",
				} {
					call(t, r.method, addQuery(url, q), f.root, validAny).want(t, http.StatusBadRequest, msg)
				}
			}
		})
	}
}

// badBodies sends malformed and ill-typed variants of a valid body; each
// must be refused naming what is wrong.
func badBodies(t *testing.T, r route, valid map[string]any, send func(any) reply) {
	t.Helper()
	lenient := r.op.Route.GetLenientBody()
	for _, b := range []string{`{"name":`, `[]`, `"text"`, `12`, `null`, `{"name":"x"} trailing`, `{"a":1}{"b":2}`, `{"a" 1}`} {
		send(b).want(t, http.StatusBadRequest, "")
	}
	send(`{"name":"`+strings.Repeat("x", 200<<10)+`"}`).want(t, http.StatusRequestEntityTooLarge, "")
	if !lenient {
		send(withField(valid, "unexpectedField", 1)).want(t, http.StatusBadRequest, "unexpectedField")
	}
	for _, fd := range r.fields(apiv1.Source_SOURCE_BODY) {
		name := contract.BodyKey(fd)
		required := contract.FieldOf(fd).GetRequired()
		// Names match exactly: a case variant is another (unknown) key.
		if required {
			upper := maps.Clone(valid)
			upper[strings.ToUpper(name)] = upper[name]
			delete(upper, name)
			want := strings.ToUpper(name)
			if lenient {
				want = name // ignored, so the field is missing
			}
			send(upper).want(t, http.StatusBadRequest, want)
			absent := maps.Clone(valid)
			delete(absent, name)
			send(absent).want(t, http.StatusBadRequest, `Required at "`+name+`"`)
			// A nullable field takes null as a value (it unsets the field).
			if !contract.FieldOf(fd).GetNullable() {
				send(withField(valid, name, nil)).want(t, http.StatusBadRequest, `Required at "`+name+`"`)
			}
		}
		// A duplicate key is refused, whatever its value.
		v := "null"
		if x, ok := valid[name]; ok {
			raw, _ := json.Marshal(x)
			v = string(raw)
		}
		send(`{"`+name+`":`+v+`,`+withRaw(valid, name, v)[1:]).want(t, http.StatusBadRequest, "Duplicate key '"+name+"'")
		// Wrong JSON types, and strings that are not UTF-8 or hold NUL.
		for _, wrong := range wrongValues(fd) {
			send(withRaw(valid, name, wrong)).want(t, http.StatusBadRequest, name)
		}
	}
}

// wrongValues gives, for a body field, JSON values it must refuse.
func wrongValues(fd protoreflect.FieldDescriptor) []string {
	invalidStrings := []string{`"a\u0000b"`, "\"a\xffb\"", `"a\udc00"`}
	scalar := func() []string {
		switch {
		case fd.Kind() == protoreflect.StringKind && contract.FieldOf(fd).GetDigits():
			return append([]string{`-1`, `1.5`, `true`, `["x"]`, `{}`}, invalidStrings...)
		case fd.Kind() == protoreflect.StringKind:
			return append([]string{`123`, `true`, `["x"]`, `{}`}, invalidStrings...)
		case fd.Kind() == protoreflect.BoolKind:
			return []string{`"yes"`, `1`, `[]`}
		case isInteger(fd):
			return []string{`"1"`, `1.5`, `1e3`, `false`, `99999999999999999999`}
		case fd.Kind() == protoreflect.DoubleKind || fd.Kind() == protoreflect.FloatKind:
			return []string{`"1"`, `true`, `1e400`}
		default: // message
			return []string{`"x"`, `[]`, `1`}
		}
	}
	if !fd.IsList() {
		return scalar()
	}
	out := []string{`"x"`, `{"a":1}`, `1`}
	for _, el := range scalar() {
		if el != `["x"]` && el != `[]` {
			out = append(out, "["+el+"]")
		}
	}
	return append(out, `[null]`)
}

// withType sends a raw body with a given Content-Type ("" for none).
func withType(t *testing.T, method, url, header, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, body: raw}
	if err := json.Unmarshal(raw, &r.env); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %s", method, url, res.StatusCode, raw)
	}
	checkAgainstSpec(t, req, body, res, raw)
	return r
}

func addQuery(url, q string) string {
	if strings.Contains(url, "?") {
		return url + "&" + q
	}
	return url + "?" + q
}

// withField returns the body with one field set to v.
func withField(body map[string]any, field string, v any) map[string]any {
	out := maps.Clone(body)
	out[field] = v
	return out
}

// withRaw returns the body, as raw JSON text, with one field set to the raw
// JSON value v (which may be invalid UTF-8: json.Marshal would mend it).
func withRaw(body map[string]any, field, v string) string {
	out := maps.Clone(body)
	delete(out, field)
	raw, _ := json.Marshal(out)
	if string(raw) == "{}" {
		return `{"` + field + `":` + v + `}`
	}
	return `{"` + field + `":` + v + `,` + string(raw[1:])
}
