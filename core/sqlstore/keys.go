package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// apiKeys holds the keys; a created key is written from its
// corev1.CreatedApiKey, whose api_key field (the secret) is deliberately no
// column: only the hash is stored, beside it.
var apiKeys = &table{
	name: "api_keys", alias: "k",
	columns: []string{"api_key_id", "name", "last_chars", "created_at", "expires_at",
		"allowed_ips", "rate_limit", "last_used_at", "previous_secret_expires_at"},
}

// keyActions are the grants, read as corev1.KeyAction.
var keyActions = &table{
	name: "api_key_actions", alias: "a",
	columns: []string{"api_key_id", "action_id"},
}

func errKeyNotFound() error { return core.Errorf(core.CodeNotFound, "API key not found") }

func errUnknownActions() error {
	return core.Errorf(core.CodeInvalid, "One or more actions do not exist")
}

func errKeyExists(id string) error {
	return core.Errorf(core.CodeConflict, "API key with ID %s already exists", id)
}

// CreateKey stores a key with its hash, granted actionIDs. orgID "" makes
// a root key, linked to no org; otherwise the key is an org key linked to
// orgID. An empty created_at is set to now.
func (s *Store) CreateKey(ctx context.Context, key *corev1.CreatedApiKey, hash, orgID string, actionIDs []string) error {
	actionIDs = uniqueSorted(actionIDs)
	if key.CreatedAt == "" {
		key.CreatedAt = now()
	}
	err := s.write(ctx, func(tx *tx) error {
		if orgID != "" {
			if err := orgExists(ctx, tx, orgID); err != nil {
				return err
			}
		}
		if err := checkActions(ctx, tx, actionIDs); err != nil {
			return err
		}
		taken, err := exists(ctx, tx, `SELECT 1 FROM api_keys WHERE api_key_id = $1`, key.GetApiKeyId())
		if err != nil {
			return err
		}
		if taken {
			return errKeyExists(key.GetApiKeyId())
		}
		_, err = insert(ctx, tx, apiKeys, key, column{"api_key_hash", hash}, column{"is_root", orgID == ""})
		if _, ok := uniqueViolation(err); ok {
			return errKeyExists(key.GetApiKeyId()) // created concurrently
		}
		if err != nil {
			return err
		}
		if orgID != "" {
			_, err := tx.ExecContext(ctx,
				`INSERT INTO api_key_orgs (api_key_id, org_id) VALUES ($1, $2)`, key.GetApiKeyId(), orgID)
			if foreignKeyViolation(err) {
				return errOrgNotFound(orgID) // deleted concurrently
			}
			if err != nil {
				return err
			}
		}
		if err := insertKeyActions(ctx, tx, key.GetApiKeyId(), actionIDs); err != nil {
			return err
		}
		return s.logKeyChanges(ctx, tx, key.GetApiKeyId())
	})
	return internal("create api key", err)
}

// KeyHash returns the key's argon2id PHC string.
func (s *Store) KeyHash(ctx context.Context, id string) (string, error) {
	var hash string
	err := s.reader.QueryRowContext(ctx, `SELECT api_key_hash FROM api_keys WHERE api_key_id = $1`, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errKeyNotFound()
	}
	return hash, internal("get api key hash", err)
}

// PreviousKeyHash returns the hash of the key's secret before its last
// roll and until when that secret works, or "" for both when no previous
// secret works any more.
func (s *Store) PreviousKeyHash(ctx context.Context, id string) (hash, until string, err error) {
	var h sql.NullString
	p := &corev1.Principal{} // its field reads the time as the table does
	err = s.reader.QueryRowContext(ctx, `SELECT previous_hash, previous_secret_expires_at FROM api_keys
		WHERE api_key_id = $1 AND previous_secret_expires_at > $2`, id, now()).Scan(&h, principalColumn(p, "previous_secret_expires_at"))
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return h.String, p.GetPreviousSecretExpiresAt(), internal("get previous api key hash", err)
}

// principalQuery reads a key's root flag, limits, orgs and actions in one
// round trip: one row per org (at least one, org NULL, when it has none)
// and one per action.
const principalQuery = `SELECT k.is_root, k.expires_at, k.allowed_ips, k.rate_limit, k.previous_secret_expires_at, 'org', o.org_id
	FROM api_keys k LEFT JOIN api_key_orgs o ON o.api_key_id = k.api_key_id WHERE k.api_key_id = $1
	UNION ALL
	SELECT k.is_root, k.expires_at, k.allowed_ips, k.rate_limit, k.previous_secret_expires_at, 'action', a.action_id
	FROM api_keys k JOIN api_key_actions a ON a.api_key_id = k.api_key_id WHERE k.api_key_id = $1
	ORDER BY 6, 7`

