package core

import (
	"context"
	"regexp"
	"strings"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// DomainStore is what the domain service needs of storage.
type DomainStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	ListOrgDomains(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.DomainListItem, int32, error)
	// GetOrgDomain: a domain not linked to the org → DomainNotFound.
	GetOrgDomain(ctx context.Context, orgID, domainID string) (*corev1.Domain, error)
	// CreateOrgDomain stores d linked to the org, with its records, and
	// returns it as stored. A base domain the org has already, or another
	// org has verified → Invalid.
	CreateOrgDomain(ctx context.Context, orgID string, d *corev1.Domain, records []*corev1.DnsRecord) (*corev1.Domain, error)
	// UpdateOrgDomain sets the fields req carries and returns the domain as
	// stored; config-managed → Invalid.
	UpdateOrgDomain(ctx context.Context, req *corev1.UpdateDomainRequest) (*corev1.Domain, error)
	// DeleteOrgDomain deletes the domain; config-managed → Invalid.
	DeleteOrgDomain(ctx context.Context, orgID, domainID string) error
	// DNSRecords returns the domain's records in id order.
	DNSRecords(ctx context.Context, domainID string) ([]*corev1.DnsRecord, error)
	// RestartDomain resets failed and tries.
	RestartDomain(ctx context.Context, orgID, domainID string) error
	// SyncConfigDomains makes the config-managed domains those given:
	// stored, verified and linked to every org; others removed.
	SyncConfigDomains(ctx context.Context, domains []*corev1.Domain) error
}

// Domain types.
const (
	DomainNS       = "ns"
	DomainCNAME    = "cname"
	DomainWildcard = "wildcard"
)

// ServerIPPlaceholder is the value of the A records a wildcard domain
// needs: the server does not look up its own public address.
const ServerIPPlaceholder = "Server IP Address"

// DomainNotFound answers for a domain not linked to the org: missing and
// other orgs' domains alike.
func DomainNotFound(domainID, orgID string) error {
	return Errorf(CodeNotFound, "Domain with ID %s not found in organization %s", domainID, orgID)
}

// Domains is the DomainService.
type Domains struct {
	corev1.UnimplementedDomainServiceServer
	store DomainStore
}

// ListDomains lists the domains linked to an org.
func (s *Domains) ListDomains(ctx context.Context, req *corev1.ListDomainsRequest) (*corev1.ListDomainsResponse, error) {
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	list, total, err := s.store.ListOrgDomains(ctx, req.GetOrgId(), req.GetPage())
	return &corev1.ListDomainsResponse{Domains: list, Total: total}, err
}

// GetDomain reads a domain linked to the org.
func (s *Domains) GetDomain(ctx context.Context, req *corev1.DomainIdRequest) (*corev1.Domain, error) {
	return s.store.GetOrgDomain(ctx, req.GetOrgId(), req.GetDomainId())
}

// CreateDomain adds a domain to an org. Nothing leaves the machine: a
// wildcard domain is verified at once (the operator points it at the
// server), ns and cname domains stay unverified.
func (s *Domains) CreateDomain(ctx context.Context, req *corev1.CreateDomainRequest) (*corev1.CreatedDomain, error) {
	switch req.GetType() {
	case DomainNS, DomainCNAME, DomainWildcard:
	default:
		return nil, Errorf(CodeInvalid, "Validation error: type must be one of 'ns', 'cname', 'wildcard' at \"type\"")
	}
	base := strings.ToLower(req.GetBaseDomain())
	if !IsPublicHostname(base) {
		return nil, Errorf(CodeInvalid, "Validation error: baseDomain must be a domain name like example.com at \"baseDomain\"")
	}
	if req.CertResolver != nil {
		if err := checkCertResolver(req.GetCertResolver()); err != nil {
			return nil, err
		}
	}
	d := &corev1.Domain{
		DomainId:           RandomID(15),
		BaseDomain:         base,
		Type:               &req.Type,
		Verified:           req.GetType() == DomainWildcard,
		CertResolver:       emptyAsUnset(req.CertResolver),
		PreferWildcardCert: req.PreferWildcardCert,
	}
	var records []*corev1.DnsRecord
	out := &corev1.CreatedDomain{}
	if d.Verified {
		for _, name := range []string{"*." + base, base} {
			records = append(records, &corev1.DnsRecord{
				DomainId: d.DomainId, RecordType: "A", BaseDomain: &name, Value: ServerIPPlaceholder, Verified: true,
			})
			out.ARecords = append(out.ARecords, &corev1.DnsRecordValue{BaseDomain: name, Value: ServerIPPlaceholder})
		}
	}
	stored, err := s.store.CreateOrgDomain(ctx, req.GetOrgId(), d, records)
	if err != nil {
		return nil, err
	}
	out.DomainId, out.CertResolver, out.PreferWildcardCert = stored.GetDomainId(), stored.CertResolver, stored.PreferWildcardCert
	return out, nil
}

