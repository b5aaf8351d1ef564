// Package docs serves the OpenAPI spec of the API, generated from the route
// table by `make docs` (go run ./gateway/docs/gen) and committed.
package docs

import (
	_ "embed"
	"sync"

	"github.com/swaggo/swag"
)

// Spec is the committed swagger.json.
//
//go:embed swagger.json
var Spec []byte

type spec struct{}

func (spec) ReadDoc() string { return string(Spec) }

var once sync.Once

// Register makes the spec the one gin-swagger serves as doc.json. swag's
// registry is process-wide, so it happens once however many gateways a
// process builds (tests build many).
func Register() { once.Do(func() { swag.Register(swag.Name, spec{}) }) }
