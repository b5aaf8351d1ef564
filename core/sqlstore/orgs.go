package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

var orgs = &table{
	name: "orgs", alias: "o",
	columns: []string{"org_id", "name", "subnet", "utility_subnet", "created_at"},
}

func errOrgNotFound(id string) error {
	return core.Errorf(core.CodeNotFound, "Organization with ID %s not found", id)
}

func errOrgExists(id string) error {
	return core.Errorf(core.CodeConflict, "Organization with ID %s already exists", id)
}

func getOrg(ctx context.Context, q querier, id string) (*corev1.Org, error) {
	org := &corev1.Org{}
	err := getRow(ctx, q, orgs, org, `WHERE o.org_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errOrgNotFound(id)
	}
	return org, err
}

func orgExists(ctx context.Context, q querier, id string) error {
	found, err := exists(ctx, q, `SELECT 1 FROM orgs WHERE org_id = $1`, id)
	if err == nil && !found {
		err = errOrgNotFound(id)
	}
	return err
}

// lockOrg row-locks the org until the transaction ends (a missing one →
// NotFound). Writes that change an org's members take it first, before any
// other row: they queue on it instead of deadlocking on the rows they
// would otherwise lock in different orders. Writers of the org's overlay
// addresses (sites, clients) take it too, so an address read as free stays
// free until the writer commits (SQLite's one writer is serial anyway).
func (s *Store) lockOrg(ctx context.Context, tx *tx, id string) error {
	found, err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE org_id = $1`+s.dialect.forUpdate(), id)
	if err == nil && !found {
		err = errOrgNotFound(id)
	}
	return err
}

// CreateOrg stores org (an empty created_at is set to now) with its Admin
// and Member roles and its links to the config-managed domains, in one
// transaction, and returns it as stored.
func (s *Store) CreateOrg(ctx context.Context, org *corev1.Org) (*corev1.Org, error) {
	if org.CreatedAt == "" {
		org.CreatedAt = now()
	}
	var stored *corev1.Org
	err := s.write(ctx, func(tx *tx) error {
		taken, err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE org_id = $1`, org.GetOrgId())
		if err != nil {
			return err
		}
		if taken {
			return errOrgExists(org.GetOrgId())
		}
		_, err = insert(ctx, tx, orgs, org)
		if _, ok := uniqueViolation(err); ok {
			return errOrgExists(org.GetOrgId()) // created concurrently
		}
		if err != nil {
			return err
		}
		if err := createOrgRoles(ctx, tx, org.GetOrgId()); err != nil {
			return err
		}
		if err := linkConfigDomains(ctx, tx, org.GetOrgId()); err != nil {
			return err
		}
		stored, err = getOrg(ctx, tx, org.GetOrgId())
		return err
	})
	return stored, internal("create org", err)
}

// GetOrg returns the org.
func (s *Store) GetOrg(ctx context.Context, id string) (*corev1.Org, error) {
	org, err := getOrg(ctx, s.reader, id)
	return org, internal("get org", err)
}

// ListOrgs returns a page of orgs ordered by id, and how many there are.
func (s *Store) ListOrgs(ctx context.Context, page *corev1.Page) ([]*corev1.Org, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.Org](ctx, s.reader, orgs, `ORDER BY o.org_id LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, 0, internal("list orgs", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM orgs`)
	return list, total, internal("count orgs", err)
}

// UpdateOrg sets the fields req carries and returns the org as stored.
func (s *Store) UpdateOrg(ctx context.Context, req *corev1.UpdateOrgRequest) (*corev1.Org, error) {
	var stored *corev1.Org
	err := s.write(ctx, func(tx *tx) error {
		n, err := update(ctx, tx, orgs, req, "org_id")
		if err != nil {
			return err
		}
		if n == 0 {
			return errOrgNotFound(req.GetOrgId())
		}
		stored, err = getOrg(ctx, tx, req.GetOrgId())
		return err
	})
	return stored, internal("update org", err)
}

// DeleteOrg deletes the org, the org keys linked to it and the domains
// only it has, in one transaction; the org's sites, resources (with what
// hangs off them), roles, newts and key links cascade. Root keys are
// untouched. Each deleted key is logged as changed.
func (s *Store) DeleteOrg(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *tx) error {
		// The row lock makes a concurrent CreateKey for this org wait for
		// the outcome, so no key is linked after the keys are listed.
		found, err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE org_id = $1`+s.dialect.forUpdate(), id)
		if err != nil {
			return err
		}
		if !found {
			return errOrgNotFound(id)
		}
		keyIDs, err := queryStrings(ctx, tx,
			`SELECT k.api_key_id FROM api_keys k JOIN api_key_orgs o ON o.api_key_id = k.api_key_id
			 WHERE o.org_id = $1 AND NOT k.is_root ORDER BY k.api_key_id`, id)
		if err != nil {
			return err
		}
		for _, keyID := range keyIDs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE api_key_id = $1`, keyID); err != nil {
				return err
			}
		}
		// The domains the org added go with it, unless another org has
		// them too; config-managed domains stay.
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM domains WHERE NOT config_managed
			 AND domain_id IN (SELECT domain_id FROM org_domains WHERE org_id = $1)
			 AND NOT EXISTS (SELECT 1 FROM org_domains o WHERE o.domain_id = domains.domain_id AND o.org_id <> $1)`,
			id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM orgs WHERE org_id = $1`, id); err != nil {
			return err
		}
		return s.logKeyChanges(ctx, tx, keyIDs...)
	})
	return internal("delete org", err)
}

// createOrgRoles creates the org's Admin role, granted every action, and
// its Member role, granted core.MemberActions.
func createOrgRoles(ctx context.Context, tx *tx, orgID string) error {
	for _, r := range []struct {
		name, description string
		admin             any // NULL for Member, as Pangolin stores it
		actions           []string
	}{
		{core.AdminRoleName, core.AdminRoleDescription, true, nil},
		{core.MemberRoleName, core.MemberRoleDescription, nil, core.MemberActions},
	} {
		var roleID int64
		err := tx.QueryRowContext(ctx,
			`INSERT INTO roles (org_id, is_admin, name, description) VALUES ($1, $2, $3, $4) RETURNING role_id`,
			orgID, r.admin, r.name, r.description).Scan(&roleID)
		if err != nil {
			return err
		}
		if err := grantActions(ctx, tx, roleID, orgID, r.actions); err != nil {
			return err
		}
	}
	return nil
}

// linkConfigDomains links every config-managed domain to the org: they
// serve every org.
func linkConfigDomains(ctx context.Context, tx *tx, orgID string) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO org_domains (org_id, domain_id) SELECT $1, domain_id FROM domains WHERE config_managed`, orgID)
	return err
}
