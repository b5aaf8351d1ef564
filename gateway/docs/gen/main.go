// Command gen writes the OpenAPI spec of the route table to
// gateway/docs/swagger.json (run by `make docs`).
package main

import (
	"fmt"
	"os"

	"pangolin-gateway/gateway/api"
)

func main() {
	spec, err := api.OpenAPI()
	if err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
	out := "gateway/docs/swagger.json"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, spec, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
}
