package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// idps holds corev1.Idp; IdpListItem adds the number of orgs it has a
// policy for and its OIDC variant.
var idps = &table{
	name: "idps", alias: "i", generated: "idp_id",
	columns: []string{"idp_id", "name", "type", "default_role_mapping", "default_org_mapping", "auto_provision", "tags"},
	computed: map[string]string{
		"org_count": `(SELECT COUNT(*) FROM idp_orgs p WHERE p.idp_id = i.idp_id)`,
		"variant":   `(SELECT c.variant FROM idp_oidc_configs c WHERE c.idp_id = i.idp_id)`,
	},
}

// idpOidcConfigs holds corev1.IdpOidcConfig. client_secret_hash is written
// beside the message and is no column here, so no read can return it.
var idpOidcConfigs = &table{
	name: "idp_oidc_configs", alias: "c", generated: "idp_oauth_config_id",
	columns: []string{
		"idp_oauth_config_id", "idp_id", "client_id", "auth_url", "token_url", "identifier_path", "email_path",
		"name_path", "scopes", "variant",
	},
}

// idpOrgs holds corev1.IdpOrgPolicy.
var idpOrgs = &table{
	name: "idp_orgs", alias: "p",
	columns: []string{"idp_id", "org_id", "role_mapping", "org_mapping"},
}

// CreateIdp stores the provider and its OIDC settings in one transaction.
func (s *Store) CreateIdp(ctx context.Context, idp *corev1.Idp, cfg *corev1.IdpOidcConfig, secretHash string) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *tx) error {
		var err error
		if id, err = insert(ctx, tx, idps, idp); err != nil {
			return err
		}
		cfg.IdpId = id
		_, err = insert(ctx, tx, idpOidcConfigs, cfg, column{"client_secret_hash", secretHash})
		return err
	})
	return id, internal("create idp", err)
}

func getIdp(ctx context.Context, q querier, id int64) (*corev1.GetIdpResponse, error) {
	out := &corev1.GetIdpResponse{Idp: &corev1.Idp{}, IdpOidcConfig: &corev1.IdpOidcConfig{}}
	err := getRow(ctx, q, idps, out.Idp, `WHERE i.idp_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.IdpNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	err = getRow(ctx, q, idpOidcConfigs, out.IdpOidcConfig, `WHERE c.idp_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		out.IdpOidcConfig, err = nil, nil
	}
	return out, err
}

// GetIdp returns the provider and its OIDC settings.
func (s *Store) GetIdp(ctx context.Context, id int64) (*corev1.GetIdpResponse, error) {
	out, err := getIdp(ctx, s.reader, id)
	return out, internal("get idp", err)
}

// UpdateIdp sets the fields req carries on the provider and its OIDC
// settings, in one transaction.
func (s *Store) UpdateIdp(ctx context.Context, req *corev1.UpdateIdpRequest, secretHash string) error {
	err := s.write(ctx, func(tx *tx) error {
		if err := idpExists(ctx, tx, req.GetIdpId(), s.dialect.forUpdate()); err != nil {
			return err
		}
		if _, err := update(ctx, tx, idps, req, "idp_id"); err != nil {
			return err
		}
		// The settings row is keyed by idp_id here: update's key.
		if _, err := update(ctx, tx, idpOidcConfigs, req, "idp_id"); err != nil {
			return err
		}
		if secretHash == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE idp_oidc_configs SET client_secret_hash = $1 WHERE idp_id = $2`, secretHash, req.GetIdpId())
		return err
	})
	return internal("update idp", err)
}

// DeleteIdp deletes the provider with its settings and policies and its
// users with their memberships and grants, in one transaction; resources
// that skipped to it no longer do.
func (s *Store) DeleteIdp(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE idp_id = $1`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE resources SET skip_to_idp_id = NULL WHERE skip_to_idp_id = $1`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM idps WHERE idp_id = $1`, id)
		if err != nil {
			return err
		}
		return deletedOne(res, core.IdpNotFound(id))
	})
	return internal("delete idp", err)
}

