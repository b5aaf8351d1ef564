package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// OpenAPI renders the Swagger 2.0 spec of Routes. `make docs` writes it to
// gateway/docs/swagger.json; a test fails when that file is stale.
func OpenAPI() ([]byte, error) {
	defs := map[string]any{}
	paths := map[string]map[string]any{}
	for i := range Routes {
		r := &Routes[i]
		path := swaggerPath(r.Path)
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(r.Method)] = r.operation(defs)
	}
	defs["ErrorEnvelope"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"data":    map[string]any{"type": "object", "x-nullable": true, "description": "Always null."},
			"success": map[string]any{"type": "boolean", "example": false},
			"error":   map[string]any{"type": "boolean", "example": true},
			"message": map[string]any{"type": "string", "description": "What went wrong (field, expected form, missing action)."},
			"status":  map[string]any{"type": "integer", "description": "The HTTP status."},
		},
		"required": []string{"data", "success", "error", "message", "status"},
	}
	spec := map[string]any{
		"swagger": "2.0",
		"info": map[string]any{
			"title":   "Pangolin Integration API",
			"version": "v1",
			"description": "Script everything the Pangolin dashboard does. Authenticate with an API key: " +
				"`Authorization: Bearer <apiKeyId>.<secret>`. Every answer but the health check is the envelope " +
				"`{data, success, error, message, status}`. Each operation names the action id the key needs " +
				"(x-pangolin-action) and its scope guard (x-pangolin-scope).",
		},
		"basePath": "/v1",
		"consumes": []string{"application/json"},
		"produces": []string{"application/json"},
		"securityDefinitions": map[string]any{
			"Bearer": map[string]any{
				"type": "apiKey", "in": "header", "name": "Authorization",
				"description": "Bearer <apiKeyId>.<secret>",
			},
		},
		"paths":       paths,
		"definitions": defs,
	}
	out, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

var pathParam = regexp.MustCompile(`:([A-Za-z]+)`)

// swaggerPath turns /org/:orgId into /org/{orgId}.
func swaggerPath(p string) string { return pathParam.ReplaceAllString(p, "{$1}") }

func (r *Route) operation(defs map[string]any) map[string]any {
	op := map[string]any{
		"summary":          r.Summary,
		"tags":             []string{r.Tag},
		"operationId":      strings.ToLower(r.Method) + operationName(r.Path),
		"x-pangolin-scope": r.Scope.String(),
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(r.Path, -1) {
		p := map[string]any{"name": m[1], "in": "path", "required": true, "type": "string"}
		if numericIDs[m[1]] {
			p["type"], p["minimum"] = "integer", 1
		}
		params = append(params, p)
	}
	for _, q := range r.QueryParams() {
		params = append(params, map[string]any{"name": q.Name, "in": "query", "required": q.Required, "type": q.Type, "description": q.Description})
	}
	if r.Body != nil {
		params = append(params, map[string]any{"name": "body", "in": "body", "required": true, "schema": schemaRef(reflect.TypeOf(r.Body), defs)})
	}
	if params != nil {
		op["parameters"] = params
	}
	var data any = map[string]any{"type": "object", "x-nullable": true, "description": "null"}
	if r.Response != nil {
		data = schemaRef(reflect.TypeOf(r.Response), defs)
	}
	success := data
	if !r.Bare {
		success = map[string]any{
			"type": "object",
			"properties": map[string]any{
				"data":    data,
				"success": map[string]any{"type": "boolean", "example": true},
				"error":   map[string]any{"type": "boolean", "example": false},
				"message": map[string]any{"type": "string", "example": r.Message},
				"status":  map[string]any{"type": "integer", "example": r.Status},
			},
			"required": []string{"data", "success", "error", "message", "status"},
		}
	}
	responses := map[string]any{
		fmt.Sprint(r.Status): map[string]any{"description": http.StatusText(r.Status), "schema": success},
	}
	errRef := map[string]any{"$ref": "#/definitions/ErrorEnvelope"}
	if r.Scope != Public {
		op["security"] = []any{map[string]any{"Bearer": []string{}}}
		op["x-pangolin-action"] = r.Action
		op["description"] = fmt.Sprintf("Requires action `%s`; scope: %s.", r.Action, r.Scope)
		responses["401"] = map[string]any{"description": "Missing or invalid API key", "schema": errRef}
		responses["403"] = map[string]any{"description": "Key lacks the scope or the action", "schema": errRef}
		responses["503"] = map[string]any{"description": "Core or authentication unavailable", "schema": errRef}
		responses["400"] = map[string]any{"description": "Invalid input", "schema": errRef}
		if r.Body != nil {
			responses["413"] = map[string]any{"description": "Body too large", "schema": errRef}
		}
		if strings.Contains(r.Path, ":") {
			responses["404"] = map[string]any{"description": "Not found", "schema": errRef}
		}
	}
	op["responses"] = responses
	return op
}

// numericIDs are the path parameters that are integers.
var numericIDs = map[string]bool{"siteId": true}

// operationName derives a stable name from a path: /org/:orgId/sites → OrgOrgIdSites.
func operationName(path string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == ':' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if b.Len() == 0 {
		return "Root"
	}
	return b.String()
}

// schemaRef returns a $ref to t's definition, adding it (and the types it
// uses) to defs.
func schemaRef(t reflect.Type, defs map[string]any) map[string]any {
	if _, done := defs[t.Name()]; !done {
		defs[t.Name()] = nil // placeholder against cycles
		defs[t.Name()] = objectSchema(t, defs)
	}
	return map[string]any{"$ref": "#/definitions/" + t.Name()}
}

func objectSchema(t reflect.Type, defs map[string]any) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name := jsonName(f)
			s := typeSchema(f.Type, defs)
			if d := f.Tag.Get("doc"); d != "" {
				s["description"] = d
			}
			if e := f.Tag.Get("enum"); e != "" {
				s["enum"] = strings.Split(e, ",")
			}
			props[name] = s
			if f.Tag.Get("binding") == "required" {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := map[string]any{"type": "object", "properties": props}
	if required != nil {
		slices.Sort(required)
		s["required"] = required
	}
	return s
}

func typeSchema(t reflect.Type, defs map[string]any) map[string]any {
	nullable := t.Kind() == reflect.Pointer
	if nullable {
		t = t.Elem()
	}
	var s map[string]any
	switch t.Kind() {
	case reflect.Struct:
		s = schemaRef(t, defs)
	case reflect.Slice:
		s = map[string]any{"type": "array", "items": typeSchema(t.Elem(), defs)}
	default:
		s = map[string]any{"type": jsonType(t)}
		if t.Kind() == reflect.Int64 || t.Kind() == reflect.Int32 {
			s["format"] = t.Kind().String()
		}
	}
	if nullable {
		s["x-nullable"] = true
	}
	return s
}