// Principal returns what the key may do: root flag, expiry, allow list,
// rate limit, the previous secret's grace, orgs and actions (both sorted).
func (s *Store) Principal(ctx context.Context, id string) (p *corev1.Principal, err error) {
	err = s.reader.retry(ctx, func(ctx context.Context) (err error) {
		p, err = s.readPrincipal(ctx, id)
		return err
	})
	if err != nil {
		return nil, internal("get api key scope", err)
	}
	if p == nil {
		return nil, errKeyNotFound()
	}
	return p, nil
}

// readPrincipal is Principal, once: nil when the key does not exist.
func (s *Store) readPrincipal(ctx context.Context, id string) (*corev1.Principal, error) {
	rows, err := s.principal.QueryContext(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p := &corev1.Principal{ApiKeyId: id, OrgIds: []string{}, ActionIds: []string{}}
	var kind string
	var value sql.NullString
	dest := []any{&p.IsRoot, principalColumn(p, "expires_at"), principalColumn(p, "allowed_ips"),
		principalColumn(p, "rate_limit"), principalColumn(p, "previous_secret_expires_at"), &kind, &value}
	found := false
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		found = true
		switch {
		case !value.Valid:
		case kind == "org":
			p.OrgIds = append(p.OrgIds, value.String)
		default:
			p.ActionIds = append(p.ActionIds, value.String)
		}
	}
	if !found {
		return nil, rows.Err()
	}
	return p, rows.Err()
}

// principalColumn scans a column into p's field of that name as a table
// does: times are text on SQLite and timestamptz on PostgreSQL, lists and
// messages JSON.
func principalColumn(p *corev1.Principal, name protoreflect.Name) fieldScanner {
	m := p.ProtoReflect()
	return fieldScanner{m: m, fd: m.Descriptor().Fields().ByName(name)}
}

// Key returns one key, root or org, without its hash; org_id is left
// empty, as in ListKeys.
func (s *Store) Key(ctx context.Context, id string) (*corev1.ApiKey, error) {
	key := &corev1.ApiKey{}
	err := getRow(ctx, s.reader, apiKeys, key, `WHERE k.api_key_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errKeyNotFound()
	}
	if err != nil {
		return nil, internal("get api key", err)
	}
	return key, nil
}

// ListKeys returns every key, root and org, ordered by creation time then
// id; org_id is left empty (a key may be linked to several orgs: see
// Principal).
func (s *Store) ListKeys(ctx context.Context) ([]*corev1.ApiKey, error) {
	keys, err := getRows[corev1.ApiKey](ctx, s.reader, apiKeys, `ORDER BY k.created_at, k.api_key_id`)
	return keys, internal("list api keys", err)
}

// ListOrgKeys returns a page of the org keys (not root keys) linked to
// orgID, ordered by creation time then id, and how many there are in all.
// A non-empty unusedSince (core.TimeFormat) keeps only the keys last used
// before it, or never.
func (s *Store) ListOrgKeys(ctx context.Context, orgID, unusedSince string, page *corev1.Page) ([]*corev1.ApiKey, int32, error) {
	where := `JOIN api_key_orgs o ON o.api_key_id = k.api_key_id WHERE o.org_id = $1 AND NOT k.is_root`
	args := []any{orgID}
	if unusedSince != "" {
		where += ` AND (k.last_used_at IS NULL OR k.last_used_at < $2)`
		args = append(args, unusedSince)
	}
	limit, offset := limitOffset(page)
	n := len(args)
	keys, err := getRows[corev1.ApiKey](ctx, s.reader, apiKeys,
		where+fmt.Sprintf(` ORDER BY k.created_at, k.api_key_id LIMIT $%d OFFSET $%d`, n+1, n+2), append(args, limit, offset)...)
	if err != nil {
		return nil, 0, internal("list org api keys", err)
	}
	for _, k := range keys {
		k.OrgId = orgID
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM api_keys k `+where, args...)
	return keys, total, internal("count org api keys", err)
}