// ListIdps returns a page of the providers by id, and how many there are.
func (s *Store) ListIdps(ctx context.Context, page *corev1.Page) ([]*corev1.IdpListItem, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.IdpListItem](ctx, s.reader, idps, `ORDER BY i.idp_id LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, 0, internal("list idps", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM idps`)
	return list, total, internal("count idps", err)
}

func getIdpOrg(ctx context.Context, q querier, idpID int64, orgID string) (*corev1.IdpOrgPolicy, error) {
	p := &corev1.IdpOrgPolicy{}
	err := getRow(ctx, q, idpOrgs, p, `WHERE p.idp_id = $1 AND p.org_id = $2`, idpID, orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.IdpOrgNotFound()
	}
	return p, err
}

// CreateIdpOrg stores a provider's policy for an org and returns it.
func (s *Store) CreateIdpOrg(ctx context.Context, p *corev1.IdpOrgPolicy) (*corev1.IdpOrgPolicy, error) {
	var stored *corev1.IdpOrgPolicy
	err := s.write(ctx, func(tx *tx) error {
		if err := idpExists(ctx, tx, p.GetIdpId(), ""); err != nil {
			return err
		}
		if err := orgExists(ctx, tx, p.GetOrgId()); err != nil {
			return err
		}
		_, err := insert(ctx, tx, idpOrgs, p)
		if _, ok := uniqueViolation(err); ok {
			return core.IdpOrgExists()
		}
		if err != nil {
			return err
		}
		stored, err = getIdpOrg(ctx, tx, p.GetIdpId(), p.GetOrgId())
		return err
	})
	return stored, internal("create idp org", err)
}

// UpdateIdpOrg sets the mappings req carries and returns the policy.
func (s *Store) UpdateIdpOrg(ctx context.Context, req *corev1.IdpOrgRequest) (*corev1.IdpOrgPolicy, error) {
	var stored *corev1.IdpOrgPolicy
	err := s.write(ctx, func(tx *tx) error {
		if _, err := getIdpOrg(ctx, tx, req.GetIdpId(), req.GetOrgId()); err != nil {
			return err
		}
		// COALESCE keeps what the request leaves out (nil).
		if _, err := tx.ExecContext(ctx, `UPDATE idp_orgs SET role_mapping = COALESCE($1, role_mapping),
			org_mapping = COALESCE($2, org_mapping) WHERE idp_id = $3 AND org_id = $4`,
			req.RoleMapping, req.OrgMapping, req.GetIdpId(), req.GetOrgId()); err != nil {
			return err
		}
		var err error
		stored, err = getIdpOrg(ctx, tx, req.GetIdpId(), req.GetOrgId())
		return err
	})
	return stored, internal("update idp org", err)
}

// DeleteIdpOrg deletes a provider's policy for an org.
func (s *Store) DeleteIdpOrg(ctx context.Context, idpID int64, orgID string) error {
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idp_orgs WHERE idp_id = $1 AND org_id = $2`, idpID, orgID)
		if err != nil {
			return err
		}
		return deletedOne(res, core.IdpOrgNotFound())
	})
	return internal("delete idp org", err)
}

// ListIdpOrgs returns a page of the provider's policies by org, and how
// many there are.
func (s *Store) ListIdpOrgs(ctx context.Context, idpID int64, page *corev1.Page) ([]*corev1.IdpOrgPolicy, int32, error) {
	if err := idpExists(ctx, s.reader, idpID, ""); err != nil {
		return nil, 0, internal("list idp orgs", err)
	}
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.IdpOrgPolicy](ctx, s.reader, idpOrgs, `WHERE p.idp_id = $1 ORDER BY p.org_id LIMIT $2 OFFSET $3`, idpID, limit, offset)
	if err != nil {
		return nil, 0, internal("list idp orgs", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM idp_orgs WHERE idp_id = $1`, idpID)
	return list, total, internal("count idp orgs", err)
}

// idpExists answers IdpNotFound for a missing provider, as orgExists does
// for orgs; lock, when not empty, row-locks it until the transaction ends.
func idpExists(ctx context.Context, q querier, id int64, lock string) error {
	found, err := exists(ctx, q, `SELECT 1 FROM idps WHERE idp_id = $1`+lock, id)
	if err == nil && !found {
		err = core.IdpNotFound(id)
	}
	return err
}
