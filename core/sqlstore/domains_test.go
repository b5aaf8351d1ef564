package sqlstore

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

func wildcard(id, base string) *corev1.Domain {
	return &corev1.Domain{DomainId: id, BaseDomain: base, Type: proto.String("wildcard"), Verified: true}
}

func aRecords(base string) []*corev1.DnsRecord {
	return []*corev1.DnsRecord{
		{RecordType: "A", BaseDomain: proto.String("*." + base), Value: core.ServerIPPlaceholder, Verified: true},
		{RecordType: "A", BaseDomain: proto.String(base), Value: core.ServerIPPlaceholder, Verified: true},
	}
}

func testOrgDomains(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")

	in := wildcard("dom1", "acme.test")
	in.CertResolver = proto.String("letsencrypt")
	created, err := s.CreateOrgDomain(ctx, "acme", in, aRecords("acme.test"))
	must(t, err)
	wantMsg(t, "created", created, in)
	got, err := s.GetOrgDomain(ctx, "acme", "dom1")
	must(t, err)
	wantMsg(t, "read", got, in)
	records, err := s.DNSRecords(ctx, "dom1")
	must(t, err)
	if len(records) != 2 || records[0].GetDomainId() != "dom1" || records[0].GetBaseDomain() != "*.acme.test" ||
		records[1].GetBaseDomain() != "acme.test" || !records[1].GetVerified() || records[0].GetId() >= records[1].GetId() {
		t.Fatalf("records %v", records)
	}
	// Another org's domain is as missing as a domain that does not exist.
	_, err = s.GetOrgDomain(ctx, "globex", "dom1")
	wantErr(t, err, core.CodeNotFound, "Domain with ID dom1 not found in organization globex")
	_, err = s.GetOrgDomain(ctx, "acme", "nope")
	wantErr(t, err, core.CodeNotFound, "Domain with ID nope not found in organization acme")

	// Refused: the same base domain in the org again; one verified elsewhere.
	_, err = s.CreateOrgDomain(ctx, "acme", &corev1.Domain{DomainId: "dom2", BaseDomain: "acme.test", Type: proto.String("ns")}, nil)
	wantErr(t, err, core.CodeInvalid, "Domain acme.test already exists in this organization")
	_, err = s.CreateOrgDomain(ctx, "globex", wildcard("dom3", "acme.test"), nil)
	wantErr(t, err, core.CodeInvalid, "Domain acme.test is already verified by another organization")
	_, err = s.CreateOrgDomain(ctx, "nope", wildcard("dom4", "x.test"), nil)
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	// An unverified domain does not block other orgs.
	_, err = s.CreateOrgDomain(ctx, "globex", &corev1.Domain{DomainId: "dom5", BaseDomain: "shared.test", Type: proto.String("ns")}, nil)
	must(t, err)
	_, err = s.CreateOrgDomain(ctx, "acme", &corev1.Domain{DomainId: "dom6", BaseDomain: "shared.test", Type: proto.String("cname")}, nil)
	must(t, err)

	list, total, err := s.ListOrgDomains(ctx, "acme", nil)
	must(t, err)
	if total != 2 || len(list) != 2 || list[0].GetDomainId() != "dom1" || list[1].GetDomainId() != "dom6" ||
		list[0].GetCertResolver() != "letsencrypt" || list[1].GetVerified() {
		t.Fatalf("list %v total %d", list, total)
	}
	list, total, err = s.ListOrgDomains(ctx, "acme", page(1, 1))
	must(t, err)
	if total != 2 || len(list) != 1 || list[0].GetDomainId() != "dom6" {
		t.Fatalf("page 2: %v total %d", list, total)
	}

	// Update: a field left out stays; "" clears the resolver.
	d, err := s.UpdateOrgDomain(ctx, &corev1.UpdateDomainRequest{OrgId: "acme", DomainId: "dom1", PreferWildcardCert: proto.Bool(true)})
	must(t, err)
	if d.GetCertResolver() != "letsencrypt" || !d.GetPreferWildcardCert() {
		t.Fatalf("updated %v", d)
	}
	d, err = s.UpdateOrgDomain(ctx, &corev1.UpdateDomainRequest{OrgId: "acme", DomainId: "dom1", CertResolver: proto.String("")})
	must(t, err)
	if d.CertResolver != nil || !d.GetPreferWildcardCert() {
		t.Fatalf("cleared %v", d)
	}
	_, err = s.UpdateOrgDomain(ctx, &corev1.UpdateDomainRequest{OrgId: "globex", DomainId: "dom1", PreferWildcardCert: proto.Bool(false)})
	wantErr(t, err, core.CodeNotFound, "Domain with ID dom1 not found in organization globex")

	// Restart resets the counters.
	exec(t, s, `UPDATE domains SET failed = $1, tries = 3 WHERE domain_id = 'dom6'`, true)
	must(t, s.RestartDomain(ctx, "acme", "dom6"))
	d, err = s.GetOrgDomain(ctx, "acme", "dom6")
	must(t, err)
	if d.GetFailed() || d.GetTries() != 0 {
		t.Fatalf("restarted %v", d)
	}
	wantErr(t, s.RestartDomain(ctx, "globex", "dom6"), core.CodeNotFound, "Domain with ID dom6 not found in organization globex")

	// Delete: records and links go; a resource under it keeps its name.
	res := httpResource("acme", "web", "app.acme.test")
	res.DomainId = proto.String("dom1")
	res = mkResource(t, s, res)
	wantErr(t, s.DeleteOrgDomain(ctx, "globex", "dom1"), core.CodeNotFound, "Domain with ID dom1 not found in organization globex")
	must(t, s.DeleteOrgDomain(ctx, "acme", "dom1"))
	_, err = s.GetOrgDomain(ctx, "acme", "dom1")
	wantErr(t, err, core.CodeNotFound, "Domain with ID dom1 not found in organization acme")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM dns_records WHERE domain_id = 'dom1'`) +
		rowCount(t, s, `SELECT COUNT(*) FROM org_domains WHERE domain_id = 'dom1'`); n != 0 {
		t.Fatalf("%d rows outlive the domain", n)
	}
	r, err := s.GetResource(ctx, res.GetResourceId())
	must(t, err)
	if r.DomainId != nil || r.GetFullDomain() != "app.acme.test" {
		t.Fatalf("resource after its domain's deletion: %v", r)
	}

	// Deleting an org removes the domains only it has.
	must(t, s.DeleteOrg(ctx, "globex"))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM domains WHERE domain_id = 'dom5'`); n != 0 {
		t.Fatalf("the deleted org's domain is still stored")
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM domains WHERE domain_id = 'dom6'`); n != 1 {
		t.Fatalf("another org's domain went with the deleted org")
	}
}

func testSyncConfigDomains(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	config := func(id, base string) *corev1.Domain {
		d := wildcard(id, base)
		d.ConfigManaged = true
		d.PreferWildcardCert = proto.Bool(false)
		return d
	}
	home, lab := config("home", "example.com"), config("lab", "lab.example.org")
	lab.CertResolver = proto.String("letsencrypt")
	must(t, s.SyncConfigDomains(ctx, []*corev1.Domain{home, lab}))
	got, err := s.GetOrgDomain(ctx, "acme", "home")
	must(t, err)
	wantMsg(t, "config domain", got, home)
	// Orgs created later are linked too.
	mkOrg(t, s, "globex")
	got, err = s.GetOrgDomain(ctx, "globex", "lab")
	must(t, err)
	wantMsg(t, "config domain in a new org", got, lab)
	// A config domain cannot be changed or deleted through the API.
	wantErr(t, s.DeleteOrgDomain(ctx, "acme", "home"), core.CodeInvalid,
		"Domain example.com is managed by the server's config file (domains.home) and cannot be deleted through the API")
	_, err = s.UpdateOrgDomain(ctx, &corev1.UpdateDomainRequest{OrgId: "acme", DomainId: "home", CertResolver: proto.String("x")})
	wantErr(t, err, core.CodeInvalid,
		"Domain example.com is managed by the server's config file (domains.home) and cannot be changed through the API")
	// Deleting an org leaves them.
	must(t, s.DeleteOrg(ctx, "globex"))

	// The next start: lab changed, home gone, a resource under home keeps its name.
	res := httpResource("acme", "web", "app.example.com")
	res.DomainId = proto.String("home")
	res = mkResource(t, s, res)
	lab.BaseDomain, lab.CertResolver = "lab2.example.org", nil
	must(t, s.SyncConfigDomains(ctx, []*corev1.Domain{lab}))
	got, err = s.GetOrgDomain(ctx, "acme", "lab")
	must(t, err)
	wantMsg(t, "changed config domain", got, lab)
	_, err = s.GetOrgDomain(ctx, "acme", "home")
	wantErr(t, err, core.CodeNotFound, "Domain with ID home not found in organization acme")
	r, err := s.GetResource(ctx, res.GetResourceId())
	must(t, err)
	if r.DomainId != nil || r.GetFullDomain() != "app.example.com" {
		t.Fatalf("resource after its config domain's removal: %v", r)
	}

	// A key naming a domain created through the API is refused.
	_, err = s.CreateOrgDomain(ctx, "acme", wildcard("mine", "mine.test"), nil)
	must(t, err)
	err = s.SyncConfigDomains(ctx, []*corev1.Domain{config("mine", "other.test")})
	if err == nil || core.ErrorCode(err) != core.CodeInternal || !strings.Contains(err.Error(), "domains.mine") {
		t.Fatalf("a taken id: %v", err)
	}
	got, err = s.GetOrgDomain(ctx, "acme", "mine")
	must(t, err)
	if got.GetConfigManaged() || got.GetBaseDomain() != "mine.test" {
		t.Fatalf("the refused sync changed the org's domain: %v", got)
	}
	if _, err := s.GetOrgDomain(ctx, "acme", "lab"); err != nil {
		t.Fatalf("the refused sync changed the config domains: %v", err)
	}
}
