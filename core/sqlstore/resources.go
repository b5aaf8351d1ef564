package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// resources holds corev1.Resource.
var resources = &table{
	name: "resources", alias: "r", generated: "resource_id",
	columns: []string{
		"resource_id", "site_id", "org_id", "nice_id", "resource_guid", "name", "subdomain", "full_domain",
		"domain_id", "ssl", "block_access", "sso", "http", "protocol", "proxy_port", "email_whitelist_enabled",
		"apply_rules", "enabled", "sticky_session", "tls_server_name", "set_host_header", "enable_proxy",
		"skip_to_idp_id", "headers", "proxy_protocol", "proxy_protocol_version", "maintenance_mode_enabled",
		"maintenance_mode_type", "maintenance_title", "maintenance_message", "maintenance_estimated_time",
		"post_auth_path",
	},
}

func getResource(ctx context.Context, q querier, id int64) (*corev1.Resource, error) {
	r := &corev1.Resource{}
	err := getRow(ctx, q, resources, r, `WHERE r.resource_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ResourceNotFound(id)
	}
	return r, err
}

func errDomainTaken() error {
	return core.Errorf(core.CodeConflict, "Resource with that domain already exists")
}

func errPortTaken() error {
	return core.Errorf(core.CodeConflict, "Resource with that protocol and port already exists")
}

func errResourceNiceIDTaken(niceID string) error {
	return core.Errorf(core.CodeConflict, "A resource with niceId %s already exists in this organization", niceID)
}

// resourceConflict maps a unique-index violation on resources to the rule
// it broke (writers racing on PostgreSQL; the checks before writing catch
// the rest).
func resourceConflict(err error, niceID string) error {
	name, ok := uniqueViolation(err)
	switch {
	case ok && strings.Contains(name, "full_domain"):
		return errDomainTaken()
	case ok && strings.Contains(name, "proxy_port"):
		return errPortTaken()
	case ok && strings.Contains(name, "nice_id"):
		return errResourceNiceIDTaken(niceID)
	}
	return err
}

// checkResourceFree refuses what another resource (one whose id is not
// exceptID) already has: r's fullDomain (any org), its (protocol,
// proxyPort) (any org), its niceId (its org).
func checkResourceFree(ctx context.Context, q querier, r *corev1.Resource, exceptID int64) error {
	if r.FullDomain != nil {
		taken, err := exists(ctx, q, `SELECT 1 FROM resources WHERE full_domain = $1 AND resource_id <> $2`,
			r.GetFullDomain(), exceptID)
		if err != nil {
			return err
		}
		if taken {
			return errDomainTaken()
		}
	}
	if r.ProxyPort != nil {
		taken, err := exists(ctx, q,
			`SELECT 1 FROM resources WHERE protocol = $1 AND proxy_port = $2 AND resource_id <> $3`,
			r.GetProtocol(), r.GetProxyPort(), exceptID)
		if err != nil {
			return err
		}
		if taken {
			return errPortTaken()
		}
	}
	taken, err := exists(ctx, q, `SELECT 1 FROM resources WHERE org_id = $1 AND nice_id = $2 AND resource_id <> $3`,
		r.GetOrgId(), r.GetNiceId(), exceptID)
	if err != nil {
		return err
	}
	if taken {
		return errResourceNiceIDTaken(r.GetNiceId())
	}
	return nil
}

// CreateResource stores r and links its org's Admin role to it, in one
// transaction, and returns it as stored. r.resource_id is ignored: the
// database assigns it.
func (s *Store) CreateResource(ctx context.Context, r *corev1.Resource) (*corev1.Resource, error) {
	var stored *corev1.Resource
	err := s.write(ctx, func(tx *tx) error {
		if err := orgExists(ctx, tx, r.GetOrgId()); err != nil {
			return err
		}
		if err := checkResourceFree(ctx, tx, r, 0); err != nil {
			return err
		}
		id, err := insert(ctx, tx, resources, r)
		if foreignKeyViolation(err) {
			return core.Errorf(core.CodeNotFound, "The resource's organization, site or domain no longer exists")
		}
		if err != nil {
			return resourceConflict(err, r.GetNiceId())
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO role_resources (role_id, resource_id) SELECT role_id, $1 FROM roles WHERE org_id = $2 AND is_admin`,
			id, r.GetOrgId()); err != nil {
			return err
		}
		stored, err = getResource(ctx, tx, id)
		return err
	})
	return stored, internal("create resource", err)
}

// GetResource returns the resource.
func (s *Store) GetResource(ctx context.Context, id int64) (*corev1.Resource, error) {
	r, err := getResource(ctx, s.reader, id)
	return r, internal("get resource", err)
}

// ResourceOrg returns the org of the resource.
func (s *Store) ResourceOrg(ctx context.Context, id int64) (string, error) {
	var orgID string
	err := s.reader.QueryRowContext(ctx, `SELECT org_id FROM resources WHERE resource_id = $1`, id).Scan(&orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", core.ResourceNotFound(id)
	}
	return orgID, internal("resource org", err)
}
