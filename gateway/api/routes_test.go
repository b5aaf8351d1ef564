package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Every route carries what the router, the spec and the guards need. A new
// route without docs, an action or a guard fails here.
func TestEveryRouteIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes {
		id := r.Method + " " + r.Path
		if seen[id] {
			t.Errorf("%s: declared twice", id)
		}
		seen[id] = true
		if r.Summary == "" || r.Tag == "" {
			t.Errorf("%s: no summary or tag for the docs", id)
		}
		if r.Handle == nil {
			t.Errorf("%s: no handler", id)
		}
		if r.Status < 200 || r.Status > 299 {
			t.Errorf("%s: success status %d", id, r.Status)
		}
		if r.Scope == Public {
			if r.Path != "/" {
				t.Errorf("%s: only the health route may be public", id)
			}
			continue
		}
		if !regexp.MustCompile(`^[a-z][A-Za-z]+$`).MatchString(r.Action) {
			t.Errorf("%s: action %q is not an action id", id, r.Action)
		}
		if r.Message == "" {
			t.Errorf("%s: no success message", id)
		}
		if r.Scope == OrgInPath && !strings.Contains(r.Path, ":orgId") {
			t.Errorf("%s: org scope without :orgId in the path", id)
		}
		if r.Scope == ObjectInCore && !strings.Contains(r.Path, "Id") {
			t.Errorf("%s: object scope without an object id in the path", id)
		}
		if (r.Method == http.MethodPut || r.Method == http.MethodPost) && r.Body == nil {
			t.Errorf("%s: writes need a declared body", id)
		}
		if r.Body != nil && reflect.TypeOf(r.Body).Kind() != reflect.Struct {
			t.Errorf("%s: body must be a struct type", id)
		}
	}
}

// The spec documents every route with its action, scope and Bearer auth.
func TestSpecDocumentsEveryRoute(t *testing.T) {
	raw, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths               map[string]map[string]map[string]any `json:"paths"`
		SecurityDefinitions map[string]map[string]any            `json:"securityDefinitions"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.SecurityDefinitions["Bearer"]["name"] != "Authorization" {
		t.Fatalf("no Bearer security definition: %v", spec.SecurityDefinitions)
	}
	for _, r := range Routes {
		op := spec.Paths[swaggerPath(r.Path)][strings.ToLower(r.Method)]
		if op == nil {
			t.Errorf("%s %s: not in the spec", r.Method, r.Path)
			continue
		}
		if op["summary"] != r.Summary {
			t.Errorf("%s %s: summary %v", r.Method, r.Path, op["summary"])
		}
		if r.Scope == Public {
			continue
		}
		if op["x-pangolin-action"] != r.Action || op["security"] == nil {
			t.Errorf("%s %s: spec lacks action or security: %v", r.Method, r.Path, op)
		}
	}
}

func TestSwaggerPath(t *testing.T) {
	if got := swaggerPath("/org/:orgId/api-key/:apiKeyId/actions"); got != "/org/{orgId}/api-key/{apiKeyId}/actions" {
		t.Fatal(got)
	}
}
