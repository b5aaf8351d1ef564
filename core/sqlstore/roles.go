package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// roles holds corev1.Role; RoleListItem adds its org's name, and resource
// access reads its ResourceRole from the same declaration.
var roles = &table{
	name: "roles", alias: "ro", generated: "role_id",
	columns: []string{
		"role_id", "org_id", "is_admin", "name", "description", "require_device_approval", "ssh_sudo_mode",
		"ssh_sudo_commands", "ssh_create_home_dir", "ssh_unix_groups", "allow_ssh",
	},
	computed: map[string]string{"org_name": `(SELECT o.name FROM orgs o WHERE o.org_id = ro.org_id)`},
}

func getRole(ctx context.Context, q querier, id int64) (*corev1.Role, error) {
	r := &corev1.Role{}
	err := getRow(ctx, q, roles, r, `WHERE ro.role_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.RoleNotFound(id)
	}
	return r, err
}

// roleNameTaken reports whether another role of the org (not exceptID)
// has the name.
func roleNameTaken(ctx context.Context, q querier, orgID, name string, exceptID int64) error {
	taken, err := exists(ctx, q, `SELECT 1 FROM roles WHERE org_id = $1 AND name = $2 AND role_id <> $3`, orgID, name, exceptID)
	if err == nil && taken {
		err = core.RoleNameTaken(name)
	}
	return err
}

// CreateRole stores the role, granted core.MemberActions, and returns it
// as stored.
func (s *Store) CreateRole(ctx context.Context, r *corev1.Role) (*corev1.Role, error) {
	var stored *corev1.Role
	err := s.write(ctx, func(tx *tx) error {
		if err := orgExists(ctx, tx, r.GetOrgId()); err != nil {
			return err
		}
		if err := roleNameTaken(ctx, tx, r.GetOrgId(), r.GetName(), 0); err != nil {
			return err
		}
		id, err := insert(ctx, tx, roles, r)
		if _, ok := uniqueViolation(err); ok {
			return core.RoleNameTaken(r.GetName()) // created concurrently
		}
		if err != nil {
			return err
		}
		if err := grantActions(ctx, tx, id, r.GetOrgId(), core.MemberActions); err != nil {
			return err
		}
		stored, err = getRole(ctx, tx, id)
		return err
	})
	return stored, internal("create role", err)
}

// GetRole returns the role.
func (s *Store) GetRole(ctx context.Context, id int64) (*corev1.Role, error) {
	r, err := getRole(ctx, s.reader, id)
	return r, internal("get role", err)
}

// RoleOrg returns the org of the role.
func (s *Store) RoleOrg(ctx context.Context, id int64) (string, error) {
	return objectOrg(ctx, s.reader, "role org", `SELECT org_id FROM roles WHERE role_id = $1`, id, core.RoleNotFound)
}

// ListRoles returns a page of the org's roles by id, and how many there
// are; a missing org → NotFound.
func (s *Store) ListRoles(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.RoleListItem, int32, error) {
	if err := orgExists(ctx, s.reader, orgID); err != nil {
		return nil, 0, internal("list roles", err)
	}
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.RoleListItem](ctx, s.reader, roles, `WHERE ro.org_id = $1 ORDER BY ro.role_id LIMIT $2 OFFSET $3`, orgID, limit, offset)
	if err != nil {
		return nil, 0, internal("list roles", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM roles WHERE org_id = $1`, orgID)
	return list, total, internal("count roles", err)
}

// lockRole reads the role, row-locked until the transaction ends.
func (s *Store) lockRole(ctx context.Context, tx *tx, id int64) (*corev1.Role, error) {
	r := &corev1.Role{}
	err := getRow(ctx, tx, roles, r, `WHERE ro.role_id = $1`+s.dialect.forUpdate(), id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.RoleNotFound(id)
	}
	return r, err
}

