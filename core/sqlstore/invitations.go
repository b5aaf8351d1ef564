package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// regenWindow is the hour in which an invitation is regenerated at most
// core.MaxRegenerations times.
var regenWindow = time.Hour.Milliseconds()

// checkInvite refuses the invitation for what the org holds: a role not
// of the org, a member with the address, an invitation for it (unless
// regenerating, at most core.MaxRegenerations times an hour). It returns
// the existing invitation's id and regeneration window ("" when none).
func (s *Store) checkInvite(ctx context.Context, q querier, inv *core.PendingInvite) (existing string, since, n int64, err error) {
	_, found, err := orgRole(ctx, q, inv.OrgID, inv.RoleID)
	if err == nil && !found {
		err = core.RoleNotInOrg()
	}
	if err != nil {
		return "", 0, 0, err
	}
	member, err := exists(ctx, q, `SELECT 1 FROM user_orgs uo JOIN users u ON u.user_id = uo.user_id
		WHERE uo.org_id = $1 AND u.email = $2`, inv.OrgID, inv.Email)
	if err != nil {
		return "", 0, 0, err
	}
	if member {
		return "", 0, 0, core.InviteeIsMember()
	}
	var regenSince sql.NullInt64
	err = q.QueryRowContext(ctx, `SELECT invite_id, regen_since, regen_count FROM user_invites WHERE org_id = $1 AND email = $2`,
		inv.OrgID, inv.Email).Scan(&existing, &regenSince, &n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", 0, 0, nil
	case err != nil:
		return "", 0, 0, err
	case !inv.Regenerate:
		return "", 0, 0, core.InviteExists()
	}
	since = regenSince.Int64
	if !regenSince.Valid || inv.Now-since >= regenWindow {
		since, n = inv.Now, 0 // a new window
	}
	if n >= core.MaxRegenerations {
		return "", 0, 0, core.TooManyRegenerations()
	}
	return existing, since, n, nil
}

// CheckInvite refuses what CreateInvite would refuse.
func (s *Store) CheckInvite(ctx context.Context, inv *core.PendingInvite) error {
	_, _, _, err := s.checkInvite(ctx, s.reader, inv)
	return internal("check invite", err)
}

// CreateInvite stores or regenerates the invitation, in one transaction.
func (s *Store) CreateInvite(ctx context.Context, inv *core.PendingInvite) (*corev1.Invitation, error) {
	var stored *corev1.Invitation
	err := s.write(ctx, func(tx *tx) error {
		// The org's lock serialises the invitations and member changes
		// of one org on PostgreSQL (SQLite has one writer).
		if err := s.lockOrg(ctx, tx, inv.OrgID); err != nil {
			return err
		}
		existing, since, n, err := s.checkInvite(ctx, tx, inv)
		if err != nil {
			return err
		}
		id := inv.ID
		if existing != "" {
			id = existing // regenerating keeps the id
			_, err = tx.ExecContext(ctx, `UPDATE user_invites SET token_hash = $1, expires_at = $2, role_id = $3,
				regen_since = $4, regen_count = $5 WHERE invite_id = $6`, inv.TokenHash, inv.ExpiresAt, inv.RoleID, since, n+1, id)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO user_invites (invite_id, org_id, email, expires_at, token_hash, role_id)
				VALUES ($1, $2, $3, $4, $5, $6)`, id, inv.OrgID, inv.Email, inv.ExpiresAt, inv.TokenHash, inv.RoleID)
			if _, ok := uniqueViolation(err); ok {
				return core.InviteExists()
			}
		}
		if err != nil {
			return err
		}
		list, err := listInvitations(ctx, tx, `i.invite_id = $1`, id)
		if err == nil && len(list) == 1 {
			stored = list[0]
		}
		return err
	})
	return stored, internal("create invite", err)
}

// listInvitations reads the invitations where (over user_invites i) holds,
// by id, each with its role; more args: LIMIT and OFFSET.
func listInvitations(ctx context.Context, q querier, where string, args ...any) (out []*corev1.Invitation, err error) {
	query := `SELECT i.invite_id, i.email, i.expires_at, i.role_id, ro.name FROM user_invites i
		JOIN roles ro ON ro.role_id = i.role_id WHERE ` + where + ` ORDER BY i.invite_id`
	if len(args) == 3 {
		query += ` LIMIT $2 OFFSET $3`
	}
	err = reading(ctx, q, func(ctx context.Context, q querier) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = []*corev1.Invitation{}
		for rows.Next() {
			inv, role := &corev1.Invitation{}, &corev1.InviteRole{}
			var name string
			if err := rows.Scan(&inv.InviteId, &inv.Email, &inv.ExpiresAt, &role.RoleId, &name); err != nil {
				return err
			}
			role.RoleName = &name
			inv.Roles = []*corev1.InviteRole{role}
			out = append(out, inv)
		}
		return rows.Err()
	})
	return out, err
}

// ListInvitations returns a page of the org's invitations, expired ones
// too, and how many there are.
func (s *Store) ListInvitations(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.Invitation, int32, error) {
	limit, offset := limitOffset(page)
	list, err := listInvitations(ctx, s.reader, `i.org_id = $1`, orgID, limit, offset)
	if err != nil {
		return nil, 0, internal("list invitations", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM user_invites WHERE org_id = $1`, orgID)
	return list, total, internal("count invitations", err)
}

// RemoveInvitation deletes the org's invitation.
func (s *Store) RemoveInvitation(ctx context.Context, orgID, inviteID string) error {
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM user_invites WHERE invite_id = $1 AND org_id = $2`, inviteID, orgID)
		if err != nil {
			return err
		}
		return deletedOne(res, core.InvitationNotFound(inviteID, orgID))
	})
	return internal("remove invitation", err)
}
