package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"pangolin-gateway/core"
)

func errKeyNotFound() error { return core.Errorf(core.CodeNotFound, "API key not found") }

func errUnknownActions() error {
	return core.Errorf(core.CodeInvalid, "One or more actions do not exist")
}

func errOrgNotFound(id string) error {
	return core.Errorf(core.CodeNotFound, "Organization with ID %s not found", id)
}

const apiKeyColumns = `k.api_key_id, k.name, k.api_key_hash, k.last_chars, k.is_root, k.created_at`

func scanAPIKey(row interface{ Scan(...any) error }) (core.APIKey, error) {
	var k core.APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Hash, &k.LastChars, &k.IsRoot, timestamp{&k.CreatedAt})
	return k, err
}

func queryAPIKeys(ctx context.Context, q querier, query string, args ...any) ([]core.APIKey, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := []core.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// CreateAPIKey stores a key granted actionIDs. orgID "" makes a root key,
// linked to no org; otherwise the key is an org key linked to orgID. IsRoot
// is derived from orgID, whatever key.IsRoot says. A zero CreatedAt is set
// to now.
func (s *Store) CreateAPIKey(ctx context.Context, key core.APIKey, orgID string, actionIDs []string) error {
	actionIDs = uniqueSorted(actionIDs)
	if key.CreatedAt.IsZero() {
		key.CreatedAt = now()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if orgID != "" {
			found, err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE org_id = $1`, orgID)
			if err != nil {
				return err
			}
			if !found {
				return errOrgNotFound(orgID)
			}
		}
		if err := checkActions(ctx, tx, actionIDs); err != nil {
			return err
		}
		taken, err := exists(ctx, tx, `SELECT 1 FROM api_keys WHERE api_key_id = $1`, key.ID)
		if err != nil {
			return err
		}
		if taken {
			return errKeyExists(key.ID)
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO api_keys (api_key_id, name, api_key_hash, last_chars, created_at, is_root)
			 VALUES ($1, $2, $3, $4, $5, $6)`,
			key.ID, key.Name, key.Hash, key.LastChars, formatTime(key.CreatedAt), orgID == "")
		if _, ok := uniqueViolation(err); ok {
			return errKeyExists(key.ID) // created concurrently
		}
		if err != nil {
			return err
		}
		if orgID != "" {
			_, err := tx.ExecContext(ctx,
				`INSERT INTO api_key_orgs (api_key_id, org_id) VALUES ($1, $2)`, key.ID, orgID)
			if foreignKeyViolation(err) {
				return errOrgNotFound(orgID) // deleted concurrently
			}
			if err != nil {
				return err
			}
		}
		if err := insertKeyActions(ctx, tx, key.ID, actionIDs); err != nil {
			return err
		}
		return s.logKeyChanges(ctx, tx, key.ID)
	})
	return internal("create api key", err)
}

func errKeyExists(id string) error {
	return core.Errorf(core.CodeConflict, "API key with ID %s already exists", id)
}

