package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"strings"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// idpColumns are a user's identity provider fields, read from its
// provider.
var idpColumns = map[string]string{
	"idp_name":           `(SELECT i.name FROM idps i WHERE i.idp_id = u.idp_id)`,
	"idp_type":           `(SELECT i.type FROM idps i WHERE i.idp_id = u.idp_id)`,
	"idp_auto_provision": `(SELECT i.auto_provision FROM idps i WHERE i.idp_id = u.idp_id)`,
	"idp_variant":        `(SELECT c.variant FROM idp_oidc_configs c WHERE c.idp_id = u.idp_id)`,
}

// users holds corev1.User (and what resource access lists of users). It
// never lists password_hash or two_factor_secret: no message can read
// them.
var users = &table{
	name: "users", alias: "u",
	columns: []string{
		"user_id", "email", "username", "name", "type", "idp_id", "two_factor_enabled",
		"two_factor_setup_requested", "email_verified", "date_created", "terms_accepted_timestamp",
		"terms_version", "server_admin",
	},
	computed: idpColumns,
}

// orgUsers reads users with their membership of an org and its role
// (corev1.OrgUser, OrgUserListItem, RoleUser): the query's tail starts
// with orgUsersJoin.
var orgUsers = &table{
	name: "users", alias: "u", columns: users.columns,
	computed: func() map[string]string {
		m := map[string]string{
			"id":               `u.user_id`,
			"org_id":           `uo.org_id`,
			"role_id":          `uo.role_id`,
			"role_name":        `ro.name`,
			"is_owner":         `uo.is_owner`,
			"is_admin":         `(ro.is_admin IS TRUE)`,
			"auto_provisioned": `uo.auto_provisioned`,
		}
		maps.Copy(m, idpColumns)
		return m
	}(),
}

const orgUsersJoin = `JOIN user_orgs uo ON uo.user_id = u.user_id JOIN roles ro ON ro.role_id = uo.role_id`

// memberships holds corev1.OrgMembership.
var memberships = &table{
	name: "user_orgs", alias: "uo",
	columns: []string{"user_id", "org_id", "role_id", "is_owner", "auto_provisioned", "pam_username"},
}

func getMembership(ctx context.Context, q querier, orgID, userID string) (*corev1.OrgMembership, error) {
	m := &corev1.OrgMembership{}
	err := getRow(ctx, q, memberships, m, `WHERE uo.org_id = $1 AND uo.user_id = $2`, orgID, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.OrgUserNotFound(userID)
	}
	return m, err
}

// ListOrgUsers returns a page of the org's members by username, and how
// many there are.
func (s *Store) ListOrgUsers(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.OrgUserListItem, int32, error) {
	return listMembers[corev1.OrgUserListItem](ctx, s, "org_id", orgID, page)
}

// listMembers returns a page of the memberships whose column (org_id or
// role_id) holds value, as messages M of orgUsers, by username, and how
// many there are.
func listMembers[T any, M message[T]](ctx context.Context, s *Store, column string, value any, page *corev1.Page) ([]M, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[T, M](ctx, s.reader, orgUsers,
		orgUsersJoin+` WHERE uo.`+column+` = $1 ORDER BY u.username, u.user_id LIMIT $2 OFFSET $3`, value, limit, offset)
	if err != nil {
		return nil, 0, internal("list members", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM user_orgs WHERE `+column+` = $1`, value)
	return list, total, internal("count members", err)
}

// GetOrgUser returns the member with that id or, failing that, that
// e-mail address.
func (s *Store) GetOrgUser(ctx context.Context, orgID, userID string) (*corev1.OrgUser, error) {
	list, err := getRows[corev1.OrgUser](ctx, s.reader, orgUsers,
		orgUsersJoin+` WHERE uo.org_id = $1 AND (u.user_id = $2 OR u.email = $3) ORDER BY u.user_id <> $2, u.user_id`,
		orgID, userID, strings.ToLower(userID))
	if err != nil {
		return nil, internal("get org user", err)
	}
	if len(list) == 0 {
		return nil, core.OrgUserNotFound(userID)
	}
	return list[0], nil
}

// OrgUsersByUsername lists the org's members with the username, of the
// provider or internal.
func (s *Store) OrgUsersByUsername(ctx context.Context, orgID, username string, idpID *int64) ([]*corev1.OrgUser, error) {
	tail := orgUsersJoin + ` WHERE uo.org_id = $1 AND u.username = $2 AND `
	args := []any{orgID, username}
	if idpID != nil {
		tail += `u.idp_id = $3`
		args = append(args, *idpID)
	} else {
		tail += `u.type = 'internal'`
	}
	list, err := getRows[corev1.OrgUser](ctx, s.reader, orgUsers, tail+` ORDER BY u.user_id`, args...)
	return list, internal("org users by username", err)
}

// CreateOrgUser makes u (or the user of its provider with its username) a
// member of the org with the role, in one transaction, and returns its id.
func (s *Store) CreateOrgUser(ctx context.Context, orgID string, u *corev1.User, roleID int64) (string, error) {
	var userID string
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		admin, found, err := orgRole(ctx, tx, orgID, roleID)
		if err != nil {
			return err
		}
		if !found {
			return core.RoleNotInOrg()
		}
		provider, err := exists(ctx, tx, `SELECT 1 FROM idps WHERE idp_id = $1 AND type = $2`, u.GetIdpId(), core.IdpOIDC)
		if err != nil {
			return err
		}
		if !provider {
			return core.IdpNotFoundInBody(u.GetIdpId())
		}
		err = tx.QueryRowContext(ctx, `SELECT user_id FROM users WHERE username = $1 AND idp_id = $2 ORDER BY user_id`,
			u.GetUsername(), u.GetIdpId()).Scan(&userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			userID = u.GetUserId()
			stamped := proto.CloneOf(u) // a retried run must not see the stamp
			stamped.DateCreated = now()
			_, err := insert(ctx, tx, users, stamped)
			if _, ok := uniqueViolation(err); ok {
				return core.Errorf(core.CodeConflict, "User %s of this identity provider was created at the same time: retry", u.GetUsername())
			}
			if err != nil {
				return err
			}
		case err != nil:
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO user_orgs (user_id, org_id, role_id) VALUES ($1, $2, $3)`, userID, orgID, roleID)
		if _, ok := uniqueViolation(err); ok {
			return core.AlreadyMember()
		}
		if err != nil {
			return err
		}
		return setMemberRole(ctx, tx, orgID, userID, roleID, admin)
	})
	return userID, internal("create org user", err)
}

