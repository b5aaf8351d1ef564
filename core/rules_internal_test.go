package core

import (
	"context"
	"testing"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Path patterns as shapes.md §6.4 describes Pangolin's check.
func TestIsURLGlob(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/admin": true, "admin": true, "/admin/*": true, "/a/b/": true, "/*.php": true,
		"/api/v1/users/@me": true, "/a%20b": true, "/a%2Fb/c": true, "/x:y;z=1,2": true, "/~user/(x)!$&'+#": true,
		"": false, "//": false, "/a//b": false, "/a b": false, "/a%2": false, "/a%zz": false, "/a?b": false,
		"/a\\b": false, "/é": false, "/a%": false, "/[x]": false, "/a\x00": false,
	} {
		if got := IsURLGlob(p); got != want {
			t.Errorf("IsURLGlob(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestCheckRule(t *testing.T) {
	for _, c := range []struct {
		match, value string
		ok           bool
		stored       string
	}{
		{"CIDR", "10.0.0.0/8", true, "10.0.0.0/8"}, {"CIDR", "2001:db8::/32", true, ""}, {"CIDR", "10.0.0.1", false, ""},
		{"CIDR", "10.0.0.0/33", false, ""}, {"IP", "10.1.2.3", true, ""}, {"IP", "::1", true, ""}, {"IP", "10.1.2", false, ""},
		{"IP", "fe80::1%eth0", false, ""}, {"PATH", "/admin/*", true, ""}, {"PATH", "a b", false, ""},
		{"COUNTRY", "de", true, "DE"}, {"COUNTRY", "DEU", false, ""}, {"ASN", "as64496", true, "AS64496"},
		{"ASN", "64496", true, "64496"}, {"ASN", "AS", false, ""}, {"GEO", "x", false, ""},
	} {
		r := &corev1.Rule{Action: "ACCEPT", Match: c.match, Value: c.value}
		err := checkRule(r)
		if (err == nil) != c.ok {
			t.Errorf("%s %q: %v", c.match, c.value, err)
		}
		if c.ok && c.stored != "" && r.GetValue() != c.stored {
			t.Errorf("%s %q stored as %q, want %q", c.match, c.value, r.GetValue(), c.stored)
		}
	}
	if err := checkRule(&corev1.Rule{Action: "ALLOW", Match: "IP", Value: "1.1.1.1"}); err == nil {
		t.Error("action ALLOW accepted")
	}
	m := "TRACE"
	if err := checkRule(&corev1.Rule{Action: "PASS", Match: "IP", Value: "1.1.1.1", Method: &m}); err == nil {
		t.Error("method TRACE accepted")
	}
}

// fullDomain by domain type (entities.md §3): ns and wildcard put the
// subdomain under the domain; cname answers on the domain itself.
func TestFullDomain(t *testing.T) {
	for _, c := range []struct {
		typ, sub, full string
		subStored      *string
	}{
		{DomainWildcard, "App", "app.example.com", strPtr("app")},
		{DomainWildcard, "", "example.com", nil},
		{DomainNS, "a.b", "a.b.example.com", strPtr("a.b")},
		{DomainCNAME, "app", "example.com", nil},
	} {
		s := &Resources{store: fakeDomains{d: &corev1.Domain{DomainId: "d", BaseDomain: "example.com", Type: &c.typ, Verified: true}}}
		r := &corev1.Resource{OrgId: "acme"}
		if err := s.placeUnder(t.Context(), r, "d", c.sub); err != nil {
			t.Fatal(err)
		}
		if r.GetFullDomain() != c.full || (r.Subdomain == nil) != (c.subStored == nil) || c.subStored != nil && r.GetSubdomain() != *c.subStored {
			t.Errorf("%s %q: fullDomain %q subdomain %v", c.typ, c.sub, r.GetFullDomain(), r.Subdomain)
		}
	}
}

// fakeDomains serves one domain; the rest of the store is not needed.
type fakeDomains struct {
	ResourceStore
	d *corev1.Domain
}

func (f fakeDomains) GetOrgDomain(_ context.Context, orgID, domainID string) (*corev1.Domain, error) {
	return f.d, nil
}
