package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// OpenAPI renders the Swagger 2.0 spec of every route the contract
// declares, from the same plans the router serves: paths and parameters
// from the request fields, body schemas from the BODY fields, answers from
// the response messages as the encoder writes them, and the proto comments
// as summaries and descriptions. The gateway builds and serves it at start;
// `make docs` writes a copy to docs/swagger.json, which a test keeps fresh.
func OpenAPI() ([]byte, error) {
	ops, err := operations()
	if err != nil {
		return nil, err
	}
	s := &spec{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	var tags []any
	seenTag := map[string]bool{}
	for _, o := range ops {
		if !seenTag[o.Tag] {
			seenTag[o.Tag] = true
			tags = append(tags, map[string]any{"name": o.Tag, "description": contract.Comment(o.Service)})
		}
		for _, p := range o.Paths() {
			if paths[p.GetPath()] == nil {
				paths[p.GetPath()] = map[string]any{}
			}
			paths[p.GetPath()][strings.ToLower(p.GetMethod())] = s.operation(o, p)
		}
	}
	s.defs["ErrorEnvelope"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"data":    map[string]any{"type": "object", "x-nullable": true, "description": "Always null."},
			"success": map[string]any{"type": "boolean", "example": false},
			"error":   map[string]any{"type": "boolean", "example": true},
			"message": map[string]any{"type": "string", "description": "What went wrong (field, expected form, missing action)."},
			"status":  map[string]any{"type": "integer", "description": "The HTTP status."},
		},
		"required": envelopeFields,
	}
	out, err := json.MarshalIndent(map[string]any{
		"swagger": "2.0",
		"info": map[string]any{
			"title":   "Pangolin Integration API",
			"version": "v1",
			"description": "Script everything the Pangolin dashboard does. Authenticate with an API key: " +
				"`Authorization: Bearer <apiKeyId>.<secret>`. Every answer but the health check is the envelope " +
				"`{data, success, error, message, status}`. Each operation names the action id the key needs " +
				"(x-pangolin-action) and its scope guard (x-pangolin-scope). Bodies are JSON " +
				"(`Content-Type: application/json`); field names match exactly.",
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
		"tags":        tags,
		"paths":       paths,
		"definitions": s.defs,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

var envelopeFields = []string{"data", "success", "error", "message", "status"}

// scopeText says who may call a route, for the docs.
func scopeText(a *apiv1.Access) string {
	switch a.GetScope() {
	case apiv1.Scope_SCOPE_PUBLIC:
		return "public"
	case apiv1.Scope_SCOPE_KEY:
		return "any key"
	case apiv1.Scope_SCOPE_ROOT:
		return "root key"
	case apiv1.Scope_SCOPE_ORG:
		return "org in path"
	case apiv1.Scope_SCOPE_OBJECT:
		return a.GetObject() + "'s org (checked in the core)"
	}
	return a.GetScope().String()
}

// spec collects the definitions the operations refer to.
type spec struct {
	defs map[string]any
}

func (s *spec) operation(o *operation, p *apiv1.Alias) map[string]any {
	op := map[string]any{
		"summary":          o.Summary,
		"tags":             []string{o.Tag},
		"operationId":      strings.ToLower(p.GetMethod()) + operationName(p.GetPath()),
		"x-pangolin-scope": scopeText(o.Access),
		"x-pangolin-rpc":   o.FullMethod,
	}
	description := o.Description
	if o.scope != apiv1.Scope_SCOPE_PUBLIC {
		op["security"] = []any{map[string]any{"Bearer": []string{}}}
		if o.action != "" {
			op["x-pangolin-action"] = o.action
			description = join2(description, fmt.Sprintf("Requires action `%s`; scope: %s.", o.action, scopeText(o.Access)))
		}
	}
	if description != "" {
		op["description"] = description
	}
	if params := s.parameters(o, p.GetPath()); params != nil {
		op["parameters"] = params
	}
	responses := map[string]any{}
	if o.hook.document != nil {
		o.hook.document(s, o, responses)
	} else {
		var data any
		switch o.data {
		case dataNull:
			data = map[string]any{"type": "object", "x-nullable": true, "description": "null"}
		case dataEmpty:
			data = s.empty()
		case dataMessage:
			if o.dataField != nil {
				data = s.field(o.dataField.fd, func(md protoreflect.MessageDescriptor) map[string]any { return s.answerRef(md, nil) })
				break
			}
			fallthrough
		default:
			data = s.answerRef(o.resp.Descriptor(), o.total)
		}
		responses[fmt.Sprint(o.status)] = map[string]any{
			"description": http.StatusText(o.status),
			"schema":      envelope(data, o.Route.GetMessage(), o.status),
		}
	}
	errRef := map[string]any{"$ref": "#/definitions/ErrorEnvelope"}
	if o.scope != apiv1.Scope_SCOPE_PUBLIC {
		responses["401"] = map[string]any{"description": "Missing or invalid API key", "schema": errRef}
		responses["403"] = map[string]any{"description": "Key lacks the scope or the action", "schema": errRef}
		responses["429"] = map[string]any{"description": "Too many authentication attempts", "schema": errRef}
		responses["503"] = map[string]any{"description": "Core or authentication unavailable", "schema": errRef}
	}
	if len(o.path) > 0 || len(o.query) > 0 || o.page != nil || o.body != nil || o.scope != apiv1.Scope_SCOPE_PUBLIC {
		responses["400"] = map[string]any{"description": "Invalid input", "schema": errRef}
	}
	if o.body != nil {
		responses["413"] = map[string]any{"description": "Body too large", "schema": errRef}
		responses["415"] = map[string]any{"description": "Body is not JSON (Content-Type)", "schema": errRef}
	}
	if len(o.path) > 0 {
		responses["404"] = map[string]any{"description": "Not found", "schema": errRef}
	}
	op["responses"] = responses
	return op
}

func join2(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n\n" + b
}

func envelope(data any, message string, status int) map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"data":    data,
			"success": map[string]any{"type": "boolean", "example": true},
			"error":   map[string]any{"type": "boolean", "example": false},
			"message": map[string]any{"type": "string", "example": message},
			"status":  map[string]any{"type": "integer", "example": status},
		},
		"required": envelopeFields,
	}
}

func (s *spec) parameters(o *operation, path string) []any {
	var params []any
	for _, name := range contract.PathParams(path) {
		i := slices.IndexFunc(o.path, func(p pathField) bool { return p.name == name })
		p := map[string]any{"name": name, "in": "path", "required": true}
		s.scalar(p, o.path[i].fd)
		if o.path[i].bits != 0 {
			p["minimum"] = 1
		}
		params = append(params, p)
	}
	for _, q := range o.query {
		p := map[string]any{"name": q.name, "in": "query", "required": q.required}
		s.scalar(p, q.fd)
		params = append(params, p)
	}
	if o.page != nil {
		ranges := map[string][2]int64{
			"limit": {1, MaxPageSize}, "offset": {0, math.MaxInt32}, "page": {1, math.MaxInt32}, "pageSize": {1, MaxPageSize},
		}
		for _, pp := range pagingParams {
			params = append(params, map[string]any{
				"name": pp.name, "in": "query", "required": false, "type": "integer", "format": "int32",
				"minimum": ranges[pp.name][0], "maximum": ranges[pp.name][1], "description": pp.description,
			})
		}
	}
	if o.body != nil {
		params = append(params, map[string]any{
			"name": "body", "in": "body", "required": slices.ContainsFunc(o.body.fields, func(f *bodyField) bool { return f.required }),
			"schema": s.bodyRef(o.req.Descriptor()),
		})
	}
	return params
}

// operationName derives a stable name from a path: /org/{orgId}/sites →
// OrgOrgIdSites (the names the spec always used).
func operationName(path string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return strings.ContainsRune("/{}-", r) }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if b.Len() == 0 {
		return "Root"
	}
	return b.String()
}
