package docs_test

import (
	"bytes"
	"testing"

	"pangolin-gateway/gateway/api"
	"pangolin-gateway/gateway/docs"
)

// The committed spec must be what the route table generates today.
func TestCommittedSpecIsFresh(t *testing.T) {
	want, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs.Spec, want) {
		t.Fatal("gateway/docs/swagger.json is stale: run `make docs` and commit it")
	}
}