// GetAPIKey returns the key with its org and action ids, both sorted.
func (s *Store) GetAPIKey(ctx context.Context, id string) (core.APIKey, error) {
	k, err := scanAPIKey(s.reader.QueryRowContext(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.api_key_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.APIKey{}, errKeyNotFound()
	}
	if err != nil {
		return core.APIKey{}, internal("get api key", err)
	}
	k.OrgIDs, err = queryStrings(ctx, s.reader,
		`SELECT org_id FROM api_key_orgs WHERE api_key_id = $1 ORDER BY org_id`, id)
	if err != nil {
		return core.APIKey{}, internal("get api key orgs", err)
	}
	k.ActionIDs, err = queryStrings(ctx, s.reader,
		`SELECT action_id FROM api_key_actions WHERE api_key_id = $1 ORDER BY action_id`, id)
	if err != nil {
		return core.APIKey{}, internal("get api key actions", err)
	}
	return k, nil
}

const scopeQuery = `SELECT k.is_root, o.org_id FROM api_keys k
	LEFT JOIN api_key_orgs o ON o.api_key_id = k.api_key_id
	WHERE k.api_key_id = $1 ORDER BY o.org_id`

// APIKeyScope reads a key's root flag and orgs (sorted) in one query.
func (s *Store) APIKeyScope(ctx context.Context, id string) (bool, []string, error) {
	rows, err := s.scope.QueryContext(ctx, id)
	if err != nil {
		return false, nil, internal("get api key scope", err)
	}
	defer rows.Close()
	found, root, orgs := false, false, []string{}
	for rows.Next() {
		var org sql.NullString
		if err := rows.Scan(&root, &org); err != nil {
			return false, nil, internal("get api key scope", err)
		}
		found = true
		if org.Valid {
			orgs = append(orgs, org.String)
		}
	}
	if err := rows.Err(); err != nil {
		return false, nil, internal("get api key scope", err)
	}
	if !found {
		return false, nil, errKeyNotFound()
	}
	return root, orgs, nil
}

// ListAPIKeys returns every key, root and org, with OrgIDs filled (sorted)
// and ActionIDs left nil, ordered by creation time then id.
func (s *Store) ListAPIKeys(ctx context.Context) ([]core.APIKey, error) {
	keys, err := queryAPIKeys(ctx, s.reader,
		`SELECT `+apiKeyColumns+` FROM api_keys k ORDER BY k.created_at, k.api_key_id`)
	if err != nil {
		return nil, internal("list api keys", err)
	}
	rows, err := s.reader.QueryContext(ctx,
		`SELECT api_key_id, org_id FROM api_key_orgs ORDER BY api_key_id, org_id`)
	if err != nil {
		return nil, internal("list api key orgs", err)
	}
	defer rows.Close()
	orgs := map[string][]string{}
	for rows.Next() {
		var keyID, orgID string
		if err := rows.Scan(&keyID, &orgID); err != nil {
			return nil, internal("list api key orgs", err)
		}
		orgs[keyID] = append(orgs[keyID], orgID)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("list api key orgs", err)
	}
	for i := range keys {
		keys[i].OrgIDs = orgs[keys[i].ID]
		if keys[i].OrgIDs == nil {
			keys[i].OrgIDs = []string{}
		}
	}
	return keys, nil
}

// ListOrgAPIKeys returns a page of the org keys (not root keys) linked to
// orgID, ordered by creation time then id, and how many there are in all.
// OrgIDs is filled with orgID.
func (s *Store) ListOrgAPIKeys(ctx context.Context, orgID string, page core.Page) ([]core.APIKey, int, error) {
	const from = ` FROM api_keys k JOIN api_key_orgs o ON o.api_key_id = k.api_key_id
		WHERE o.org_id = $1 AND NOT k.is_root`
	limit, offset := limitOffset(page)
	keys, err := queryAPIKeys(ctx, s.reader,
		`SELECT `+apiKeyColumns+from+` ORDER BY k.created_at, k.api_key_id LIMIT $2 OFFSET $3`,
		orgID, limit, offset)
	if err != nil {
		return nil, 0, internal("list org api keys", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*)`+from, orgID)
	if err != nil {
		return nil, 0, internal("count org api keys", err)
	}
	for i := range keys {
		keys[i].OrgIDs = []string{orgID}
	}
	return keys, total, nil
}

// DeleteAPIKey deletes the key; its action grants and org links cascade.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE api_key_id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errKeyNotFound()
		}
		return s.logKeyChanges(ctx, tx, id)
	})
	return internal("delete api key", err)
}

// SetAPIKeyActions replaces the key's actions with actionIDs (duplicates
// collapsed, empty removes all). An unknown id refuses the whole set.
func (s *Store) SetAPIKeyActions(ctx context.Context, id string, actionIDs []string) error {
	actionIDs = uniqueSorted(actionIDs)
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Locking the key row makes a concurrent DeleteAPIKey wait (or
		// this call see the key gone) instead of failing on the FK.
		found, err := exists(ctx, tx,
			`SELECT 1 FROM api_keys WHERE api_key_id = $1`+s.dialect.forUpdate(), id)
		if err != nil {
			return err
		}
		if !found {
			return errKeyNotFound()
		}
		if err := checkActions(ctx, tx, actionIDs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM api_key_actions WHERE api_key_id = $1`, id); err != nil {
			return err
		}
		if err := insertKeyActions(ctx, tx, id, actionIDs); err != nil {
			return err
		}
		return s.logKeyChanges(ctx, tx, id)
	})
	return internal("set api key actions", err)
}