// UpdateRole sets the fields req carries and returns the role as stored.
func (s *Store) UpdateRole(ctx context.Context, req *corev1.UpdateRoleRequest) (*corev1.Role, error) {
	var stored *corev1.Role
	err := s.write(ctx, func(tx *tx) error {
		r, err := s.lockRole(ctx, tx, req.GetRoleId())
		if err != nil {
			return err
		}
		if req.Name != nil && req.GetName() != r.GetName() {
			if r.GetIsAdmin() {
				return core.AdminRoleRenamed()
			}
			if err := roleNameTaken(ctx, tx, r.GetOrgId(), req.GetName(), r.GetRoleId()); err != nil {
				return err
			}
		}
		if _, err := update(ctx, tx, roles, req, "role_id"); err != nil {
			if _, ok := uniqueViolation(err); ok {
				return core.RoleNameTaken(req.GetName())
			}
			return err
		}
		stored, err = getRole(ctx, tx, req.GetRoleId())
		return err
	})
	return stored, internal("update role", err)
}

// DeleteRole moves the role's members to replacement and deletes the role
// (its grants and invitations cascade), in one transaction.
func (s *Store) DeleteRole(ctx context.Context, id, replacement int64) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := objectOrg(ctx, tx, "role org", `SELECT org_id FROM roles WHERE role_id = $1`, id, core.RoleNotFound)
		if err != nil {
			return err
		}
		if err := s.lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		r, err := s.lockRole(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.GetIsAdmin() {
			return core.AdminRoleNotDeletable()
		}
		found, err := exists(ctx, tx, `SELECT 1 FROM roles WHERE role_id = $1 AND org_id = $2`, replacement, r.GetOrgId())
		if err != nil {
			return err
		}
		if !found {
			return core.RoleNotFound(replacement)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE user_orgs SET role_id = $1 WHERE role_id = $2`, replacement, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM roles WHERE role_id = $1`, id)
		return err
	})
	return internal("delete role", err)
}

// membership is a member's row of user_orgs with whether its role is the
// Admin role.
type membership struct {
	roleID       int64
	owner, admin bool
}

// lockMembership reads a member's membership, row-locked until the
// transaction ends; not a member → OrgUserNotFound.
func (s *Store) lockMembership(ctx context.Context, tx *tx, orgID, userID string) (membership, error) {
	var m membership
	var admin sql.NullBool
	err := tx.QueryRowContext(ctx, `SELECT uo.role_id, uo.is_owner, ro.is_admin FROM user_orgs uo
		JOIN roles ro ON ro.role_id = uo.role_id WHERE uo.org_id = $1 AND uo.user_id = $2`+s.dialect.forUpdate(),
		orgID, userID).Scan(&m.roleID, &m.owner, &admin)
	if errors.Is(err, sql.ErrNoRows) {
		return m, core.OrgUserNotFound(userID)
	}
	m.admin = admin.Bool
	return m, err
}

// mayLeaveAdmin refuses a change that takes the Admin role from the org's
// owner or from the role's last member (code: the route's status). The
// caller holds the org's lock, so that two members leaving it at once
// cannot both pass.
func (s *Store) mayLeaveAdmin(ctx context.Context, tx *tx, orgID string, m membership, code core.Code) error {
	if !m.admin {
		return nil
	}
	if m.owner {
		return core.OwnerKeepsAdmin(code)
	}
	n, err := count(ctx, tx, `SELECT COUNT(*) FROM user_orgs WHERE org_id = $1 AND role_id = $2`, orgID, m.roleID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return core.AdminRoleNeedsMember(code)
	}
	return nil
}

// setMemberRole gives a member the role; joining the Admin role in an org
// without an owner makes it the owner. The caller holds the org's lock, so
// that two members joining at once cannot both find no owner.
func setMemberRole(ctx context.Context, tx *tx, orgID, userID string, roleID int64, admin bool) error {
	owner := false
	if admin {
		taken, err := exists(ctx, tx, `SELECT 1 FROM user_orgs WHERE org_id = $1 AND is_owner`, orgID)
		if err != nil {
			return err
		}
		owner = !taken
	}
	_, err := tx.ExecContext(ctx, `UPDATE user_orgs SET role_id = $1, is_owner = is_owner OR $2 WHERE org_id = $3 AND user_id = $4`,
		roleID, owner, orgID, userID)
	return err
}

