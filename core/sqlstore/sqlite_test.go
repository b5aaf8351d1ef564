package sqlstore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenSQLiteLocations(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()

	// No url: <dataDir>/pangolin.db, the directory created private.
	dataDir := filepath.Join(root, "data", "nested")
	s := openAt(t, "", dataDir)
	if _, err := os.Stat(filepath.Join(dataDir, "pangolin.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
	info, err := os.Stat(dataDir)
	must(t, err)
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode %o, want 700", perm)
	}
	mkOrg(t, s, "acme")
	must(t, s.Close())

	for _, url := range []string{
		"sqlite://" + filepath.Join(dataDir, "pangolin.db"),
		"file:" + filepath.Join(dataDir, "pangolin.db"),
	} {
		s := openAt(t, url, "/ignored")
		if _, err := s.GetOrg(ctx, "acme"); err != nil {
			t.Errorf("%s: the org stored through the data dir: %v", url, err)
		}
		must(t, s.Close())
	}

	for _, tc := range []struct{ url, dataDir string }{
		{"", ""},
		{"mysql://localhost/db", root},
		{"sqlite://", root},
		{"sqlite://" + filepath.Join(root, "x.db?mode=ro"), root},
	} {
		if s, err := Open(ctx, tc.url, tc.dataDir); err == nil {
			s.Close()
			t.Errorf("Open(%q, %q) succeeded, want an error", tc.url, tc.dataDir)
		}
	}
}

// TestSQLitePragmas checks the settings on several pooled connections of
// both pools at once: each new connection must get them, not just the first.
func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, sqliteBackend)
	for name, db := range map[string]*sql.DB{"writer": s.writer.DB, "reader": s.reader.DB} {
		conns := 1
		if db == s.reader.DB {
			conns = 3
		}
		var held []*sql.Conn
		for range conns {
			conn, err := db.Conn(ctx)
			must(t, err)
			held = append(held, conn)
			for pragma, want := range map[string]string{
				"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1",
			} {
				var got string
				must(t, conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got))
				if got != want {
					t.Errorf("%s connection: %s = %s, want %s", name, pragma, got, want)
				}
			}
		}
		for _, c := range held {
			c.Close()
		}
	}
	// The read pool refuses writes, so no write can bypass the writer.
	if _, err := s.reader.ExecContext(ctx, `INSERT INTO actions (action_id) VALUES ('x')`); err == nil {
		t.Errorf("a write through the read pool succeeded")
	}
}
