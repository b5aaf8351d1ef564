// Package docs serves the OpenAPI spec of the API, generated from the route
// table by `make docs` (go run ./gateway/docs/gen) and committed.
package docs

import (
	_ "embed"

	"github.com/swaggo/swag"
)

// Spec is the committed swagger.json.
//
//go:embed swagger.json
var Spec []byte

type spec struct{}

func (spec) ReadDoc() string { return string(Spec) }

// Register makes the spec the one gin-swagger serves as doc.json.
func Register() { swag.Register(swag.Name, spec{}) }
