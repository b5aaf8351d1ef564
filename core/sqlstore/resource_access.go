package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// grants are the link tables through which roles, users and clients are
// granted one kind of object (public resources, site resources), and how
// such an object is locked: the rules on grants are the same for every
// kind, only the tables and the answers' noun differ.
type grants struct {
	kind core.Grantee
	// key is the object's id column in the link tables.
	key                   string
	roles, users, clients string
	// lock returns the object's org and, on PostgreSQL, locks its row
	// until the transaction ends; a missing object is its NotFound.
	lock func(s *Store, ctx context.Context, tx *tx, id int64) (string, error)
}

var resourceGrants = &grants{
	kind: core.GrantResource, key: "resource_id", roles: "role_resources", users: "user_resources",
	lock: (*Store).lockResource,
}

// ResourceRoles lists the roles granted the resource, by id.
func (s *Store) ResourceRoles(ctx context.Context, resourceID int64) ([]*corev1.ResourceRole, error) {
	return s.grantedRoles(ctx, resourceGrants, resourceID)
}

// ResourceUsers lists the users granted the resource, by username.
func (s *Store) ResourceUsers(ctx context.Context, resourceID int64) ([]*corev1.ResourceUser, error) {
	return s.grantedUsers(ctx, resourceGrants, resourceID)
}

// SetResourceRoles makes roleIDs the roles granted the resource besides
// its org's Admin role, in one transaction.
func (s *Store) SetResourceRoles(ctx context.Context, resourceID int64, roleIDs []int64) error {
	return s.setRoles(ctx, resourceGrants, resourceID, roleIDs)
}

// AddResourceRole grants a role of the resource's org the resource.
func (s *Store) AddResourceRole(ctx context.Context, resourceID, roleID int64) error {
	return s.addRole(ctx, resourceGrants, resourceID, roleID)
}

// RemoveResourceRole takes the resource from a role of its org.
func (s *Store) RemoveResourceRole(ctx context.Context, resourceID, roleID int64) error {
	return s.removeRole(ctx, resourceGrants, resourceID, roleID)
}

// SetResourceUsers makes userIDs (members of the resource's org) the users
// granted the resource, in one transaction.
func (s *Store) SetResourceUsers(ctx context.Context, resourceID int64, userIDs []string) error {
	return s.setUsers(ctx, resourceGrants, resourceID, userIDs)
}

// AddResourceUser grants a member of the resource's org the resource.
func (s *Store) AddResourceUser(ctx context.Context, resourceID int64, userID string) error {
	return s.addUser(ctx, resourceGrants, resourceID, userID)
}

// RemoveResourceUser takes the resource from a member of its org.
func (s *Store) RemoveResourceUser(ctx context.Context, resourceID int64, userID string) error {
	return s.removeUser(ctx, resourceGrants, resourceID, userID)
}

// grantedRoles lists the roles granted the object, by id.
func (s *Store) grantedRoles(ctx context.Context, g *grants, id int64) ([]*corev1.ResourceRole, error) {
	list, err := getRows[corev1.ResourceRole](ctx, s.reader, roles,
		`JOIN `+g.roles+` l ON l.role_id = ro.role_id WHERE l.`+g.key+` = $1 ORDER BY ro.role_id`, id)
	return list, internal(string(g.kind)+" roles", err)
}

// grantedUsers lists the users granted the object, by username.
func (s *Store) grantedUsers(ctx context.Context, g *grants, id int64) ([]*corev1.ResourceUser, error) {
	list, err := getRows[corev1.ResourceUser](ctx, s.reader, users,
		`JOIN `+g.users+` l ON l.user_id = u.user_id WHERE l.`+g.key+` = $1 ORDER BY u.username, u.user_id`, id)
	return list, internal(string(g.kind)+" users", err)
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

// setRoles makes roleIDs the roles granted the object besides its org's
// Admin role, in one transaction.
func (s *Store) setRoles(ctx context.Context, g *grants, id int64, roleIDs []int64) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := g.lock(s, ctx, tx, id)
		if err != nil {
			return err
		}
		if err := checkRoles(ctx, tx, g, orgID, roleIDs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM `+g.roles+` WHERE `+g.key+` = $1 AND role_id NOT IN (SELECT role_id FROM roles WHERE is_admin)`,
			id); err != nil {
			return err
		}
		return linkRoles(ctx, tx, g, id, roleIDs)
	})
	return internal("set "+string(g.kind)+" roles", err)
}

// checkRoles refuses unless every id is a role of the org other than its
// Admin role.
func checkRoles(ctx context.Context, tx *tx, g *grants, orgID string, roleIDs []int64) error {
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
			return core.AdminRoleNotAssignable(g.kind)
		}
	}
	return nil
}

// linkRoles inserts the links of roleIDs (checked) to the object.
func linkRoles(ctx context.Context, tx *tx, g *grants, id int64, roleIDs []int64) error {
	for _, roleID := range roleIDs {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+g.roles+` (role_id, `+g.key+`) VALUES ($1, $2)`, roleID, id)
		if foreignKeyViolation(err) {
			return core.RolesNotFound() // deleted meanwhile
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lockGrantRole locks the object and checks that roleID is a role of its org
// other than the Admin role (adminErr when it is the Admin role).
func (s *Store) lockGrantRole(ctx context.Context, tx *tx, g *grants, id, roleID int64, adminErr error) error {
	orgID, err := g.lock(s, ctx, tx, id)
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

// addRole grants a role of the object's org the object.
func (s *Store) addRole(ctx context.Context, g *grants, id, roleID int64) error {
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockGrantRole(ctx, tx, g, id, roleID, core.AdminRoleNotAssignable(g.kind)); err != nil {
			return err
		}
		granted, err := exists(ctx, tx, `SELECT 1 FROM `+g.roles+` WHERE role_id = $1 AND `+g.key+` = $2`, roleID, id)
		if err != nil {
			return err
		}
		if granted {
			return core.RoleAlreadyAssigned(g.kind)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO `+g.roles+` (role_id, `+g.key+`) VALUES ($1, $2)`, roleID, id)
		if foreignKeyViolation(err) {
			return core.RoleNotInOrg() // deleted meanwhile
		}
		return err
	})
	return internal("add "+string(g.kind)+" role", err)
}