// UpdateKey applies change to the key as stored and writes the name,
// expiry, allow list and rate limit it leaves, with the key row locked, so
// concurrent updates apply one after the other. It returns the key as
// stored after the change; change's error refuses the update.
func (s *Store) UpdateKey(ctx context.Context, id string, change func(*corev1.ApiKey) error) (*corev1.ApiKey, error) {
	key := &corev1.ApiKey{}
	err := s.write(ctx, func(tx *tx) error {
		err := getRow(ctx, tx, apiKeys, key, `WHERE k.api_key_id = $1`+s.dialect.forUpdate(), id)
		if errors.Is(err, sql.ErrNoRows) {
			return errKeyNotFound()
		}
		if err != nil {
			return err
		}
		if err := change(key); err != nil {
			return err
		}
		if _, err := updateRow(ctx, tx, apiKeys, key, "api_key_id",
			"last_chars", "created_at", "last_used_at", "previous_secret_expires_at"); err != nil {
			return err
		}
		return s.logKeyChanges(ctx, tx, id)
	})
	if err != nil {
		return nil, internal("update api key", err)
	}
	return s.Key(ctx, id)
}

// RollKey gives the key a new secret (its hash and last characters). With
// a non-empty previousUntil the secret before keeps working until then;
// otherwise it stops at once, and so does any secret an earlier roll kept.
func (s *Store) RollKey(ctx context.Context, id, hash, lastChars, previousUntil string) (*corev1.ApiKey, error) {
	var until any
	if previousUntil != "" {
		until = previousUntil
	}
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET
			previous_hash = CASE WHEN $1 THEN api_key_hash END, previous_secret_expires_at = $2,
			api_key_hash = $3, last_chars = $4 WHERE api_key_id = $5`, until != nil, until, hash, lastChars, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, errKeyNotFound())
		}
		return s.logKeyChanges(ctx, tx, id)
	})
	if err != nil {
		return nil, internal("roll api key", err)
	}
	return s.Key(ctx, id)
}

// TouchKeys records when each key was last used, each at most once per
// interval: a key whose stored last use is less than interval before the
// new one keeps it. This is no change of the key (nothing cached depends
// on it), so it goes to no change log.
func (s *Store) TouchKeys(ctx context.Context, uses map[string]time.Time, interval time.Duration) error {
	if len(uses) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *tx) error {
		for id, at := range uses {
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1
				WHERE api_key_id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)`,
				core.Timestamp(at), id, core.Timestamp(at.Add(-interval))); err != nil {
				return err
			}
		}
		return nil
	})
	return internal("record api key use", err)
}

// DeleteKey deletes the key; its action grants and org links cascade.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM api_keys WHERE api_key_id = $1`, id)
		if err != nil {
			return err
		}
		if err := deletedOne(res, errKeyNotFound()); err != nil {
			return err
		}
		return s.logKeyChanges(ctx, tx, id)
	})
	return internal("delete api key", err)
}

// SetKeyActions replaces the key's actions with actionIDs (duplicates
// collapsed, empty removes all). An unknown id refuses the whole set.
func (s *Store) SetKeyActions(ctx context.Context, id string, actionIDs []string) error {
	actionIDs = uniqueSorted(actionIDs)
	err := s.write(ctx, func(tx *tx) error {
		// Locking the key row makes a concurrent DeleteKey wait (or this
		// call see the key gone) instead of failing on the FK.
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

// ListKeyActions returns a page of the key's actions, ordered by id, and
// how many it has in all.
func (s *Store) ListKeyActions(ctx context.Context, id string, page *corev1.Page) ([]*corev1.KeyAction, int32, error) {
	found, err := exists(ctx, s.reader, `SELECT 1 FROM api_keys WHERE api_key_id = $1`, id)
	if err != nil {
		return nil, 0, internal("list api key actions", err)
	}
	if !found {
		return nil, 0, errKeyNotFound()
	}
	limit, offset := limitOffset(page)
	actions, err := getRows[corev1.KeyAction](ctx, s.reader, keyActions,
		`WHERE a.api_key_id = $1 ORDER BY a.action_id LIMIT $2 OFFSET $3`, id, limit, offset)
	if err != nil {
		return nil, 0, internal("list api key actions", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM api_key_actions WHERE api_key_id = $1`, id)
	return actions, total, internal("count api key actions", err)
}

// CountRootKeys returns the number of root keys.
func (s *Store) CountRootKeys(ctx context.Context) (int, error) {
	n, err := count(ctx, s.reader, `SELECT COUNT(*) FROM api_keys WHERE is_root`)
	return int(n), internal("count root keys", err)
}

// checkActions refuses ids that are not in the actions table. ids must be
// free of duplicates. The table is small (the catalogue), so it is read
// whole rather than binding an unbounded number of parameters.
func checkActions(ctx context.Context, q querier, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	known, err := queryStrings(ctx, q, `SELECT action_id FROM actions`)
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

func insertKeyActions(ctx context.Context, q querier, keyID string, actionIDs []string) error {
	for _, a := range actionIDs {
		_, err := q.ExecContext(ctx,
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
