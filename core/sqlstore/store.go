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
	"sync/atomic"
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
	// Both retry what a dropped connection failed (see pool).
	writer *pool
	reader *pool
	// url is kept on PostgreSQL for the LISTEN connection (see listen.go).
	url string
	// principal is prepared once: the core reads a key's scope on every
	// call it has not cached, and parsing the query each time cost more
	// than running it.
	principal *sql.Stmt
	// auditInsert is prepared once on SQLite, whose driver parses every
	// statement it runs: the audit record rides on every API write. (pgx
	// keeps a statement cache per connection already.)
	auditInsert *sql.Stmt
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
	// Reads outside transactions go through reads (timed; prepared once
	// on SQLite), writes straight to the pool; both retry on a dropped
	// connection.
	s := &Store{dialect: d, writer: &pool{DB: writer, run: writer, dialect: d}}
	s.reader = &pool{DB: reader, run: newReads(reader, d), dialect: d}
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
	if d == dialectSQLite {
		if s.auditInsert, err = s.writer.PrepareContext(ctx, insertLog); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlstore: prepare: %w", err)
		}
	}
	return s, nil
}

// Close closes the database pools.
func (s *Store) Close() error {
	var err error
	if s.principal != nil {
		err = s.principal.Close()
	}
	if s.auditInsert != nil {
		err = errors.Join(err, s.auditInsert.Close())
	}
	err = errors.Join(err, s.writer.Close())
	if s.reader.DB != s.writer.DB {
		// The reader's own pool (SQLite), with its prepared statements.
		err = errors.Join(err, s.reader.run.(*reads).Close())
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
	provider, err := goose.NewProvider(s.dialect.gooseDialect(), s.writer.DB, fsys, opts...)
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

// tx is a write transaction that knows whether it logged a key change,
// and the key of the first row it inserted (the object a create made, for
// its audit record).
type tx struct {
	*sql.Tx
	keysChanged bool
	firstID     string
}

// write runs fn in a transaction on the writer pool, committing if fn
// returns nil; a committed key change is announced to this process's
// listeners. When ctx carries the audit record of an API call, the record
// is written in the same transaction.
//
// When the connection drops (the server terminated its backend, restarted,
// failed over; the network broke), the transaction is run again as a
// whole, up to maxRetries times, if it certainly did not commit: it failed
// before COMMIT was sent, or the server says it aborted. fn must therefore
// be safe to run more than once: it may set variables of its caller, which
// the last run sets last, but must not act outside the transaction.
func (s *Store) write(ctx context.Context, fn func(tx *tx) error) error {
	defer observeWrite(time.Now())
	var t *tx
	err := s.writer.retry(ctx, func(ctx context.Context) (err error) {
		t, err = s.writeOnce(ctx, fn)
		return err
	})
	if err != nil {
		return err
	}
	if t.keysChanged {
		s.local.announce()
	}
	if r := core.AuditRecordOf(ctx); r != nil {
		r.MarkWritten()
	}
	return nil
}

// writeOnce runs fn in one transaction. An error it returns passes
// dialect.connLost only when the transaction certainly did not commit.
func (s *Store) writeOnce(ctx context.Context, fn func(tx *tx) error) (*tx, error) {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	t := &tx{Tx: sqlTx}
	if err := fn(t); err != nil {
		t.Rollback()
		return nil, err
	}
	// The audit record of the API call this change belongs to, if any,
	// commits with it (once per call).
	if r := core.AuditRecordOf(ctx); r != nil && !r.Written() {
		if err := s.writeAudit(ctx, t, r); err != nil {
			t.Rollback()
			return nil, err
		}
	}
	// The transaction's id, to learn its fate if the connection drops
	// while COMMIT is under way; 0 when it wrote nothing.
	xid, err := s.dialect.txID(ctx, t.Tx)
	if err != nil {
		t.Rollback()
		return nil, err
	}
	err = t.Commit()
	if err == nil || !s.dialect.connLost(err) || xid == 0 {
		return t, err // a transaction that wrote nothing can run again
	}
	// The connection dropped around COMMIT: it may or may not have
	// committed. Ask the server on another connection. (The driver's own
	// "never sent" verdict is not trusted here: pgx can give it for a
	// COMMIT the server received.)
	switch s.txFate(ctx, xid) {
	case txCommitted:
		s.writer.committed.Add(1)
		return t, nil
	case txAborted:
		return nil, err // connLost: run it again
	}
	return nil, fmt.Errorf("commit of transaction %d: outcome unknown after the connection dropped: %v", xid, err)
}

type txOutcome int

const (
	txUnknown txOutcome = iota
	txCommitted
	txAborted
)

// txFate asks the server whether transaction xid committed. A backend
// terminated during COMMIT may not have finished aborting when asked
// first: "in progress" is asked again, a few times.
func (s *Store) txFate(ctx context.Context, xid int64) txOutcome {
	for i := range 5 {
		var status sql.NullString
		err := s.writer.QueryRowContext(ctx, `SELECT txid_status($1)`, xid).Scan(&status)
		switch {
		case err != nil:
			return txUnknown
		case status.String == "committed":
			return txCommitted
		case status.String == "aborted":
			return txAborted
		}
		if !sleep(ctx, 10*time.Millisecond<<i) {
			return txUnknown
		}
	}
	return txUnknown
}

// maxRetries is how many times a call is run again after a dropped
// connection; retryBackoff the first pause, which doubles each time up to
// maxBackoff (about 0.9 s of pauses in all). A server that drops its
// connections in waves (a failover, an operator terminating backends, a
// proxy restarting) can catch a call's first attempts one after another,
// all the more on a loaded host where one attempt outlasts the gap between
// two waves; a read, or a write that certainly did not commit, is safe to
// run again, and the caller's deadline still bounds the whole.
const (
	maxRetries   = 8
	retryBackoff = 5 * time.Millisecond
	maxBackoff   = 250 * time.Millisecond
)

// pool is a database/sql pool whose queries outside transactions are run
// again, up to maxRetries times, when they fail on a dropped connection:
// reads are idempotent. Writes go through Store.write, which retries a
// transaction as a whole when it certainly did not commit; ExecContext is
// not retried here.
type pool struct {
	*sql.DB
	// run is what the pool's queries go through: the DB itself, or reads.
	run     querier
	dialect dialect
	// retried counts the attempts run again, committed the transactions
	// found committed after their COMMIT was cut off (for tests).
	retried, committed atomic.Int64
}

// retry runs attempt until it succeeds, fails otherwise than on a dropped
// connection (dialect.connLost), or has been run again maxRetries times.
// Attempts after the first run under a context that makes the pool check
// a connection before handing it out (see checkConn): the server has
// usually dropped more connections than one (a restart, a failover, an
// operator terminating them), and the retry must not take another dead
// one from the pool.
func (p *pool) retry(ctx context.Context, attempt func(ctx context.Context) error) error {
	for i := 0; ; i++ {
		err := attempt(ctx)
		if err == nil || i == maxRetries || ctx.Err() != nil || !p.dialect.connLost(err) {
			return err
		}
		p.retried.Add(1)
		if !sleep(ctx, min(retryBackoff<<i, maxBackoff)) {
			return err
		}
		ctx = checkConn(ctx)
	}
}

// QueryContext runs a query, again if the connection drops before its
// first row arrives. Callers that read many rows use reading instead, to
// be covered until the last one.
func (p *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	var rows *sql.Rows
	err := p.retry(ctx, func(ctx context.Context) (err error) {
		rows, err = p.run.QueryContext(ctx, query, args...)
		return err
	})
	return rows, err
}

// QueryRowContext runs a query, again if the connection drops before its
// row arrives.
func (p *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	var row *sql.Row
	p.retry(ctx, func(ctx context.Context) error {
		row = p.run.QueryRowContext(ctx, query, args...)
		return row.Err()
	})
	return row
}

// reading runs read, which reads through q: when q is a pool (outside a
// transaction), again if the connection drops at any point of the read,
// rows already scanned included; read must start its result afresh. In a
// transaction, write's retry covers it.
func reading(ctx context.Context, q querier, read func(ctx context.Context, q querier) error) error {
	if p, ok := q.(*pool); ok {
		return p.retry(ctx, func(ctx context.Context) error { return read(ctx, p.run) })
	}
	return read(ctx, q)
}

// sleep waits d, or less if ctx ends first; it reports whether ctx is
// still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
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

// pageOf reads the page of the table's rows that cond (a WHERE over its
// alias, whose arguments are args) selects, in order, as messages of type
// M, and how many rows cond selects; op names the list in errors.
func pageOf[T any, M message[T]](ctx context.Context, s *Store, t *table, op, cond, order string, args []any, page *corev1.Page) ([]M, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[T, M](ctx, s.reader, t,
		`WHERE `+cond+` ORDER BY `+order+fmt.Sprintf(` LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2),
		append(slices.Clip(args), limit, offset)...)
	if err != nil {
		return nil, 0, internal("list "+op, err)
	}
	if total, ok := pageTotal(limit, offset, len(list)); ok {
		return list, total, nil
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM `+t.name+` `+t.alias+` WHERE `+cond, args...)
	return list, total, internal("count "+op, err)
}

// direction is the SQL of a sort order.
func direction(desc bool) string {
	if desc {
		return "DESC"
	}
	return "ASC"
}

// queryStrings returns the single text column of every row.
func queryStrings(ctx context.Context, q querier, query string, args ...any) (out []string, err error) {
	err = reading(ctx, q, func(ctx context.Context, q querier) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = []string{}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// exists reports whether query returns a row.
func exists(ctx context.Context, q querier, query string, args ...any) (found bool, err error) {
	err = reading(ctx, q, func(ctx context.Context, q querier) error {
		var one int
		err := q.QueryRowContext(ctx, query, args...).Scan(&one)
		found = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return found && err == nil, err
}

// objectOrg reads the org of the object query selects by id (its one
// column, org_id): the core's resolvers ask it on every call naming an
// object; no row → notFound(id), built only then.
func objectOrg[ID any](ctx context.Context, q querier, op, query string, id ID, notFound func(ID) error) (string, error) {
	var orgID string
	err := q.QueryRowContext(ctx, query, id).Scan(&orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound(id)
	}
	return orgID, internal(op, err)
}

// deleteByID deletes the row of table whose key column is id, in its own
// transaction (what hangs off it cascades); no such row → notFound.
func (s *Store) deleteByID(ctx context.Context, table, key string, id int64, notFound error) error {
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+key+` = $1`, id)
		if err != nil {
			return err
		}
		return deletedOne(res, notFound)
	})
	return internal("delete from "+table, err)
}

// inChunks calls fn with args of orgID followed by successive chunks of
// ids, few enough for either database's limit on placeholders, and the
// chunk's length.
func inChunks[T any](orgID string, ids []T, fn func(args []any, n int) error) error {
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := []any{orgID}
		for _, id := range part {
			args = append(args, id)
		}
		if err := fn(args, len(part)); err != nil {
			return err
		}
	}
	return nil
}

// deletedOne returns notFound when a DELETE removed no row; updatedOne
// when an UPDATE changed none.
func deletedOne(res sql.Result, notFound error) error { return updatedOne(res, notFound) }

func updatedOne(res sql.Result, notFound error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}

func count(ctx context.Context, q querier, query string, args ...any) (n int32, err error) {
	err = reading(ctx, q, func(ctx context.Context, q querier) error {
		return q.QueryRowContext(ctx, query, args...).Scan(&n)
	})
	return n, err
}
