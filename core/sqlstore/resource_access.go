package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ResourceRoles lists the roles granted the resource, by id.
func (s *Store) ResourceRoles(ctx context.Context, resourceID int64) ([]*corev1.ResourceRole, error) {
	list, err := getRows[corev1.ResourceRole](ctx, s.reader, roles,
		`JOIN role_resources rr ON rr.role_id = ro.role_id WHERE rr.resource_id = $1 ORDER BY ro.role_id`, resourceID)
	return list, internal("resource roles", err)
}

// ResourceUsers lists the users granted the resource, by username.
func (s *Store) ResourceUsers(ctx context.Context, resourceID int64) ([]*corev1.ResourceUser, error) {
	list, err := getRows[corev1.ResourceUser](ctx, s.reader, users,
		`JOIN user_resources ur ON ur.user_id = u.user_id WHERE ur.resource_id = $1 ORDER BY u.username, u.user_id`, resourceID)
	return list, internal("resource users", err)
}

// orgRole reads whether a role of the org is its Admin role; found is
// false for a role that does not exist or is of another org.
func orgRole(ctx context.Context, q querier, orgID string, roleID int64) (admin, found bool, err error) {
	var isAdmin sql.NullBool
	err = q.QueryRowContext(ctx, `SELECT is_admin FROM roles WHERE role_id = $1 AND org_id = $2`, roleID, orgID).Scan(&isAdmin)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	return isAdmin.Bool, err == nil, err
}

// SetResourceRoles makes roleIDs the roles granted the resource besides
// its org's Admin role, in one transaction.
func (s *Store) SetResourceRoles(ctx context.Context, resourceID int64, roleIDs []int64) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := s.lockResource(ctx, tx, resourceID)
		if err != nil {
			return err
		}
		admins := map[int64]bool{}
		for _, id := range roleIDs {
			admin, found, err := orgRole(ctx, tx, orgID, id)
			if err != nil {
				return err
			}
			if !found {
				return core.RolesNotFound()
			}
			admins[id] = admin
		}
		for _, id := range roleIDs {
			if admins[id] {
				return core.AdminRoleNotAssignable()
			}
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM role_resources WHERE resource_id = $1 AND role_id NOT IN (SELECT role_id FROM roles WHERE is_admin)`,
			resourceID); err != nil {
			return err
		}
		for _, id := range roleIDs {
			_, err := tx.ExecContext(ctx, `INSERT INTO role_resources (role_id, resource_id) VALUES ($1, $2)`, id, resourceID)
			if foreignKeyViolation(err) {
				return core.RolesNotFound() // deleted meanwhile
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return internal("set resource roles", err)
}

// lockResourceRole locks the resource and checks that roleID is a role of
// its org other than the Admin role (adminErr when it is the Admin role).
func (s *Store) lockResourceRole(ctx context.Context, tx *tx, resourceID, roleID int64, adminErr error) error {
	orgID, err := s.lockResource(ctx, tx, resourceID)
	if err != nil {
		return err
	}
	admin, found, err := orgRole(ctx, tx, orgID, roleID)
	switch {
	case err != nil:
		return err
	case !found:
		return core.RoleNotInOrg()
	case admin:
		return adminErr
	}
	return nil
}

// AddResourceRole grants a role of the resource's org the resource.
func (s *Store) AddResourceRole(ctx context.Context, resourceID, roleID int64) error {
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockResourceRole(ctx, tx, resourceID, roleID, core.AdminRoleNotAssignable()); err != nil {
			return err
		}
		granted, err := exists(ctx, tx, `SELECT 1 FROM role_resources WHERE role_id = $1 AND resource_id = $2`, roleID, resourceID)
		if err != nil {
			return err
		}
		if granted {
			return core.RoleAlreadyAssigned()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO role_resources (role_id, resource_id) VALUES ($1, $2)`, roleID, resourceID)
		if foreignKeyViolation(err) {
			return core.RoleNotInOrg() // deleted meanwhile
		}
		return err
	})
	return internal("add resource role", err)
}

