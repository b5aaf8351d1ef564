package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
)

const orgColumns = `org_id, name, subnet, utility_subnet, created_at`

func scanOrg(row interface{ Scan(...any) error }) (core.Org, error) {
	var o core.Org
	err := row.Scan(&o.ID, &o.Name, &o.Subnet, &o.UtilitySubnet, timestamp{&o.CreatedAt})
	return o, err
}

func getOrg(ctx context.Context, q querier, id string) (core.Org, error) {
	o, err := scanOrg(q.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM orgs WHERE org_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Org{}, errOrgNotFound(id)
	}
	return o, err
}

// CreateOrg stores org (a zero CreatedAt is set to now) and returns it as
// stored.
func (s *Store) CreateOrg(ctx context.Context, org core.Org) (core.Org, error) {
	if org.CreatedAt.IsZero() {
		org.CreatedAt = now()
	}
	var stored core.Org
	err := s.write(ctx, func(tx *sql.Tx) error {
		taken, err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE org_id = $1`, org.ID)
		if err != nil {
			return err
		}
		if taken {
			return errOrgExists(org.ID)
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO orgs (org_id, name, subnet, utility_subnet, created_at) VALUES ($1, $2, $3, $4, $5)`,
			org.ID, org.Name, org.Subnet, org.UtilitySubnet, formatTime(org.CreatedAt))
		if _, ok := uniqueViolation(err); ok {
			return errOrgExists(org.ID) // created concurrently
		}
		if err != nil {
			return err
		}
		stored, err = getOrg(ctx, tx, org.ID)
		return err
	})
	return stored, internal("create org", err)
}

func errOrgExists(id string) error {
	return core.Errorf(core.CodeConflict, "Organization with ID %s already exists", id)
}

// GetOrg returns the org.
func (s *Store) GetOrg(ctx context.Context, id string) (core.Org, error) {
	o, err := getOrg(ctx, s.reader, id)
	return o, internal("get org", err)
}

// ListOrgs returns a page of orgs ordered by id, and how many there are.
func (s *Store) ListOrgs(ctx context.Context, page core.Page) ([]core.Org, int, error) {
	limit, offset := limitOffset(page)
	rows, err := s.reader.QueryContext(ctx,
		`SELECT `+orgColumns+` FROM orgs ORDER BY org_id LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, 0, internal("list orgs", err)
	}
	defer rows.Close()
	orgs := []core.Org{}
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, 0, internal("list orgs", err)
		}
		orgs = append(orgs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, internal("list orgs", err)
	}
	rows.Close() // free the connection before the next query
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM orgs`)
	if err != nil {
		return nil, 0, internal("count orgs", err)
	}
	return orgs, total, nil
}

// UpdateOrg sets the name when name is not nil and returns the org as
// stored.
func (s *Store) UpdateOrg(ctx context.Context, id string, name *string) (core.Org, error) {
	var stored core.Org
	err := s.write(ctx, func(tx *sql.Tx) error {
		if name != nil {
			res, err := tx.ExecContext(ctx, `UPDATE orgs SET name = $1 WHERE org_id = $2`, *name, id)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return errOrgNotFound(id)
			}
		}
		var err error
		stored, err = getOrg(ctx, tx, id)
		return err
	})
	return stored, internal("update org", err)
}

// DeleteOrg deletes the org and the org keys linked to it, in one
// transaction; the org's sites, newts and key links cascade. Root keys are
// untouched. Each deleted key is logged as changed.
func (s *Store) DeleteOrg(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		// The row lock makes a concurrent CreateAPIKey for this org wait
		// for the outcome, so no key is linked after the keys are listed.
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
		if _, err := tx.ExecContext(ctx, `DELETE FROM orgs WHERE org_id = $1`, id); err != nil {
			return err
		}
		return s.logKeyChanges(ctx, tx, keyIDs...)
	})
	return internal("delete org", err)
}
