package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// domains holds corev1.Domain; lists read corev1.DomainListItem from it.
var domains = &table{
	name: "domains", alias: "d",
	columns: []string{
		"domain_id", "base_domain", "config_managed", "type", "verified", "failed", "tries", "cert_resolver",
		"custom_cert_resolver", "prefer_wildcard_cert", "error_message", "last_checked_at",
	},
}

var dnsRecords = &table{
	name: "dns_records", alias: "n", generated: "id",
	columns: []string{"id", "domain_id", "record_type", "base_domain", "value", "verified"},
}

// linkedToOrg is the condition that a domain (alias d) is linked to the
// org given as the parameter $n.
func linkedToOrg(n int) string {
	return fmt.Sprintf(`EXISTS (SELECT 1 FROM org_domains od WHERE od.domain_id = d.domain_id AND od.org_id = $%d)`, n)
}

func getOrgDomain(ctx context.Context, q querier, orgID, domainID string) (*corev1.Domain, error) {
	d := &corev1.Domain{}
	err := getRow(ctx, q, domains, d, `WHERE d.domain_id = $1 AND `+linkedToOrg(2), domainID, orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.DomainNotFound(domainID, orgID)
	}
	return d, err
}

// ListOrgDomains returns a page of the domains linked to the org, config
// domains first then by base domain, and how many are linked.
func (s *Store) ListOrgDomains(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.DomainListItem, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.DomainListItem](ctx, s.reader, domains,
		`WHERE `+linkedToOrg(1)+` ORDER BY d.config_managed DESC, d.base_domain, d.domain_id LIMIT $2 OFFSET $3`,
		orgID, limit, offset)
	if err != nil {
		return nil, 0, internal("list domains", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM org_domains WHERE org_id = $1`, orgID)
	return list, total, internal("count domains", err)
}

// GetOrgDomain returns the domain if it is linked to the org.
func (s *Store) GetOrgDomain(ctx context.Context, orgID, domainID string) (*corev1.Domain, error) {
	d, err := getOrgDomain(ctx, s.reader, orgID, domainID)
	return d, internal("get domain", err)
}

// CreateOrgDomain stores d linked to the org, with its DNS records, in one
// transaction. Refused (400, as Pangolin): a base domain the org already
// has, or one another org has verified.
func (s *Store) CreateOrgDomain(ctx context.Context, orgID string, d *corev1.Domain, records []*corev1.DnsRecord) (*corev1.Domain, error) {
	var stored *corev1.Domain
	err := s.write(ctx, func(tx *tx) error {
		// Locks the org row: two creates of one base domain in one org
		// queue, so the second sees the first.
		found, err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE org_id = $1`+s.dialect.forUpdate(), orgID)
		if err != nil {
			return err
		}
		if !found {
			return errOrgNotFound(orgID)
		}
		inOrg, err := exists(ctx, tx, `SELECT 1 FROM domains d WHERE d.base_domain = $1 AND `+linkedToOrg(2), d.GetBaseDomain(), orgID)
		if err != nil {
			return err
		}
		if inOrg {
			return core.Errorf(core.CodeInvalid, "Domain %s already exists in this organization", d.GetBaseDomain())
		}
		verified, err := exists(ctx, tx, `SELECT 1 FROM domains WHERE base_domain = $1 AND verified`, d.GetBaseDomain())
		if err != nil {
			return err
		}
		if verified {
			return core.Errorf(core.CodeInvalid, "Domain %s is already verified by another organization", d.GetBaseDomain())
		}
		if _, err := insert(ctx, tx, domains, d); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO org_domains (org_id, domain_id) VALUES ($1, $2)`, orgID, d.GetDomainId()); err != nil {
			return err
		}
		for _, r := range records {
			r.DomainId = d.GetDomainId()
			if _, err := insert(ctx, tx, dnsRecords, r); err != nil {
				return err
			}
		}
		stored, err = getOrgDomain(ctx, tx, orgID, d.GetDomainId())
		return err
	})
	return stored, internal("create domain", err)
}

// errConfigManaged refuses changes to a domain of the config file.
func errConfigManaged(d *corev1.Domain, what string) error {
	return core.Errorf(core.CodeInvalid, "Domain %s is managed by the server's config file (domains.%s) and cannot be %s through the API",
		d.GetBaseDomain(), d.GetDomainId(), what)
}

// UpdateOrgDomain sets the certificate settings req carries; an empty
// certResolver clears it.
func (s *Store) UpdateOrgDomain(ctx context.Context, req *corev1.UpdateDomainRequest) (*corev1.Domain, error) {
	var stored *corev1.Domain
	err := s.write(ctx, func(tx *tx) error {
		d, err := getOrgDomain(ctx, tx, req.GetOrgId(), req.GetDomainId())
		if err != nil {
			return err
		}
		if d.GetConfigManaged() {
			return errConfigManaged(d, "changed")
		}
		if req.CertResolver != nil {
			var v any
			if req.GetCertResolver() != "" {
				v = req.GetCertResolver()
			}
			if _, err := tx.ExecContext(ctx, `UPDATE domains SET cert_resolver = $1 WHERE domain_id = $2`, v, d.GetDomainId()); err != nil {
				return err
			}
		}
		if req.PreferWildcardCert != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE domains SET prefer_wildcard_cert = $1 WHERE domain_id = $2`,
				req.GetPreferWildcardCert(), d.GetDomainId()); err != nil {
				return err
			}
		}
		stored, err = getOrgDomain(ctx, tx, req.GetOrgId(), req.GetDomainId())
		return err
	})
	return stored, internal("update domain", err)
}