// removeRole takes the object from a role of its org.
func (s *Store) removeRole(ctx context.Context, g *grants, id, roleID int64) error {
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockGrantRole(ctx, tx, g, id, roleID, core.AdminRoleNotRemovable(g.kind)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM `+g.roles+` WHERE role_id = $1 AND `+g.key+` = $2`, roleID, id)
		if err != nil {
			return err
		}
		return deletedOne(res, core.RoleNotAssigned(g.kind))
	})
	return internal("remove "+string(g.kind)+" role", err)
}

// membersOnly refuses unless every id is a member of the org. On
// PostgreSQL the memberships are locked until the transaction ends, so
// that a member removed meanwhile cannot keep a grant.
func (s *Store) membersOnly(ctx context.Context, tx *tx, orgID string, userIDs []string) error {
	return inChunks(orgID, userIDs, func(args []any, n int) error {
		found, err := count(ctx, tx, `SELECT COUNT(*) FROM (SELECT user_id FROM user_orgs WHERE org_id = $1 AND user_id IN (`+
			placeholders(2, n)+`)`+s.dialect.forUpdate()+`) m`, args...)
		if err != nil {
			return err
		}
		if int(found) != n {
			return core.UsersNotMembers()
		}
		return nil
	})
}

// setUsers makes userIDs (members of the object's org) the users granted
// the object, in one transaction.
func (s *Store) setUsers(ctx context.Context, g *grants, id int64, userIDs []string) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := g.lock(s, ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.membersOnly(ctx, tx, orgID, userIDs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+g.users+` WHERE `+g.key+` = $1`, id); err != nil {
			return err
		}
		return linkUsers(ctx, tx, g, id, userIDs)
	})
	return internal("set "+string(g.kind)+" users", err)
}

// linkUsers inserts the links of userIDs (checked) to the object.
func linkUsers(ctx context.Context, tx *tx, g *grants, id int64, userIDs []string) error {
	for _, userID := range userIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+g.users+` (user_id, `+g.key+`) VALUES ($1, $2)`, userID, id); err != nil {
			return err
		}
	}
	return nil
}

// addUser grants a member of the object's org the object.
func (s *Store) addUser(ctx context.Context, g *grants, id int64, userID string) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := g.lock(s, ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.membersOnly(ctx, tx, orgID, []string{userID}); err != nil {
			return err
		}
		granted, err := exists(ctx, tx, `SELECT 1 FROM `+g.users+` WHERE user_id = $1 AND `+g.key+` = $2`, userID, id)
		if err != nil {
			return err
		}
		if granted {
			return core.UserAlreadyAssigned(g.kind)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO `+g.users+` (user_id, `+g.key+`) VALUES ($1, $2)`, userID, id)
		return err
	})
	return internal("add "+string(g.kind)+" user", err)
}

// removeUser takes the object from a member of its org.
func (s *Store) removeUser(ctx context.Context, g *grants, id int64, userID string) error {
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := g.lock(s, ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.membersOnly(ctx, tx, orgID, []string{userID}); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM `+g.users+` WHERE user_id = $1 AND `+g.key+` = $2`, userID, id)
		if err != nil {
			return err
		}
		return deletedOne(res, core.UserNotAssigned(g.kind))
	})
	return internal("remove "+string(g.kind)+" user", err)
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