// ListAPIKeyActions returns a page of the key's action ids, ordered by id,
// and how many it has in all.
func (s *Store) ListAPIKeyActions(ctx context.Context, id string, page core.Page) ([]string, int, error) {
	found, err := exists(ctx, s.reader, `SELECT 1 FROM api_keys WHERE api_key_id = $1`, id)
	if err != nil {
		return nil, 0, internal("list api key actions", err)
	}
	if !found {
		return nil, 0, errKeyNotFound()
	}
	limit, offset := limitOffset(page)
	ids, err := queryStrings(ctx, s.reader,
		`SELECT action_id FROM api_key_actions WHERE api_key_id = $1 ORDER BY action_id LIMIT $2 OFFSET $3`,
		id, limit, offset)
	if err != nil {
		return nil, 0, internal("list api key actions", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id = $1`, id)
	if err != nil {
		return nil, 0, internal("count api key actions", err)
	}
	return ids, total, nil
}

// CountRootKeys returns the number of root keys.
func (s *Store) CountRootKeys(ctx context.Context) (int, error) {
	n, err := count(ctx, s.reader, `SELECT COUNT(*) FROM api_keys WHERE is_root`)
	return n, internal("count root keys", err)
}

// KeyChangesAfter returns up to limit log entries with a seq above seq, in
// ascending order. Limit 0 means no limit.
func (s *Store) KeyChangesAfter(ctx context.Context, seq int64, limit int) ([]core.KeyChange, error) {
	n, _ := limitOffset(core.Page{Limit: limit})
	rows, err := s.reader.QueryContext(ctx,
		`SELECT seq, api_key_id FROM key_changes WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, n)
	if err != nil {
		return nil, internal("key changes", err)
	}
	defer rows.Close()
	changes := []core.KeyChange{}
	for rows.Next() {
		var c core.KeyChange
		if err := rows.Scan(&c.Seq, &c.KeyID); err != nil {
			return nil, internal("key changes", err)
		}
		changes = append(changes, c)
	}
	return changes, internal("key changes", rows.Err())
}

// KeyChangeBounds returns the oldest and newest seq in the log, (0, 0)
// when it is empty.
func (s *Store) KeyChangeBounds(ctx context.Context) (oldest, newest int64, err error) {
	err = s.reader.QueryRowContext(ctx,
		`SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM key_changes`).Scan(&oldest, &newest)
	return oldest, newest, internal("key change bounds", err)
}

// PruneKeyChanges deletes the log entries older than before.
func (s *Store) PruneKeyChanges(ctx context.Context, before time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM key_changes WHERE changed_at < $1`, formatTime(before))
		return err
	})
	return internal("prune key changes", err)
}

// logKeyChanges appends one key change log entry per key id. Call it last
// in a transaction: on PostgreSQL it takes the key log lock (see
// lockKeyLog), and taking it after every row lock the transaction needs
// keeps the lock order the same everywhere, so transactions cannot
// deadlock on it; it is also held only until the commit that follows.
func (s *Store) logKeyChanges(ctx context.Context, tx *sql.Tx, keyIDs ...string) error {
	if len(keyIDs) == 0 {
		return nil
	}
	if err := s.dialect.lockKeyLog(ctx, tx); err != nil {
		return err
	}
	changedAt := formatTime(time.Now())
	for _, id := range keyIDs {
		var seq int64
		err := tx.QueryRowContext(ctx,
			`INSERT INTO key_changes (api_key_id, changed_at) VALUES ($1, $2) RETURNING seq`,
			id, changedAt).Scan(&seq)
		if err != nil {
			return err
		}
		if err := s.dialect.notifyKeyChange(ctx, tx, seq); err != nil {
			return err
		}
	}
	return nil
}

// checkActions refuses ids that are not in the actions table. ids must be
// free of duplicates. The table is small (the catalogue), so it is read
// whole rather than binding an unbounded number of parameters.
func checkActions(ctx context.Context, tx *sql.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	known, err := queryStrings(ctx, tx, `SELECT action_id FROM actions`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(known, id) {
			return errUnknownActions()
		}
	}
	return nil
}

func insertKeyActions(ctx context.Context, tx *sql.Tx, keyID string, actionIDs []string) error {
	for _, a := range actionIDs {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_key_actions (api_key_id, action_id) VALUES ($1, $2)`, keyID, a)
		if foreignKeyViolation(err) {
			return errUnknownActions() // catalogue changed by a concurrent start
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// uniqueSorted returns ids sorted with duplicates removed, leaving the
// caller's slice untouched.
func uniqueSorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
