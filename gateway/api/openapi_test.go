package api

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// The spec is a valid OpenAPI 3.0 document: kin-openapi's validator checks
// its structure, its references, and every example against its schema.
func TestOpenAPIIsValid(t *testing.T) {
	raw, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The YAML spec is the JSON one, member for member.
func TestOpenAPIYAMLIsTheSameDocument(t *testing.T) {
	raw, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	y, err := OpenAPIYAML()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // int64 bounds stay exact
	if err := dec.Decode(&fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(y, &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Compare as JSON: YAML reads integers as int, JSON as numbers.
	a, _ := json.Marshal(fromJSON)
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("the YAML spec differs from the JSON one:\n%.2000s", y)
	}
}