// UpdateDomain changes a domain's certificate settings.
func (s *Domains) UpdateDomain(ctx context.Context, req *corev1.UpdateDomainRequest) (*corev1.UpdatedDomain, error) {
	if req.CertResolver != nil && req.GetCertResolver() != "" {
		if err := checkCertResolver(req.GetCertResolver()); err != nil {
			return nil, err
		}
	}
	d, err := s.store.UpdateOrgDomain(ctx, req)
	if err != nil {
		return nil, err
	}
	return &corev1.UpdatedDomain{DomainId: d.GetDomainId(), CertResolver: d.CertResolver, PreferWildcardCert: d.PreferWildcardCert}, nil
}

// DeleteDomain removes a domain the org added.
func (s *Domains) DeleteDomain(ctx context.Context, req *corev1.DomainIdRequest) (*corev1.DomainSuccess, error) {
	if err := s.store.DeleteOrgDomain(ctx, req.GetOrgId(), req.GetDomainId()); err != nil {
		return nil, err
	}
	return &corev1.DomainSuccess{Success: true}, nil
}

// GetDNSRecords lists the records a domain needs.
func (s *Domains) GetDNSRecords(ctx context.Context, req *corev1.DomainIdRequest) (*corev1.DnsRecords, error) {
	if _, err := s.store.GetOrgDomain(ctx, req.GetOrgId(), req.GetDomainId()); err != nil {
		return nil, err
	}
	records, err := s.store.DNSRecords(ctx, req.GetDomainId())
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, Errorf(CodeNotFound, "No DNS records found for this domain")
	}
	return &corev1.DnsRecords{Records: records}, nil
}

// RestartDomain resets a domain's verification counters.
func (s *Domains) RestartDomain(ctx context.Context, req *corev1.DomainIdRequest) (*corev1.DomainSuccess, error) {
	if err := s.store.RestartDomain(ctx, req.GetOrgId(), req.GetDomainId()); err != nil {
		return nil, err
	}
	return &corev1.DomainSuccess{Success: true}, nil
}

// ConfigDomain is a server domain of the config file.
type ConfigDomain struct {
	Key, BaseDomain, CertResolver string
	PreferWildcardCert            bool
}

// configDomains turns the config's server domains into stored domains:
// verified wildcard domains whose id is their key.
func configDomains(list []ConfigDomain) []*corev1.Domain {
	var out []*corev1.Domain
	for _, c := range list {
		d := &corev1.Domain{
			DomainId:           c.Key,
			BaseDomain:         strings.ToLower(c.BaseDomain),
			ConfigManaged:      true,
			Type:               strPtr(DomainWildcard),
			Verified:           true,
			PreferWildcardCert: &c.PreferWildcardCert,
		}
		if c.CertResolver != "" {
			d.CertResolver = &c.CertResolver
		}
		out = append(out, d)
	}
	return out
}

var (
	// hostnamePattern: dot-separated labels of letters, digits and inner
	// hyphens, ending in an alphabetic top-level label of 2+ letters.
	hostnamePattern = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	// certResolverPattern: a Traefik resolver name.
	certResolverPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)
)

// IsPublicHostname reports whether s (lower-case) is a domain name with
// a top-level label: example.com, not localhost or an IP.
func IsPublicHostname(s string) bool {
	return len(s) <= 253 && hostnamePattern.MatchString(s)
}

func checkCertResolver(v string) error {
	if !certResolverPattern.MatchString(v) {
		return Errorf(CodeInvalid, "Validation error: certResolver must be 1-255 letters, digits, '.', '_' or '-' at \"certResolver\"")
	}
	return nil
}

func emptyAsUnset(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

func strPtr(s string) *string { return &s }
