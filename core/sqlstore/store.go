// Package sqlstore implements core.Store on SQLite (the embedded default)
// and PostgreSQL with one SQL code path; dialect.go holds the differences.
// One file per aggregate (orgs, sites, keys, the key change log), each
// declaring its tables once (table.go). The schema is created and upgraded
// by the embedded goose migrations when the store is opened.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// migrations holds one directory per dialect. To change the schema, add
// the next numbered file (00002_….sql) to both directories.
//
//go:embed migrations
var migrations embed.FS

// Store is a core.Store backed by SQLite or PostgreSQL.
type Store struct {
	dialect dialect
	// writer runs every write transaction; reader serves reads outside
	// transactions. They are the same pool on PostgreSQL (see openDB).
	writer *sql.DB
	reader *reads
	// url is kept on PostgreSQL for the LISTEN connection (see listen.go).
	url string
	// principal is prepared once: the core reads a key's scope on every
	// call it has not cached, and parsing the query each time cost more
	// than running it.
	principal *sql.Stmt
	// local announces the key changes this process commits (see
	// ListenKeyChanges).
	local announcer
}

var _ core.Store = (*Store)(nil)

// Open opens the database, applies pending migrations and seeds the action
// catalogue. url selects the database:
//
//   - "" : SQLite file <dataDir>/pangolin.db (the directory is created 0700)
//   - "postgres://…" or "postgresql://…" : PostgreSQL
//   - "sqlite://<path>" or "file:<path>" : SQLite file at path
func Open(ctx context.Context, url string, dataDir string) (*Store, error) {
	d, writer, reader, err := openDB(url, dataDir)
	if err != nil {
		return nil, err
	}
	s := &Store{dialect: d, writer: writer, reader: newReads(reader, d)}
	if d == dialectPostgres {
		s.url = url
	}
	if err := s.writer.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", d, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.seedActions(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.principal, err = s.reader.PrepareContext(ctx, principalQuery); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlstore: prepare: %w", err)
	}
	return s, nil
}

// Close closes the database pools.
func (s *Store) Close() error {
	var err error
	if s.principal != nil {
		err = s.principal.Close()
	}
	err = errors.Join(err, s.writer.Close())
	if s.reader.DB != s.writer {
		err = errors.Join(err, s.reader.Close())
	}
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+s.dialect.migrationsDir())
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	opts, err := s.dialect.gooseOptions()
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	provider, err := goose.NewProvider(s.dialect.gooseDialect(), s.writer, fsys, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("sqlstore: apply migrations: %w", err)
	}
	return nil
}

// seedActions makes the actions table equal to core.Actions: missing ids
// are inserted (and granted to every Admin role), ids no longer in the
// catalogue are deleted (their grants cascade away, so the keys that held
// them are logged as changed).
func (s *Store) seedActions(ctx context.Context) error {
	err := s.write(ctx, func(tx *tx) error {
		stored, err := queryStrings(ctx, tx, `SELECT action_id FROM actions`)
		if err != nil {
			return err
		}
		for _, id := range core.Actions {
			if slices.Contains(stored, id) {
				continue
			}
			// ON CONFLICT: another core replica may be seeding at the same time.
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO actions (action_id) VALUES ($1) ON CONFLICT (action_id) DO NOTHING`, id); err != nil {
				return err
			}
			// A new action goes to every org's Admin role, as in Pangolin.
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO role_actions (role_id, action_id, org_id) SELECT role_id, $1, org_id FROM roles
				 WHERE is_admin ON CONFLICT DO NOTHING`, id); err != nil {
				return err
			}
		}
		var changedKeys []string
		for _, id := range stored {
			if slices.Contains(core.Actions, id) {
				continue
			}
			keys, err := queryStrings(ctx, tx,
				`SELECT api_key_id FROM api_key_actions WHERE action_id = $1`, id)
			if err != nil {
				return err
			}
			changedKeys = append(changedKeys, keys...)
			if _, err := tx.ExecContext(ctx, `DELETE FROM actions WHERE action_id = $1`, id); err != nil {
				return err
			}
		}
		slices.Sort(changedKeys)
		return s.logKeyChanges(ctx, tx, slices.Compact(changedKeys)...)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: seed actions: %w", err)
	}
	return nil
}

// querier is what reads need from *sql.DB and *sql.Tx, so that a write
// can read back what it stored inside its own transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx is a write transaction that knows whether it logged a key change.
type tx struct {
	*sql.Tx
	keysChanged bool
}

// write runs fn in a transaction on the writer pool, committing if fn
// returns nil; a committed key change is announced to this process's
// listeners.
func (s *Store) write(ctx context.Context, fn func(tx *tx) error) error {
	defer observeWrite(time.Now())
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &tx{Tx: sqlTx}
	if err := fn(t); err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	if t.keysChanged {
		s.local.announce()
	}
	return nil
}

// announcer calls its listeners after a commit.
type announcer struct {
	mu        sync.Mutex
	listeners map[*func()]struct{}
}

func (a *announcer) listen(notify func()) (stop func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listeners == nil {
		a.listeners = map[*func()]struct{}{}
	}
	key := &notify
	a.listeners[key] = struct{}{}
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.listeners, key)
	}
}

func (a *announcer) announce() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for notify := range a.listeners {
		(*notify)()
	}
}

// internal wraps an unexpected error with the operation that failed. A
// *core.Error is returned unchanged: its message is meant for clients.
func internal(op string, err error) error {
	if err == nil {
		return nil
	}
	var coreErr *core.Error
	if errors.As(err, &coreErr) {
		return err
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// now is the time the store stamps on what it creates without one, in
// core.TimeFormat: SQLite stores the text as is (it sorts
// chronologically); PostgreSQL parses it into timestamptz.
func now() string { return core.Timestamp(time.Now()) }

// limitOffset turns a page into LIMIT and OFFSET arguments. Limit 0 means
// no limit, which both dialects accept as the largest bigint.
func limitOffset(p *corev1.Page) (limit, offset int64) {
	limit, offset = int64(p.GetLimit()), int64(p.GetOffset())
	if limit <= 0 {
		limit = math.MaxInt64
	}
	return limit, max(offset, 0)
}

// queryStrings returns the single text column of every row.
func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// exists reports whether query returns a row.
func exists(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func count(ctx context.Context, q querier, query string, args ...any) (int32, error) {
	var n int32
	err := q.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}
