package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"
)

// backend makes empty databases for the contract suite.
type backend struct {
	name string
	// newDB returns the Open arguments of a fresh, empty database that is
	// removed when the test ends.
	newDB func(t *testing.T) (url, dataDir string)
}

var sqliteBackend = backend{
	name: "sqlite",
	newDB: func(t *testing.T) (string, string) {
		return "", t.TempDir()
	},
}

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var postgresAdmin struct {
	once sync.Once
	db   *sql.DB
	base *url.URL
	err  error
}

// postgresBackend gives each test its own database on the server at
// DATABASE_URL, so tests (and test binaries) running in parallel never see
// each other's rows. It skips the test when the server is unreachable,
// unless CI=true, where that is a failure.
func postgresBackend(t *testing.T) backend {
	t.Helper()
	a := &postgresAdmin
	a.once.Do(func() {
		raw := os.Getenv("DATABASE_URL")
		if raw == "" {
			raw = defaultDatabaseURL
		}
		if a.base, a.err = url.Parse(raw); a.err != nil {
			return
		}
		if a.db, a.err = sql.Open("pgx", raw); a.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.err = a.db.PingContext(ctx)
	})
	if a.err != nil {
		host := ""
		if a.base != nil {
			host = a.base.Host
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %q unreachable (CI=true): %v", host, a.err)
		}
		t.Skipf("skipping: PostgreSQL at %q unreachable (set DATABASE_URL): %v", host, a.err)
	}
	return backend{name: "postgres", newDB: newPostgresDB}
}

func newPostgresDB(t *testing.T) (string, string) {
	t.Helper()
	a := &postgresAdmin
	var b [8]byte
	rand.Read(b[:])
	name := "pgw_test_" + hex.EncodeToString(b[:])
	if _, err := a.db.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	// Registered before the test opens a store, so it runs after the
	// store's own cleanup has closed its connections.
	t.Cleanup(func() {
		if _, err := a.db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u := *a.base
	u.Path = "/" + name
	return u.String(), ""
}

func TestSQLite(t *testing.T) {
	runContract(t, sqliteBackend)
}

func TestPostgres(t *testing.T) {
	runContract(t, postgresBackend(t))
}
