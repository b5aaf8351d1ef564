package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
	// For lists (corev1.ResourceListItem): the site's name and niceId (1.8
	// lists the niceId as siteId), the ids of the resource's auth.
	computed: map[string]string{
		"site_name":      `(SELECT s.name FROM sites s WHERE s.site_id = r.site_id)`,
		"site_nice_id":   `(SELECT s.nice_id FROM sites s WHERE s.site_id = r.site_id)`,
		"password_id":    `(SELECT MIN(p.password_id) FROM resource_passwords p WHERE p.resource_id = r.resource_id)`,
		"pincode_id":     `(SELECT MIN(p.pincode_id) FROM resource_pincodes p WHERE p.resource_id = r.resource_id)`,
		"header_auth_id": `(SELECT MIN(h.header_auth_id) FROM resource_header_auth h WHERE h.resource_id = r.resource_id)`,
		"whitelist":      `r.email_whitelist_enabled`,
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
// proxyPort) (any org), its niceId (its org, among resources and site
// resources).
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
	// Site resources share the namespace.
	taken, err := exists(ctx, q, `SELECT 1 FROM resources WHERE org_id = $1 AND nice_id = $2 AND resource_id <> $3
		UNION ALL SELECT 1 FROM site_resources WHERE org_id = $1 AND nice_id = $2`,
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
	return objectOrg(ctx, s.reader, "resource org", `SELECT org_id FROM resources WHERE resource_id = $1`, id, core.ResourceNotFound)
}

// ListResources returns a page of the resources f selects, and how many it
// selects.
func (s *Store) ListResources(ctx context.Context, f core.ResourceFilter, page *corev1.Page) ([]*corev1.ResourceListItem, int32, error) {
	where := []string{"r.org_id = $1"}
	args := []any{f.OrgID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.SiteID != nil {
		n := arg(*f.SiteID)
		where = append(where, `(r.site_id = `+n+` OR EXISTS (SELECT 1 FROM targets t WHERE t.resource_id = r.resource_id AND t.site_id = `+n+`))`)
	}
	if f.Query != nil {
		n := arg("%" + likeEscaper.Replace(strings.ToLower(*f.Query)) + "%")
		where = append(where, `(LOWER(r.name) LIKE `+n+` ESCAPE '\' OR LOWER(r.nice_id) LIKE `+n+` ESCAPE '\'
			OR LOWER(COALESCE(r.full_domain, '')) LIKE `+n+` ESCAPE '\')`)
	}
	if f.Enabled != nil {
		where = append(where, `r.enabled = `+arg(*f.Enabled))
	}
	if f.Protocol != nil {
		switch *f.Protocol {
		case "http":
			where = append(where, `r.http AND NOT r.ssl`)
		case "https":
			where = append(where, `r.http AND r.ssl`)
		default:
			where = append(where, `NOT r.http AND r.protocol = `+arg(*f.Protocol))
		}
	}
	dir := direction(f.Desc)
	order := "r.resource_id " + dir
	if f.SortByName {
		order = "LOWER(r.name) " + dir + ", r.name " + dir + ", r.resource_id " + dir
	}
	return pageOf[corev1.ResourceListItem](ctx, s, resources, "resources", strings.Join(where, " AND "), order, args, page)
}

// likeEscaper escapes the LIKE wildcards of user text.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ResourceNames returns the id and name of every resource of the org.
func (s *Store) ResourceNames(ctx context.Context, orgID string) ([]*corev1.ResourceName, error) {
	list, err := getRows[corev1.ResourceName](ctx, s.reader, resources, `WHERE r.org_id = $1 ORDER BY r.resource_id`, orgID)
	return list, internal("resource names", err)
}

// UpdateResource reads the resource (locked on PostgreSQL), lets change
// modify it and writes the result, in one transaction. Its id, org and
// guid never change.
func (s *Store) UpdateResource(ctx context.Context, id int64, change func(*corev1.Resource) error) (*corev1.Resource, error) {
	var stored *corev1.Resource
	err := s.write(ctx, func(tx *tx) error {
		r := &corev1.Resource{}
		err := getRow(ctx, tx, resources, r, `WHERE r.resource_id = $1`+s.dialect.forUpdate(), id)
		if errors.Is(err, sql.ErrNoRows) {
			return core.ResourceNotFound(id)
		}
		if err != nil {
			return err
		}
		orgID, guid := r.GetOrgId(), r.GetResourceGuid()
		if err := change(r); err != nil {
			return err
		}
		r.ResourceId, r.OrgId, r.ResourceGuid = id, orgID, guid
		if err := checkResourceFree(ctx, tx, r, id); err != nil {
			return err
		}
		if _, err := updateRow(ctx, tx, resources, r, "resource_id", "org_id", "resource_guid"); err != nil {
			return resourceConflict(err, r.GetNiceId())
		}
		stored, err = getResource(ctx, tx, id)
		return err
	})
	return stored, internal("update resource", err)
}

// DeleteResource deletes the resource; its targets, rules, auth, grants
// and tokens cascade in the same statement.
func (s *Store) DeleteResource(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "resources", "resource_id", id, core.ResourceNotFound(id))
}

// TransferResource moves the resource and its targets on its old site to
// the site, in one transaction.
func (s *Store) TransferResource(ctx context.Context, id, siteID int64) (*corev1.Resource, error) {
	var stored *corev1.Resource
	err := s.write(ctx, func(tx *tx) error {
		r, err := getResource(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.SiteId != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE targets SET site_id = $1 WHERE resource_id = $2 AND site_id = $3`,
				siteID, id, r.GetSiteId()); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE resources SET site_id = $1 WHERE resource_id = $2`, siteID, id)
		if foreignKeyViolation(err) {
			return core.SiteNotFound(siteID)
		}
		if err != nil {
			return err
		}
		stored, err = getResource(ctx, tx, id)
		return err
	})
	return stored, internal("transfer resource", err)
}
