package sqlstore

import (
	"testing"

	"pangolin-gateway/internal/testenv"
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

// postgresBackend gives each test its own database on the server at
// DATABASE_URL (testenv), so tests running in parallel never see each
// other's rows. Unreachable: skipped, or a failure under CI=true.
var postgresBackend = backend{
	name: "postgres",
	newDB: func(t *testing.T) (string, string) {
		return testenv.PostgresURL(t), ""
	},
}

func TestSQLite(t *testing.T) {
	runContract(t, sqliteBackend)
}

func TestPostgres(t *testing.T) {
	runContract(t, postgresBackend)
}
