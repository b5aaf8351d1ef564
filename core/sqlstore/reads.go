package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"pangolin-gateway/internal/metrics"
)

// storeSeconds is the store's latency: each read statement outside a
// transaction (to its first row) and each write transaction (commit
// included). Measured here, at the two helpers every query goes through,
// not at each query.
var storeSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "pangolin_core_store_duration_seconds",
	Help:    "Latency of the core's store: kind=read is one statement outside a transaction (to its first row), kind=write one write transaction, commit included.",
	Buckets: metrics.LatencyBuckets,
}, []string{"kind"})

var (
	readSeconds  = storeSeconds.WithLabelValues("read")
	writeSeconds = storeSeconds.WithLabelValues("write")
)

// observeWrite records a write transaction that began at start.
func observeWrite(start time.Time) { writeSeconds.Observe(time.Since(start).Seconds()) }

// maxPrepared bounds the statements reads keeps prepared. The store's read
// queries are fixed texts, far fewer than this; past it a query simply runs
// unprepared.
const maxPrepared = 256

// reads is the pool that serves reads outside transactions (Store.reader).
// It times every statement and, on SQLite, prepares each query text once:
// modernc.org/sqlite parses a query on every call, and parsing cost more
// than running the store's small reads (17% of the embedded default's CPU
// on GET /v1/org/{id}). pgx already keeps a statement cache per connection,
// so on PostgreSQL queries pass straight through.
type reads struct {
	*sql.DB
	prepare bool
	stmts   sync.Map // query text → *sql.Stmt
	nStmts  atomic.Int32
}

func newReads(db *sql.DB, d dialect) *reads {
	return &reads{DB: db, prepare: d == dialectSQLite}
}

// stmt returns the prepared statement of query, nil to run it unprepared.
func (r *reads) stmt(ctx context.Context, query string) *sql.Stmt {
	if !r.prepare {
		return nil
	}
	if s, ok := r.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if r.nStmts.Load() >= maxPrepared {
		return nil
	}
	s, err := r.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil // running it unprepared reports the error
	}
	if prev, loaded := r.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	r.nStmts.Add(1)
	return s
}

func (r *reads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	start := time.Now()
	defer func() { readSeconds.Observe(time.Since(start).Seconds()) }()
	if s := r.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return r.DB.QueryContext(ctx, query, args...)
}

func (r *reads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	start := time.Now()
	defer func() { readSeconds.Observe(time.Since(start).Seconds()) }()
	if s := r.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return r.DB.QueryRowContext(ctx, query, args...)
}

// Close closes the prepared statements and the pool.
func (r *reads) Close() error {
	r.stmts.Range(func(_, s any) bool {
		s.(*sql.Stmt).Close()
		return true
	})
	return r.DB.Close()
}
