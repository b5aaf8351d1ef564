package sqlstore

import (
	"context"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// keyChanges is the key change log: one row per change to a key, written
// in the transaction of the change, read as corev1.KeyChange.
var keyChanges = &table{
	name: "key_changes", alias: "c",
	columns: []string{"seq", "api_key_id"},
}

// KeyChangesAfter returns up to limit log entries with a seq above seq, in
// ascending order. Limit 0 means no limit.
func (s *Store) KeyChangesAfter(ctx context.Context, seq int64, limit int) ([]*corev1.KeyChange, error) {
	n, _ := limitOffset(&corev1.Page{Limit: int32(min(limit, 1<<30))})
	changes, err := getRows[corev1.KeyChange](ctx, s.reader, keyChanges, `WHERE c.seq > $1 ORDER BY c.seq LIMIT $2`, seq, n)
	return changes, internal("key changes", err)
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
	return internal("prune key changes", s.deleteBefore(ctx, "key_changes", "changed_at", before))
}

// deleteBefore deletes the rows of table whose time column is before
// before: the pruning of every log the store keeps.
func (s *Store) deleteBefore(ctx context.Context, table, column string, before time.Time) error {
	return s.write(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+column+` < $1`, core.Timestamp(before))
		return err
	})
}

// logKeyChanges appends one key change log entry per key id. Call it last
// in a transaction: on PostgreSQL it takes the key log lock (see
// lockKeyLog), and taking it after every row lock the transaction needs
// keeps the lock order the same everywhere, so transactions cannot
// deadlock on it; it is also held only until the commit that follows.
func (s *Store) logKeyChanges(ctx context.Context, tx *tx, keyIDs ...string) error {
	if len(keyIDs) == 0 {
		return nil
	}
	if err := s.dialect.lockKeyLog(ctx, tx.Tx); err != nil {
		return err
	}
	changedAt := now()
	for _, id := range keyIDs {
		var seq int64
		err := tx.QueryRowContext(ctx,
			`INSERT INTO key_changes (api_key_id, changed_at) VALUES ($1, $2) RETURNING seq`,
			id, changedAt).Scan(&seq)
		if err != nil {
			return err
		}
		if err := s.dialect.notifyKeyChange(ctx, tx.Tx, seq); err != nil {
			return err
		}
	}
	tx.keysChanged = true
	return nil
}
