package docs_test

import (
	"bytes"
	"os"
	"testing"

	"pangolin-gateway/gateway/api"
	"pangolin-gateway/gateway/docs"
)

// The committed spec must be what the contract generates today.
func TestCommittedSpecIsFresh(t *testing.T) {
	want, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs.Spec, want) {
		t.Fatal("gateway/docs/swagger.json is stale: run `make docs` and commit it")
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
