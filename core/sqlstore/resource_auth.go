package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// whitelist holds corev1.WhitelistEntry, a resource's e-mail whitelist.
var whitelist = &table{
	name: "resource_whitelist", alias: "w", generated: "whitelist_id",
	columns: []string{"whitelist_id", "email", "resource_id"},
}

// lockResource returns the org of a resource and, on PostgreSQL, locks
// its row until the transaction ends, so that writers of one resource's
// auth and grants queue rather than race (SQLite's one writer is serial
// anyway). A resource deleted meanwhile is a ResourceNotFound.
func (s *Store) lockResource(ctx context.Context, tx *tx, id int64) (string, error) {
	var orgID string
	err := tx.QueryRowContext(ctx, `SELECT org_id FROM resources WHERE resource_id = $1`+s.dialect.forUpdate(), id).Scan(&orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", core.ResourceNotFound(id)
	}
	return orgID, err
}

// replaceAuth makes row (column → value) the one row of an auth table for
// the resource; a nil row removes it.
func (s *Store) replaceAuth(ctx context.Context, op, table string, resourceID int64, row []column) error {
	err := s.write(ctx, func(tx *tx) error {
		if _, err := s.lockResource(ctx, tx, resourceID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE resource_id = $1`, resourceID); err != nil {
			return err
		}
		if row == nil {
			return nil
		}
		names, args := []string{"resource_id"}, []any{resourceID}
		for _, c := range row {
			names, args = append(names, c.name), append(args, c.value)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+strings.Join(names, ", ")+`) VALUES (`+placeholders(1, len(args))+`)`, args...)
		return err
	})
	return internal(op, err)
}

// SetResourcePassword makes hash the resource's password; nil removes it.
func (s *Store) SetResourcePassword(ctx context.Context, resourceID int64, hash *string) error {
	var row []column
	if hash != nil {
		row = []column{{"password_hash", *hash}}
	}
	return s.replaceAuth(ctx, "set resource password", "resource_passwords", resourceID, row)
}

// SetResourcePincode makes hash the resource's PIN code; nil removes it.
func (s *Store) SetResourcePincode(ctx context.Context, resourceID int64, hash *string, digits int32) error {
	var row []column
	if hash != nil {
		row = []column{{"pincode_hash", *hash}, {"digit_length", digits}}
	}
	return s.replaceAuth(ctx, "set resource pincode", "resource_pincodes", resourceID, row)
}

// SetResourceHeaderAuth makes auth the resource's header authentication;
// nil removes it.
func (s *Store) SetResourceHeaderAuth(ctx context.Context, resourceID int64, auth *core.HeaderAuth) error {
	var row []column
	if auth != nil {
		row = []column{{"header_auth_hash", auth.Hash}, {"extended_compatibility_is_activated", auth.ExtendedCompatibility}}
	}
	return s.replaceAuth(ctx, "set resource header auth", "resource_header_auth", resourceID, row)
}

// ResourceWhitelist returns the resource's whitelist in the order it was
// added.
func (s *Store) ResourceWhitelist(ctx context.Context, resourceID int64) ([]*corev1.WhitelistEntry, error) {
	list, err := getRows[corev1.WhitelistEntry](ctx, s.reader, whitelist,
		`WHERE w.resource_id = $1 ORDER BY w.whitelist_id`, resourceID)
	return list, internal("resource whitelist", err)
}

// SetResourceWhitelist makes emails the whole whitelist: entries already
// there keep their place, the others are removed or added in the order
// given.
func (s *Store) SetResourceWhitelist(ctx context.Context, resourceID int64, emails []string) error {
	err := s.write(ctx, func(tx *tx) error {
		if _, err := s.lockResource(ctx, tx, resourceID); err != nil {
			return err
		}
		existing, err := queryStrings(ctx, tx, `SELECT email FROM resource_whitelist WHERE resource_id = $1`, resourceID)
		if err != nil {
			return err
		}
		for _, e := range existing {
			if slices.Contains(emails, e) {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM resource_whitelist WHERE resource_id = $1 AND email = $2`, resourceID, e); err != nil {
				return err
			}
		}
		for _, e := range emails {
			if slices.Contains(existing, e) {
				continue
			}
			if _, err := insert(ctx, tx, whitelist, &corev1.WhitelistEntry{Email: e}, column{"resource_id", resourceID}); err != nil {
				return err
			}
		}
		return nil
	})
	return internal("set resource whitelist", err)
}

// AddResourceWhitelistEmail adds one entry; one already there is a
// Conflict.
func (s *Store) AddResourceWhitelistEmail(ctx context.Context, resourceID int64, email string) error {
	err := s.write(ctx, func(tx *tx) error {
		if _, err := s.lockResource(ctx, tx, resourceID); err != nil {
			return err
		}
		_, err := insert(ctx, tx, whitelist, &corev1.WhitelistEntry{Email: email}, column{"resource_id", resourceID})
		if _, ok := uniqueViolation(err); ok {
			return core.WhitelistEmailExists()
		}
		return err
	})
	return internal("add whitelist email", err)
}

// RemoveResourceWhitelistEmail removes one entry; one not there is a
// NotFound.
func (s *Store) RemoveResourceWhitelistEmail(ctx context.Context, resourceID int64, email string) error {
	err := s.write(ctx, func(tx *tx) error {
		if _, err := s.lockResource(ctx, tx, resourceID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM resource_whitelist WHERE resource_id = $1 AND email = $2`, resourceID, email)
		if err != nil {
			return err
		}
		return deletedOne(res, core.WhitelistEmailNotFound())
	})
	return internal("remove whitelist email", err)
}
