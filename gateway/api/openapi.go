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
// as summaries and descriptions. `make docs` writes it to
// gateway/docs/swagger.json; a test fails when that file is stale.
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

// scalar describes a scalar field into schema (a parameter or a property).
func (s *spec) scalar(schema map[string]any, fd protoreflect.FieldDescriptor) {
	f := contract.FieldOf(fd)
	if c := contract.Comment(fd); c != "" {
		schema["description"] = c
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		schema["type"] = "string"
	case protoreflect.BoolKind:
		schema["type"] = "boolean"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		schema["type"], schema["format"] = "integer", "int32"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		schema["type"], schema["format"] = "integer", "int64"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		schema["type"], schema["minimum"] = "integer", 0
	case protoreflect.DoubleKind:
		schema["type"], schema["format"] = "number", "double"
	case protoreflect.FloatKind:
		schema["type"], schema["format"] = "number", "float"
	case protoreflect.BytesKind:
		schema["type"], schema["format"] = "string", "byte"
	case protoreflect.EnumKind:
		schema["type"] = "string"
		var names []string
		for i := range fd.Enum().Values().Len() {
			names = append(names, string(fd.Enum().Values().Get(i).Name()))
		}
		schema["enum"] = names
	}
	if e := f.GetEnumValues(); len(e) > 0 {
		schema["enum"] = e
	}
	if ex := f.GetExample(); ex != "" {
		var v any
		if json.Unmarshal([]byte(ex), &v) == nil {
			schema["example"] = v
		}
	}
}

// field describes a field's value: lists as arrays, messages by reference.
func (s *spec) field(fd protoreflect.FieldDescriptor, ref func(protoreflect.MessageDescriptor) map[string]any) map[string]any {
	var schema map[string]any
	if fd.Kind() == protoreflect.MessageKind {
		schema = ref(fd.Message())
		if fd.IsList() {
			schema = map[string]any{"type": "array", "items": schema}
		}
		if c := contract.Comment(fd); c != "" && fd.IsList() {
			schema["description"] = c
		}
		return schema
	}
	schema = map[string]any{}
	s.scalar(schema, fd)
	if fd.IsList() {
		items := map[string]any{}
		for _, k := range []string{"type", "format", "enum", "minimum"} {
			if v, ok := schema[k]; ok {
				items[k] = v
				delete(schema, k)
			}
		}
		schema["type"], schema["items"] = "array", items
	}
	return schema
}

// answerRef refers to the definition of a message as answers write it
// (skip: a paged answer's total, written as pagination).
func (s *spec) answerRef(md protoreflect.MessageDescriptor, skip protoreflect.FieldDescriptor) map[string]any {
	name := string(md.Name())
	if _, done := s.defs[name]; !done {
		s.defs[name] = nil // placeholder against cycles
		props, required := map[string]any{}, []string{}
		s.answerProperties(md, skip, props, &required)
		if skip != nil {
			props["pagination"] = s.pagination()
			required = append(required, "pagination")
		}
		def := map[string]any{"type": "object", "properties": props, "required": required}
		if c := contract.Comment(md); c != "" {
			def["description"] = c
		}
		s.defs[name] = def
	}
	return map[string]any{"$ref": "#/definitions/" + name}
}

// answerProperties describes the members the encoder writes for md: inline
// fields in their parent, unset optionals as null, omit_unset fields only
// when set (not required).
func (s *spec) answerProperties(md protoreflect.MessageDescriptor, skip protoreflect.FieldDescriptor, props map[string]any, required *[]string) {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd == skip {
			continue
		}
		f := contract.FieldOf(fd)
		if f.GetInline() {
			s.answerProperties(fd.Message(), nil, props, required)
			continue
		}
		schema := s.field(fd, func(md protoreflect.MessageDescriptor) map[string]any { return s.answerRef(md, nil) })
		if fd.HasPresence() && !fd.IsList() && fd.Kind() != protoreflect.MessageKind {
			schema["x-nullable"] = true
		}
		props[fd.JSONName()] = schema
		if !f.GetOmitUnset() {
			*required = append(*required, fd.JSONName())
		}
	}
}

// bodyRef refers to the definition of a request's body: its BODY fields
// (nested messages: all their fields), required ones listed.
func (s *spec) bodyRef(md protoreflect.MessageDescriptor) map[string]any {
	name := strings.TrimSuffix(string(md.Name()), "Request") + "Body"
	if _, done := s.defs[name]; !done {
		s.defs[name] = nil
		props, required := map[string]any{}, []string{}
		top := md.Fields()
		for i := range top.Len() {
			fd := top.Get(i)
			if contract.FieldOf(fd).GetSource() != apiv1.Source_SOURCE_BODY {
				continue
			}
			s.bodyProperty(fd, props, &required)
		}
		slices.Sort(required)
		def := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			def["required"] = required
		}
		if c := contract.Comment(md); c != "" {
			def["description"] = c
		}
		s.defs[name] = def
	}
	return map[string]any{"$ref": "#/definitions/" + name}
}

func (s *spec) bodyProperty(fd protoreflect.FieldDescriptor, props map[string]any, required *[]string) {
	schema := s.field(fd, s.nestedBodyRef)
	if contract.FieldOf(fd).GetRequired() {
		*required = append(*required, fd.JSONName())
	} else if fd.Kind() != protoreflect.MessageKind || fd.IsList() {
		schema["x-nullable"] = true // null leaves the field unset
	}
	props[fd.JSONName()] = schema
}

// nestedBodyRef refers to a message inside a body (all its fields).
func (s *spec) nestedBodyRef(md protoreflect.MessageDescriptor) map[string]any {
	name := string(md.Name()) + "Input"
	if _, done := s.defs[name]; !done {
		s.defs[name] = nil
		props, required := map[string]any{}, []string{}
		fields := md.Fields()
		for i := range fields.Len() {
			s.bodyProperty(fields.Get(i), props, &required)
		}
		slices.Sort(required)
		def := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			def["required"] = required
		}
		s.defs[name] = def
	}
	return map[string]any{"$ref": "#/definitions/" + name}
}

func (s *spec) empty() map[string]any {
	s.defs["Empty"] = map[string]any{"type": "object", "properties": map[string]any{}}
	return map[string]any{"$ref": "#/definitions/Empty"}
}

func (s *spec) pagination() map[string]any {
	n := func(d string) map[string]any {
		return map[string]any{"type": "integer", "format": "int32", "description": d}
	}
	s.defs["Pagination"] = map[string]any{
		"type":        "object",
		"description": "The list's total and the paging style the request used: limit and offset, or page and pageSize.",
		"properties": map[string]any{
			"total":    n("Items in the whole list."),
			"limit":    n("Offset style."),
			"offset":   n("Offset style."),
			"page":     n("Page style."),
			"pageSize": n("Page style."),
		},
		"required": []string{"total"},
	}
	return map[string]any{"$ref": "#/definitions/Pagination"}
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
