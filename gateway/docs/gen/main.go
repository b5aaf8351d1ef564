// Command gen writes what the contract documents: the OpenAPI 3.0 spec to
// docs/openapi.json and the routes table of README.md (run from the
// repository's root by `make docs`).
package main

import (
	"fmt"
	"os"

	"pangolin-gateway/gateway/api"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
}

func run() error {
	spec, err := api.OpenAPI()
	if err != nil {
		return err
	}
	out := "docs/openapi.json"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, spec, 0o644); err != nil {
		return err
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return err
	}
	readme, err = api.SpliceRoutesTable(readme)
	if err != nil {
		return err
	}
	return os.WriteFile("README.md", readme, 0o644)
}
