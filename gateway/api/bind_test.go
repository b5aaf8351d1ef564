package api

import (
	"net/url"
	"strings"
	"testing"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

func opNamed(t *testing.T, name string) *operation {
	t.Helper()
	ops, err := operations()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if string(o.Method.Name()) == name {
			return o
		}
	}
	t.Fatalf("no operation %s", name)
	return nil
}

// Path ids are positive canonical decimals that fit the field; path
// strings are non-empty UTF-8 without NUL.
func TestPathValues(t *testing.T) {
	site := opNamed(t, "GetSite").path[0]
	org := opNamed(t, "GetOrg").path[0]
	for raw, ok := range map[string]bool{
		"1": true, "42": true, "9223372036854775807": true,
		"9223372036854775808": false, "0": false, "-1": false, "+3": false, "03": false, "": false, " 1": false,
		"1 ": false, "1.0": false, "1e3": false, "0x10": false, "1_000": false, "١": false, "abc": false,
	} {
		v, err := site.value(raw)
		if (err == nil) != ok {
			t.Errorf("siteId %q: %v", raw, err)
		}
		if err != nil && !strings.Contains(err.Error(), "Invalid siteId: ") {
			t.Errorf("siteId %q: message %q", raw, err)
		}
		if ok && err == nil && v.Int() < 1 {
			t.Errorf("siteId %q: %v", raw, v)
		}
	}
	for raw, ok := range map[string]bool{
		"acme": true, "a b": true, "é": true, "": false, "\xff": false, "acme\x00": false, "\xed\xa0\x80": false,
	} {
		if _, err := org.value(raw); (err == nil) != ok {
			t.Errorf("orgId %q: %v", raw, err)
		}
	}
}