// RemoveResourceRole takes the resource from a role of its org.
func (s *Store) RemoveResourceRole(ctx context.Context, resourceID, roleID int64) error {
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockResourceRole(ctx, tx, resourceID, roleID, core.AdminRoleNotRemovable()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM role_resources WHERE role_id = $1 AND resource_id = $2`, roleID, resourceID)
		if err != nil {
			return err
		}
		return deletedOne(res, core.RoleNotAssigned())
	})
	return internal("remove resource role", err)
}

// membersOnly refuses unless every id is a member of the org. On
// PostgreSQL the memberships are locked until the transaction ends, so
// that a member removed meanwhile cannot keep a grant.
func (s *Store) membersOnly(ctx context.Context, tx *tx, orgID string, userIDs []string) error {
	const chunk = 500 // placeholders per query, far below either database's limit
	for start := 0; start < len(userIDs); start += chunk {
		ids := userIDs[start:min(start+chunk, len(userIDs))]
		args := []any{orgID}
		for _, id := range ids {
			args = append(args, id)
		}
		n, err := count(ctx, tx, `SELECT COUNT(*) FROM (SELECT user_id FROM user_orgs WHERE org_id = $1 AND user_id IN (`+
			placeholders(2, len(ids))+`)`+s.dialect.forUpdate()+`) m`, args...)
		if err != nil {
			return err
		}
		if int(n) != len(ids) {
			return core.UsersNotMembers()
		}
	}
	return nil
}

// SetResourceUsers makes userIDs (members of the resource's org) the users
// granted the resource, in one transaction.
func (s *Store) SetResourceUsers(ctx context.Context, resourceID int64, userIDs []string) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := s.lockResource(ctx, tx, resourceID)
		if err != nil {
			return err
		}
		if err := s.membersOnly(ctx, tx, orgID, userIDs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_resources WHERE resource_id = $1`, resourceID); err != nil {
			return err
		}
		for _, id := range userIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO user_resources (user_id, resource_id) VALUES ($1, $2)`, id, resourceID); err != nil {
				return err
			}
		}
		return nil
	})
	return internal("set resource users", err)
}

// AddResourceUser grants a member of the resource's org the resource.
func (s *Store) AddResourceUser(ctx context.Context, resourceID int64, userID string) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := s.lockResource(ctx, tx, resourceID)
		if err != nil {
			return err
		}
		if err := s.membersOnly(ctx, tx, orgID, []string{userID}); err != nil {
			return err
		}
		granted, err := exists(ctx, tx, `SELECT 1 FROM user_resources WHERE user_id = $1 AND resource_id = $2`, userID, resourceID)
		if err != nil {
			return err
		}
		if granted {
			return core.UserAlreadyAssigned()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO user_resources (user_id, resource_id) VALUES ($1, $2)`, userID, resourceID)
		return err
	})
	return internal("add resource user", err)
}

// RemoveResourceUser takes the resource from a member of its org.
func (s *Store) RemoveResourceUser(ctx context.Context, resourceID int64, userID string) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := s.lockResource(ctx, tx, resourceID)
		if err != nil {
			return err
		}
		if err := s.membersOnly(ctx, tx, orgID, []string{userID}); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM user_resources WHERE user_id = $1 AND resource_id = $2`, userID, resourceID)
		if err != nil {
			return err
		}
		return deletedOne(res, core.UserNotAssigned())
	})
	return internal("remove resource user", err)
}

// AddOrgMember makes u a member of the org with its Member role, creating
// the user (internal users included, which the API only invites) when it
// does not exist, and returns the Member role's id: how tests and
// fixtures make internal members.
func (s *Store) AddOrgMember(ctx context.Context, orgID string, u *corev1.ResourceUser) (roleID int64, err error) {
	err = s.write(ctx, func(tx *tx) error {
		found, err := exists(ctx, tx, `SELECT 1 FROM users WHERE user_id = $1`, u.GetUserId())
		if err != nil {
			return err
		}
		if !found {
			if _, err := insert(ctx, tx, users, u, column{"date_created", now()}); err != nil {
				return err
			}
		}
		err = tx.QueryRowContext(ctx, `SELECT role_id FROM roles WHERE org_id = $1 AND name = $2`, orgID, core.MemberRoleName).Scan(&roleID)
		if errors.Is(err, sql.ErrNoRows) {
			return errOrgNotFound(orgID)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO user_orgs (user_id, org_id, role_id) VALUES ($1, $2, $3)`, u.GetUserId(), orgID, roleID)
		if _, ok := uniqueViolation(err); ok {
			return core.Errorf(core.CodeConflict, "User %s is already a member of organization %s", u.GetUserId(), orgID)
		}
		return err
	})
	return roleID, internal("add org member", err)
}