// lockRoleMember locks the role's org, the role and the membership of the
// user in the org (not a member → OrgUserNotFound).
func (s *Store) lockRoleMember(ctx context.Context, tx *tx, roleID int64, userID string) (*corev1.Role, membership, error) {
	orgID, err := objectOrg(ctx, tx, "role org", `SELECT org_id FROM roles WHERE role_id = $1`, roleID, core.RoleNotFound)
	if err != nil {
		return nil, membership{}, err
	}
	if err := s.lockOrg(ctx, tx, orgID); err != nil {
		return nil, membership{}, err
	}
	r, err := s.lockRole(ctx, tx, roleID)
	if err != nil {
		return nil, membership{}, err
	}
	m, err := s.lockMembership(ctx, tx, r.GetOrgId(), userID)
	return r, m, err
}

// SetUserRole makes the role the member's role in its org and returns the
// membership.
func (s *Store) SetUserRole(ctx context.Context, roleID int64, userID string) (*corev1.OrgMembership, error) {
	var stored *corev1.OrgMembership
	err := s.write(ctx, func(tx *tx) error {
		r, m, err := s.lockRoleMember(ctx, tx, roleID, userID)
		if err != nil {
			return err
		}
		if m.roleID != roleID {
			if !r.GetIsAdmin() {
				if err := s.mayLeaveAdmin(ctx, tx, r.GetOrgId(), m, core.CodeForbidden); err != nil {
					return err
				}
			}
			if err := setMemberRole(ctx, tx, r.GetOrgId(), userID, roleID, r.GetIsAdmin()); err != nil {
				return err
			}
		}
		stored, err = getMembership(ctx, tx, r.GetOrgId(), userID)
		return err
	})
	return stored, internal("set user role", err)
}

// RemoveUserRole gives a member who has the role its org's Member role.
func (s *Store) RemoveUserRole(ctx context.Context, roleID int64, userID string) error {
	err := s.write(ctx, func(tx *tx) error {
		r, m, err := s.lockRoleMember(ctx, tx, roleID, userID)
		if err != nil {
			return err
		}
		if m.roleID != roleID {
			return core.UserLacksRole(userID, roleID)
		}
		var memberRole int64
		err = tx.QueryRowContext(ctx, `SELECT role_id FROM roles WHERE org_id = $1 AND name = $2 AND is_admin IS NOT TRUE`,
			r.GetOrgId(), core.MemberRoleName).Scan(&memberRole)
		if errors.Is(err, sql.ErrNoRows) || memberRole == roleID {
			return core.MemberRoleNotRemovable()
		}
		if err != nil {
			return err
		}
		if err := s.mayLeaveAdmin(ctx, tx, r.GetOrgId(), m, core.CodeForbidden); err != nil {
			return err
		}
		return setMemberRole(ctx, tx, r.GetOrgId(), userID, memberRole, false)
	})
	return internal("remove user role", err)
}

// ListRoleUsers returns a page of the members who have the role, by
// username, and how many there are.
func (s *Store) ListRoleUsers(ctx context.Context, roleID int64, page *corev1.Page) ([]*corev1.RoleUser, int32, error) {
	return listMembers[corev1.RoleUser](ctx, s, "role_id", roleID, page)
}

// grantActions grants the role the actions (nil: every action).
func grantActions(ctx context.Context, tx *tx, roleID int64, orgID string, actions []string) error {
	grant := `INSERT INTO role_actions (role_id, action_id, org_id) SELECT $1, action_id, $2 FROM actions`
	args := []any{roleID, orgID}
	if actions != nil {
		grant += ` WHERE action_id IN (` + placeholders(3, len(actions)) + `)`
		for _, a := range actions {
			args = append(args, a)
		}
	}
	_, err := tx.ExecContext(ctx, grant, args...)
	return err
}
