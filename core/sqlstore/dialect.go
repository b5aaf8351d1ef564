package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file holds every difference between SQLite and PostgreSQL. The rest
// of the package writes one SQL text for both: placeholders are $1, $2, …,
// which PostgreSQL requires and modernc.org/sqlite binds by ordinal.

// dialect is the database family a Store talks to.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// sqlitePragmas are applied by the driver to every new connection, so every
// pooled connection gets them, not only the first. busy_timeout also covers
// other processes (the admin subcommands) writing to the same file.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)" +
	"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"

// openDB opens the pools for url (see Open for the accepted forms). On
// SQLite writes go through a one-connection pool whose transactions start
// with BEGIN IMMEDIATE: writers queue in Go rather than racing for the
// write lock, and a transaction never has to upgrade a read lock (the case
// busy_timeout cannot help with). Reads use a separate read-only pool,
// which WAL lets run alongside the writer.
func openDB(url, dataDir string) (d dialect, writer, reader *sql.DB, err error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("sqlstore: open postgres: %w", err)
		}
		db := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(shouldPing))
		// Bounded so that a few core replicas together stay under the
		// server's max_connections (100 by default); as many kept idle,
		// since opening a connection starts a server process
		// (database/sql keeps 2).
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return dialectPostgres, db, db, nil
	case url == "":
		if dataDir == "" {
			return 0, nil, nil, errors.New("sqlstore: neither a database url nor a data directory is set")
		}
		return openSQLite(filepath.Join(dataDir, "pangolin.db"))
	case strings.HasPrefix(url, "sqlite://"):
		return openSQLite(strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "file:"):
		return openSQLite(strings.TrimPrefix(url, "file:"))
	default:
		return 0, nil, nil, errors.New("sqlstore: database url must start with postgres://, postgresql://, sqlite:// or file:")
	}
}

func openSQLite(path string) (dialect, *sql.DB, *sql.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return 0, nil, nil, fmt.Errorf("sqlstore: invalid sqlite path %q", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, nil, nil, fmt.Errorf("sqlstore: create data directory: %w", err)
	}
	writer, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_txlock=immediate")
	if err != nil {
		return 0, nil, nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	// query_only turns a write sent to the wrong pool into an error instead
	// of a hidden second writer.
	reader, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return 0, nil, nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	// All kept open, as on PostgreSQL: a new SQLite connection re-applies
	// the pragmas and re-prepares every statement.
	reader.SetMaxOpenConns(max(4, runtime.NumCPU()))
	reader.SetMaxIdleConns(max(4, runtime.NumCPU()))
	return dialectSQLite, writer, reader, nil
}

// migrationsDir is the directory of migrations/ holding this dialect's files.
func (d dialect) migrationsDir() string { return d.String() }

func (d dialect) gooseDialect() goose.Dialect {
	if d == dialectPostgres {
		return goose.DialectPostgres
	}
	return goose.DialectSQLite3
}

// gooseOptions adds a session lock on PostgreSQL so that core replicas
// starting together apply migrations once. SQLite needs none: its one
// writer connection and BEGIN IMMEDIATE already serialise them.
func (d dialect) gooseOptions() ([]goose.ProviderOption, error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if d == dialectPostgres {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return opts, nil
}

// forUpdate is the suffix that row-locks the rows a SELECT reads until the
// transaction ends. SQLite has no row locks (and no such syntax): its
// writers are serialised already.
func (d dialect) forUpdate() string {
	if d == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// keyLogLockID is the PostgreSQL advisory lock serialising appends to the
// key change log ("pangolin" key changes; any constant unlikely to clash).
const keyLogLockID = 0x70676b6368

// lockKeyLog is called before appending to the key change log. On
// PostgreSQL it takes a transaction-scoped advisory lock, so that sequence
// numbers are drawn and committed in the same order: a reader that has
// seen seq N never later sees a smaller seq appear. SQLite commits one
// writer at a time, which gives the same guarantee.
func (d dialect) lockKeyLog(ctx context.Context, tx *sql.Tx) error {
	if d != dialectPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(keyLogLockID))
	return err
}

// keyChangeChannel is the PostgreSQL NOTIFY channel announcing new key
// change log rows; the payload is the row's seq.
const keyChangeChannel = "pangolin_key_changes"

// notifyKeyChange wakes listeners of the key change log. PostgreSQL
// delivers the notification only if the transaction commits.
func (d dialect) notifyKeyChange(ctx context.Context, tx *sql.Tx, seq int64) error {
	if d != dialectPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, keyChangeChannel, strconv.FormatInt(seq, 10))
	return err
}

// uniqueViolation reports whether err broke a uniqueness rule and, if so, a
// text naming it: the constraint or index name on PostgreSQL, the
// "table.column, …" list on SQLite. Both contain the column names, which is
// what callers match on.
func uniqueViolation(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return liteErr.Error(), true
		}
	}
	return "", false
}

// foreignKeyViolation reports whether err is a reference to a missing row,
// which a concurrent delete can cause after the existence checks passed.
func foreignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23503"
	}
	var liteErr *sqlite.Error
	return errors.As(err, &liteErr) && liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

type checkConnKey struct{}

// checkConn marks ctx so that the PostgreSQL pool pings a connection
// before handing it out for a call under ctx (see shouldPing): a retry
// after a dropped connection gets a live one. A dead one fails the ping and
// is discarded, and database/sql takes another, then opens a new one.
func checkConn(ctx context.Context) context.Context {
	return context.WithValue(ctx, checkConnKey{}, true)
}

// shouldPing decides when the pool pings a connection before use: after
// pgx's default second of idleness, and for every call marked by checkConn.
func shouldPing(ctx context.Context, p stdlib.ShouldPingParams) bool {
	return p.IdleDuration > time.Second || ctx.Value(checkConnKey{}) != nil
}

// connLost reports whether err says the connection a statement ran on is
// gone: the server terminated its backend (pg_terminate_backend, a restart,
// a failover: SQLSTATE 57P01-57P03), a connection exception (class 08), the
// socket broke, or the driver found the connection closed. A transaction
// whose statement failed so never committed, unless that statement was its
// COMMIT (see Store.write). SQLite has no connection to lose.
func (d dialect) connLost(err error) bool {
	if d != dialectPostgres || err == nil {
		return false
	}
	// A call that ran out of time or was cancelled is not run again (its
	// caller has gone), even when the driver dropped the connection for it.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || slices.Contains([]string{"57P01", "57P02", "57P03"}, pgErr.Code)
	}
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) && !netErr.Timeout()
}

// txID returns the id of the transaction on PostgreSQL if it wrote
// anything (0 otherwise, and always on SQLite), so that the outcome of a
// COMMIT cut off by a dropped connection can be asked (txid_status).
func (d dialect) txID(ctx context.Context, tx *sql.Tx) (int64, error) {
	if d != dialectPostgres {
		return 0, nil
	}
	var xid sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT txid_current_if_assigned()`).Scan(&xid)
	return xid.Int64, err
}
