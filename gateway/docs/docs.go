// Package docs serves the OpenAPI spec of the API at /v1/docs/doc.json. The
// gateway generates it from the contract at start, like its routes, so a
// new operation needs no file under gateway/; `make docs` also writes a
// copy to docs/swagger.json for readers and tools (a test keeps it fresh).
package docs

import (
	"sync"

	"github.com/swaggo/swag"
)

type spec []byte

func (s spec) ReadDoc() string { return string(s) }

var once sync.Once

// Register makes doc the spec gin-swagger serves as doc.json. swag's
// registry is process-wide, so the first call wins however many gateways a
// process builds (tests build many); every one builds the same spec from
// the same compiled-in contract.
func Register(doc []byte) { once.Do(func() { swag.Register(swag.Name, spec(doc)) }) }
