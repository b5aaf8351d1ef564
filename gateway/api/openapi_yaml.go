package api

import (
	"bytes"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// OpenAPIYAML is the spec as YAML (GET /v1/openapi.yaml): the same
// document as OpenAPI, member for member and in the same order. The slice
// is shared: do not modify it.
func OpenAPIYAML() ([]byte, error) { return openAPIYAML() }

var openAPIYAML = sync.OnceValues(func() ([]byte, error) {
	spec, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	// JSON is YAML: read it as nodes, which keep the members' order, and
	// write them back in block style.
	var doc yaml.Node
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, err
	}
	blockStyle(&doc)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
})

// blockStyle drops the flow style JSON came with; the encoder quotes
// whatever a plain scalar would change (a string "200" stays a string).
// Text of several lines becomes a literal block.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "\n") {
		n.Style = yaml.LiteralStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