// DeleteOrgDomain deletes the domain and its links and records (cascade);
// resources under it keep their fullDomain with domain_id null.
func (s *Store) DeleteOrgDomain(ctx context.Context, orgID, domainID string) error {
	err := s.write(ctx, func(tx *tx) error {
		d, err := getOrgDomain(ctx, tx, orgID, domainID)
		if err != nil {
			return err
		}
		if d.GetConfigManaged() {
			return errConfigManaged(d, "deleted")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM domains WHERE domain_id = $1`, domainID)
		return err
	})
	return internal("delete domain", err)
}

// DNSRecords returns the domain's records in id order.
func (s *Store) DNSRecords(ctx context.Context, domainID string) ([]*corev1.DnsRecord, error) {
	list, err := getRows[corev1.DnsRecord](ctx, s.reader, dnsRecords, `WHERE n.domain_id = $1 ORDER BY n.id`, domainID)
	return list, internal("dns records", err)
}

// RestartDomain resets failed and tries of a domain linked to the org.
func (s *Store) RestartDomain(ctx context.Context, orgID, domainID string) error {
	err := s.write(ctx, func(tx *tx) error {
		if _, err := getOrgDomain(ctx, tx, orgID, domainID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE domains SET failed = $1, tries = 0 WHERE domain_id = $2`, false, domainID)
		return err
	})
	return internal("restart domain", err)
}

// SyncConfigDomains makes the config-managed domains exactly those given,
// in one transaction: each is stored (or updated) and linked to every org;
// config-managed domains no longer given are deleted. An id taken by a
// domain created through the API is refused, naming the config key.
func (s *Store) SyncConfigDomains(ctx context.Context, list []*corev1.Domain) error {
	err := s.write(ctx, func(tx *tx) error {
		keep := map[string]bool{}
		for _, d := range list {
			keep[d.GetDomainId()] = true
			var managed bool
			err := tx.QueryRowContext(ctx, `SELECT config_managed FROM domains WHERE domain_id = $1`, d.GetDomainId()).Scan(&managed)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := insert(ctx, tx, domains, d); err != nil {
					return err
				}
			case err != nil:
				return err
			case !managed:
				return fmt.Errorf("domains.%s: the id is taken by a domain an organization created through the API; choose another key", d.GetDomainId())
			default:
				if _, err := tx.ExecContext(ctx,
					`UPDATE domains SET base_domain = $1, type = $2, verified = $3, cert_resolver = $4, prefer_wildcard_cert = $5
					 WHERE domain_id = $6`,
					d.GetBaseDomain(), d.GetType(), true, d.CertResolver, d.PreferWildcardCert, d.GetDomainId()); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx,
				// WHERE true: SQLite's parser needs it before ON CONFLICT.
				`INSERT INTO org_domains (org_id, domain_id) SELECT org_id, $1 FROM orgs WHERE true ON CONFLICT DO NOTHING`,
				d.GetDomainId()); err != nil {
				return err
			}
		}
		stale, err := queryStrings(ctx, tx, `SELECT domain_id FROM domains WHERE config_managed ORDER BY domain_id`)
		if err != nil {
			return err
		}
		for _, id := range stale {
			if keep[id] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM domains WHERE domain_id = $1`, id); err != nil {
				return err
			}
		}
		return nil
	})
	return internal("sync config domains", err)
}