// UpdateOrgUser sets autoProvisioned and returns the membership.
func (s *Store) UpdateOrgUser(ctx context.Context, req *corev1.UpdateOrgUserRequest) (*corev1.OrgMembership, error) {
	var stored *corev1.OrgMembership
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE user_orgs SET auto_provisioned = $1 WHERE org_id = $2 AND user_id = $3`,
			req.GetAutoProvisioned(), req.GetOrgId(), req.GetUserId())
		if err != nil {
			return err
		}
		if err := updatedOne(res, core.OrgUserNotFound(req.GetUserId())); err != nil {
			return err
		}
		stored, err = getMembership(ctx, tx, req.GetOrgId(), req.GetUserId())
		return err
	})
	return stored, internal("update org user", err)
}

// RemoveOrgUser deletes the membership and the user's grants to the org's
// resources, public and private, in one transaction.
func (s *Store) RemoveOrgUser(ctx context.Context, orgID, userID string) error {
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		m, err := s.lockMembership(ctx, tx, orgID, userID)
		if err != nil {
			return err
		}
		if m.owner {
			return core.OwnerNotRemovable()
		}
		if err := s.mayLeaveAdmin(ctx, tx, orgID, m, core.CodeInvalid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_resources WHERE user_id = $1
			AND resource_id IN (SELECT resource_id FROM resources WHERE org_id = $2)`, userID, orgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_site_resources WHERE user_id = $1
			AND site_resource_id IN (SELECT site_resource_id FROM site_resources WHERE org_id = $2)`, userID, orgID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM user_orgs WHERE org_id = $1 AND user_id = $2`, orgID, userID)
		return err
	})
	return internal("remove org user", err)
}

// userResources reads resources as the user-resources list shows them.
var userResources = &table{
	name: "resources", alias: "r", columns: []string{"resource_id", "name", "enabled", "sso"},
	computed: map[string]string{
		"domain": `CASE WHEN r.full_domain IS NULL THEN NULL
			WHEN r.ssl THEN 'https://' || r.full_domain ELSE 'http://' || r.full_domain END`,
		"password":  `EXISTS (SELECT 1 FROM resource_passwords p WHERE p.resource_id = r.resource_id)`,
		"pincode":   `EXISTS (SELECT 1 FROM resource_pincodes p WHERE p.resource_id = r.resource_id)`,
		"whitelist": `r.email_whitelist_enabled`,
		"protected": `(r.sso OR r.email_whitelist_enabled
			OR EXISTS (SELECT 1 FROM resource_passwords p WHERE p.resource_id = r.resource_id)
			OR EXISTS (SELECT 1 FROM resource_pincodes p WHERE p.resource_id = r.resource_id))`,
	},
}

// EnabledResources lists the org's enabled resources by id.
func (s *Store) EnabledResources(ctx context.Context, orgID string) ([]*corev1.UserResource, error) {
	list, err := getRows[corev1.UserResource](ctx, s.reader, userResources, `WHERE r.org_id = $1 AND r.enabled ORDER BY r.resource_id`, orgID)
	return list, internal("enabled resources", err)
}

// GetUser returns the user.
func (s *Store) GetUser(ctx context.Context, id string) (*corev1.User, error) {
	u := &corev1.User{}
	err := getRow(ctx, s.reader, users, u, `WHERE u.user_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.UserNotFound(id)
	}
	return u, internal("get user", err)
}

// SetUserTwoFactor records whether an internal user is asked to set up
// two-factor authentication; false also turns it off.
func (s *Store) SetUserTwoFactor(ctx context.Context, id string, requested bool) error {
	err := s.write(ctx, func(tx *tx) error {
		var typ string
		err := tx.QueryRowContext(ctx, `SELECT type FROM users WHERE user_id = $1`+s.dialect.forUpdate(), id).Scan(&typ)
		if errors.Is(err, sql.ErrNoRows) {
			return core.UserNotFound(id)
		}
		if err != nil {
			return err
		}
		if typ != core.UserInternal {
			return core.TwoFactorInternalOnly()
		}
		if requested {
			_, err = tx.ExecContext(ctx, `UPDATE users SET two_factor_setup_requested = $1 WHERE user_id = $2`, true, id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE users SET two_factor_setup_requested = $1, two_factor_enabled = $1,
				two_factor_secret = NULL WHERE user_id = $2`, false, id)
		}
		return err
	})
	return internal("set user two-factor", err)
}
