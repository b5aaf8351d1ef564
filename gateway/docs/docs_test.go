package docs_test

import (
	"bytes"
	"os"
	"testing"

	"pangolin-gateway/gateway/api"
)

// The committed copy of the spec must be what the contract generates today
// (what the gateway serves).
func TestCommittedSpecIsFresh(t *testing.T) {
	want, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/openapi.json is stale: run `make docs` and commit it")
	}
}

// So must the README's routes table.
func TestREADMERoutesTableIsFresh(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := api.SpliceRoutesTable(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readme, want) {
		t.Fatal("README.md's routes table is stale: run `make docs` and commit it")
	}
}