// Query values are typed by the field's kind and checked like the rest.
func TestQueryValues(t *testing.T) {
	check := opNamed(t, "CheckOrgId")
	m := (&corev1.CheckOrgIdRequest{}).ProtoReflect()
	if _, err := check.bindQuery("orgId=a+b%2Fc", m); err != nil || m.Interface().(*corev1.CheckOrgIdRequest).GetOrgId() != "a b/c" {
		t.Fatalf("orgId: %v %v", err, m)
	}
	for raw, msg := range map[string]string{
		"":                       `Required at "orgId"`,
		"orgId=":                 `Required at "orgId"`,
		"orgId=a&orgId=b":        `'orgId' given more than once`,
		"orgId=a&limit=1":        `Unrecognized query parameter(s): 'limit'`,
		"orgId=%zz":              "Malformed query string",
		"orgId=a;b":              "Malformed query string",
		"orgId=%ff":              `Expected a UTF-8 string without NUL at "orgId"`,
		"orgId=a%00":             `Expected a UTF-8 string without NUL at "orgId"`,
		"orgId=a&%ff=1":          `Unrecognized query parameter(s)`,
		"orgId=a&ORGID=b":        `'ORGID'`,
		"orgId=a&orgId":          `given more than once`,
		"orgId=a&&":              "",
		"orgId=%E2%82%AC&x=1&y=": "'x', 'y'",
	} {
		_, err := check.bindQuery(raw, (&corev1.CheckOrgIdRequest{}).ProtoReflect())
		if msg == "" {
			if err != nil {
				t.Errorf("%q: %v", raw, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: want %q, got %v", raw, msg, err)
		}
	}
	// Kinds no route has yet: bool, integers, enums.
	bools := queryField{name: "isRoot", fd: (&corev1.Principal{}).ProtoReflect().Descriptor().Fields().ByName("is_root")}
	ints := queryField{name: "afterSeq", fd: (&corev1.WatchKeyChangesRequest{}).ProtoReflect().Descriptor().Fields().ByName("after_seq")}
	limit := queryField{name: "limit", fd: (&corev1.Page{}).ProtoReflect().Descriptor().Fields().ByName("limit")}
	for _, c := range []struct {
		f   queryField
		raw string
		ok  bool
	}{
		{bools, "true", true}, {bools, "false", true}, {bools, "1", false}, {bools, "True", false}, {bools, "", false},
		{ints, "0", true}, {ints, "-5", true}, {ints, "9223372036854775807", true}, {ints, "9223372036854775808", false},
		{ints, "05", false}, {ints, "+5", false}, {ints, "5.0", false}, {ints, "-", false}, {ints, "-0", true},
		{limit, "2147483647", true}, {limit, "2147483648", false}, {limit, "-2147483648", true},
	} {
		if _, err := c.f.value(c.raw); (err == nil) != c.ok {
			t.Errorf("%s=%q: %v", c.f.name, c.raw, err)
		}
	}
}

// Paging reads either style and never wraps the core's int32 page.
func TestReadPaging(t *testing.T) {
	for raw, want := range map[string]paging{
		"":                             {limit: 1000},
		"limit=5":                      {limit: 5},
		"offset=7":                     {limit: 1000, offset: 7},
		"limit=1000&offset=2147483647": {limit: 1000, offset: 2147483647},
		"page=1":                       {pageStyle: true, limit: 20, page: 1},
		"pageSize=50":                  {pageStyle: true, limit: 50, page: 1},
		"page=4&pageSize=25":           {pageStyle: true, limit: 25, offset: 75, page: 4},
		"page=107374183&pageSize=20":   {pageStyle: true, limit: 20, offset: 2147483640, page: 107374183},
		"page=2147483648&pageSize=1":   {},
		"page=107374184":               {}, // (page-1)*20 = 2147483660
		"page=2147484&pageSize=1000":   {pageStyle: true, limit: 1000, offset: 2147483000, page: 2147484},
		"page=2147485&pageSize=1000":   {},
		"offset=2147483648":            {},
		"offset=4294967296":            {},
		"offset=18446744073709551616":  {},
		"limit=1001":                   {},
		"limit=0":                      {},
		"limit=-1":                     {},
		"limit=+5":                     {},
		"limit=05":                     {},
		"limit=abc":                    {},
		"limit=":                       {},
		"pageSize=0":                   {},
		"page=0":                       {},
		"limit=1&page=1":               {},
		"offset=0&pageSize=5":          {},
	} {
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readPaging(q)
		if want == (paging{}) {
			if err == nil {
				t.Errorf("%q: accepted as %+v", raw, got)
			} else if e := httpError(err); e.Status != 400 || !strings.HasPrefix(e.Message, "Validation error: ") {
				t.Errorf("%q: %d %s", raw, e.Status, e.Message)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: got %+v %v, want %+v", raw, got, err, want)
		}
	}
}

// A contract the gateway cannot serve stops it at start, with an error
// naming the RPC and what is wrong.
func TestOperationsRefuseWhatTheyCannotServe(t *testing.T) {
	base := opNamed(t, "CheckOrgId").Operation
	for _, c := range []struct {
		name   string
		mutate func(*contract.Operation)
		msg    string
	}{
		{"unknown hook", func(op *contract.Operation) {
			op.Route = &apiv1.Route{Method: "GET", Path: "/x", Status: 200, Message: "m", Hook: apiv1.Hook(99)}
		}, "no such hook"},
		{"org scope with the org in the query", func(op *contract.Operation) {
			op.Access = &apiv1.Access{Scope: apiv1.Scope_SCOPE_ORG, Action: "getOrg"}
		}, "no path field"},
		{"checkId hook on another response", func(op *contract.Operation) {
			op.Method = opNamed(t, "GetOrg").Method
		}, "bool field exists"},
	} {
		op := *base
		c.mutate(&op)
		if _, err := newOperation(&op, encoders{}); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := newPathField((&corev1.Site{}).ProtoReflect().Descriptor().Fields().ByName("online")); err == nil {
		t.Error("a bool path parameter was accepted")
	}
	fd := (&corev1.GetOrgResponse{}).ProtoReflect().Descriptor().Fields().ByName("org")
	if _, err := newQueryField(fd, false); err == nil {
		t.Error("a message query parameter was accepted")
	}
}

// Every route of the contract is mounted, each path and alias.
func TestEveryRouteIsServed(t *testing.T) {
	a := newTestAPI(t)
	for _, op := range contract.Operations() {
		for _, p := range op.Paths() {
			path := p.GetPath()
			for _, name := range contract.PathParams(path) {
				path = strings.Replace(path, "{"+name+"}", "1", 1)
			}
			res := a.do(t, p.GetMethod(), "/v1"+path, "", "")
			if strings.Contains(res.env.Message, "Route not found") {
				t.Errorf("%s %s: not served", p.GetMethod(), p.GetPath())
			}
		}
	}
}
