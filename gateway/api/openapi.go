package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// OpenAPI renders the OpenAPI 3.0 document of every route the contract
// declares, from the same plans the router serves: paths and parameters
// from the request fields, bodies as the decoder reads them, answers as the
// encoder writes them, every status the route can answer as the handler
// serves it, and the proto comments as summaries and descriptions. The
// gateway serves it at /v1/openapi.json; `make docs` writes a copy to
// docs/openapi.json, which a test keeps fresh. The slice is shared: do not
// modify it.
func OpenAPI() ([]byte, error) { return openAPI() }

var openAPI = sync.OnceValues(func() ([]byte, error) {
	ops, err := operations()
	if err != nil {
		return nil, err
	}
	s := newSpec(ops)
	paths := map[string]map[string]any{}
	var tags []any
	seenTag := map[string]bool{}
	for _, o := range ops {
		if !seenTag[o.Tag] {
			seenTag[o.Tag] = true
			tag := map[string]any{"name": o.Tag}
			if d := contract.Comment(o.Service); d != "" {
				tag["description"] = d
			}
			tags = append(tags, tag)
		}
		for i, p := range o.Paths() {
			if paths[p.GetPath()] == nil {
				paths[p.GetPath()] = map[string]any{}
			}
			paths[p.GetPath()][strings.ToLower(p.GetMethod())] = s.operation(o, p, i > 0)
		}
	}
	if len(s.errs) > 0 {
		return nil, errors.Join(s.errs...)
	}
	out, err := json.MarshalIndent(map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       Title,
			"version":     "v1",
			"description": infoDescription,
			"license":     map[string]any{"name": "AGPL-3.0", "url": "https://www.gnu.org/licenses/agpl-3.0.html"},
		},
		"servers":  []any{map[string]any{"url": "/v1", "description": "This server"}},
		"security": []any{map[string]any{bearerScheme: []string{}}},
		"tags":     tags,
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				bearerScheme: map[string]any{
					"type": "http", "scheme": "bearer", "bearerFormat": "apiKeyId.secret",
					"description": "The API key as `make run` or key creation prints it: `apiKeyId.secret`, " +
						"without the word Bearer (the client adds it).",
				},
			},
			"schemas":   s.schemas,
			"responses": s.responses,
		},
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
})

// Title names the API in the spec and the Swagger UI.
const Title = "Pangolin Integration API"

const bearerScheme = "bearerAuth"

const infoDescription = "Script everything the Pangolin dashboard does.\n\n" +
	"**Authentication.** Send an API key as `Authorization: Bearer apiKeyId.secret`. In this page, click " +
	"*Authorize* and paste the key alone (`apiKeyId.secret`, as `make run` prints it): the page adds `Bearer`. " +
	"Each operation names the action id the key needs (`x-pangolin-action`) and who may call it (`x-pangolin-scope`).\n\n" +
	"**Answers.** Every answer but the health check is the envelope `{data, success, error, message, status}`; " +
	"failures have `data: null`, `success: false`, `error: true` and a message that says what is wrong. " +
	"Each operation lists every status it can answer.\n\n" +
	"**Bodies** are JSON (`Content-Type: application/json`, else 415); field names match exactly, " +
	"unknown fields and duplicate keys are refused (400), and a field that may be left out may also be null."

// spec collects the components the operations refer to.
type spec struct {
	schemas   map[string]any
	responses map[string]any
	// fieldExamples are the example options of the contract's scalar
	// request fields, by JSON name, where every field of that name agrees:
	// examples of same-named parameters and answer fields.
	fieldExamples map[string]any
	// opExamples are those of the operation being documented: an answer
	// first documented by an operation takes its request's examples
	// (the org a create answers is named like the one it was sent).
	opExamples map[string]any
	// pagedAnswers says, for each answer schema, whether its first use
	// was with pagination (a later use the other way gets its own).
	pagedAnswers map[string]bool
	opIDs        map[*operation]string
	// errs are what the spec cannot document.
	errs []error
}

func newSpec(ops []*operation) *spec {
	s := &spec{
		schemas:       map[string]any{},
		responses:     map[string]any{},
		fieldExamples: map[string]any{},
		pagedAnswers:  map[string]bool{},
		opIDs:         map[*operation]string{},
	}
	s.schemas["ErrorEnvelope"] = map[string]any{
		"type":                 "object",
		"description":          "Every failure: data is null, success false, error true; message says what is wrong.",
		"required":             envelopeFields,
		"additionalProperties": false,
		"properties": ordered(
			"data", alwaysNull(),
			"success", map[string]any{"type": "boolean", "enum": []any{false}},
			"error", map[string]any{"type": "boolean", "enum": []any{true}},
			"message", map[string]any{"type": "string", "description": "What went wrong (field, expected form, missing action)."},
			"status", map[string]any{"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
		),
	}
	// Operation ids: the RPC's name, unique across services (else prefixed
	// by the service's), so generated clients get readable method names.
	count, ambiguous := map[string]int{}, map[string]bool{}
	for _, o := range ops {
		count[string(o.Method.Name())]++
	}
	for _, o := range ops {
		name := string(o.Method.Name())
		if count[name] > 1 {
			name = string(o.Service.Name()) + name
		}
		s.opIDs[o] = lowerFirst(name)
		for name, ex := range requestExamples(o) {
			if prev, seen := s.fieldExamples[name]; !seen {
				s.fieldExamples[name] = ex
			} else if !reflect.DeepEqual(prev, ex) {
				ambiguous[name] = true // "name" of a key, of an org, of a site
			}
		}
	}
	for name := range ambiguous {
		delete(s.fieldExamples, name)
	}
	return s
}

// requestExamples are the example options of o's scalar request fields, by
// JSON name.
func requestExamples(o *operation) map[string]any {
	out := map[string]any{}
	fields := o.req.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if ex, ok := example(fd); ok && !fd.IsList() && fd.Kind() != protoreflect.MessageKind {
			out[fd.JSONName()] = ex
		}
	}
	return out
}

var envelopeFields = []string{"data", "success", "error", "message", "status"}

// alwaysNull is the schema of data in answers whose data is null.
func alwaysNull() map[string]any {
	return map[string]any{"type": "object", "nullable": true, "enum": []any{nil}, "description": "Always null."}
}

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

func (s *spec) operation(o *operation, p *apiv1.Alias, alias bool) map[string]any {
	id := s.opIDs[o]
	if alias {
		id += "Via" + operationName(p.GetMethod(), p.GetPath())
	}
	s.opExamples = requestExamples(o)
	op := map[string]any{
		"summary":          o.Summary,
		"tags":             []string{o.Tag},
		"operationId":      id,
		"x-pangolin-scope": scopeText(o.Access),
		"x-pangolin-rpc":   o.FullMethod,
	}
	description := o.Description
	if o.scope == apiv1.Scope_SCOPE_PUBLIC {
		op["security"] = []any{}
	} else if o.action != "" {
		op["x-pangolin-action"] = o.action
		description = join2(description, fmt.Sprintf("Requires action `%s`; scope: %s.", o.action, scopeText(o.Access)))
	}
	if description != "" {
		op["description"] = description
	}
	if params := s.parameters(o, p.GetPath()); params != nil {
		op["parameters"] = params
	}
	if o.body != nil {
		op["requestBody"] = s.requestBody(o)
	}
	responses := map[string]any{}
	if o.hook.document != nil {
		o.hook.document(s, o, responses)
	} else {
		responses[fmt.Sprint(o.status)] = s.success(o.Route.GetMessage(), o.status, s.data(o, o.data))
	}
	for _, status := range o.failures(p.GetMethod()) {
		key := fmt.Sprint(status)
		if _, documented := responses[key]; !documented {
			responses[key] = map[string]any{"$ref": "#/components/responses/" + s.failure(status)}
		}
	}
	op["responses"] = responses
	return op
}

// failures are the error statuses a route can answer, derived from how it
// is served: the key check, the guards, the binder, the body reader and the
// core call each add theirs.
func (o *operation) failures(method string) []int {
	// Headers over the server's limit, before any route is chosen.
	out := []int{http.StatusRequestHeaderFieldsTooLarge}
	if o.hook.serve != nil {
		return out // answered by the gateway itself
	}
	// The query is checked on every route (unknown parameters are
	// refused), and the core refuses invalid values.
	out = append(out, http.StatusBadRequest)
	if o.scope != apiv1.Scope_SCOPE_PUBLIC {
		// A missing or invalid key; the key's rate limit, wrong secrets
		// over their limit or a verification queue that is full; a guard,
		// or the key's allow list.
		out = append(out, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusForbidden)
	}
	if len(o.path) > 0 {
		// The org or the object the path names does not exist (or is out
		// of the key's reach, which answers the same).
		out = append(out, http.StatusNotFound)
	}
	if method != http.MethodGet {
		// A write can conflict with what is stored: a duplicate id or
		// name, an object in use; or its Idempotency-Key is still running.
		out = append(out, http.StatusConflict)
	}
	if IdempotentMethod(method) && o.scope != apiv1.Scope_SCOPE_PUBLIC {
		// Its Idempotency-Key was used for another request.
		out = append(out, http.StatusUnprocessableEntity)
	}
	if o.body != nil {
		out = append(out, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	// The core failed (nothing of it is shown), or could not be reached.
	out = append(out, http.StatusInternalServerError, http.StatusServiceUnavailable)
	slices.Sort(out)
	return out
}

// failure registers the shared response of an error status and returns
// its name in components/responses.
func (s *spec) failure(status int) string {
	f, ok := failureDocs[status]
	if !ok {
		f = failureDoc{strings.ReplaceAll(http.StatusText(status), " ", ""), http.StatusText(status), http.StatusText(status)}
	}
	if _, done := s.responses[f.name]; !done {
		r := map[string]any{
			"description": f.description,
			"content": map[string]any{"application/json": map[string]any{
				"schema":  map[string]any{"$ref": "#/components/schemas/ErrorEnvelope"},
				"example": ordered("data", nil, "success", false, "error", true, "message", f.example, "status", status),
			}},
		}
		if status == http.StatusUnauthorized {
			r["headers"] = map[string]any{"WWW-Authenticate": map[string]any{
				"description": "Always `Bearer`: the scheme the key is sent with.",
				"required":    true,
				"schema":      map[string]any{"type": "string", "enum": []any{"Bearer"}},
			}}
		}
		if status == http.StatusTooManyRequests {
			r["headers"] = rateLimitHeaders(true)
		}
		s.responses[f.name] = r
	}
	return f.name
}

// rateLimitHeaders documents the headers of an answer to a key with a rate
// limit (every answer to such a key carries them); refused adds the
// Retry-After of a 429.
func rateLimitHeaders(refused bool) map[string]any {
	integer := map[string]any{"type": "integer", "minimum": 0}
	h := map[string]any{
		"RateLimit-Limit":     map[string]any{"description": "Keys with a rate limit: the requests it allows at once", "schema": integer},
		"RateLimit-Remaining": map[string]any{"description": "Keys with a rate limit: the requests left now", "schema": integer},
		"RateLimit-Reset":     map[string]any{"description": "Keys with a rate limit: seconds until the limit is whole again", "schema": integer},
	}
	if refused {
		h["Retry-After"] = map[string]any{"description": "The key's rate limit: seconds until one more request is allowed", "schema": integer}
	}
	return h
}

type failureDoc struct{ name, description, example string }

var failureDocs = map[int]failureDoc{
	http.StatusBadRequest: {"BadRequest",
		"Invalid input: the message names the field or parameter and the expected form",
		`Validation error: Required at "name"`},
	http.StatusUnauthorized: {"Unauthorized",
		"No API key, or not a valid one (unknown, wrong secret, malformed, expired)",
		"API key required: send Authorization: Bearer <apiKeyId>.<secret>"},
	http.StatusForbidden: {"Forbidden",
		"The key lacks the action, root access, or access to the organization, or its allow list does not hold the client's address; the message says which",
		"Key does not have permission to perform this action: listOrgs"},
	http.StatusNotFound: {"NotFound",
		"What the path names does not exist, or is out of the key's reach (the same answer)",
		"Organization with ID acme not found"},
	http.StatusConflict: {"Conflict",
		"Conflicts with what is stored: a duplicate id or name, or an object in use; or the first request with the same Idempotency-Key is still running",
		"Organization with ID acme already exists"},
	http.StatusRequestEntityTooLarge: {"PayloadTooLarge",
		"The body is over the server's limit (server.max_body_bytes)",
		"Request body too large: the limit is 1048576 bytes"},
	http.StatusUnsupportedMediaType: {"UnsupportedMediaType",
		"The body is not sent as JSON (Content-Type: application/json)",
		"Missing Content-Type: send the body as application/json"},
	http.StatusTooManyRequests: {"TooManyRequests",
		"The key's rate limit is spent, or too many wrong secrets for this key id or from this client, or key verification is busy: retry later",
		"Too many authentication attempts, retry later"},
	http.StatusRequestHeaderFieldsTooLarge: {"HeaderFieldsTooLarge",
		"The request's headers are over the server's limit",
		"Request Header Fields Too Large"},
	http.StatusInternalServerError: {"InternalError",
		"The server failed; details are logged, never sent",
		"An error occurred"},
	http.StatusUnprocessableEntity: {"IdempotencyKeyReused",
		"The Idempotency-Key was already used by this key for a different request (method, path or body). " +
			"A write sent with an `Idempotency-Key` header (1-255 printable ASCII characters) runs once per key within 24 hours: " +
			"a retry with the same method, path and body gets the first answer again, with `Idempotent-Replayed: true`; " +
			"a retry while the first still runs gets 409. (The header is described here rather than as a parameter of " +
			"every write, so that generated clients keep their signatures.)",
		"Idempotency-Key was already used for a different request"},
	http.StatusServiceUnavailable: {"Unavailable",
		"The core or key verification cannot be reached: retry later",
		"Service temporarily unavailable, retry later"},
}

// success is a success answer: the envelope around data.
func (s *spec) success(message string, status int, data map[string]any) map[string]any {
	description := message
	if description == "" {
		description = http.StatusText(status)
	}
	return map[string]any{
		"description": description,
		"content":     map[string]any{"application/json": map[string]any{"schema": envelope(data, message, status)}},
	}
}

// data is the schema of a success answer's data.
// Each shape operation.write can give data needs its schema here: a shape
// without one stops the spec (and so the gateway) with an error saying so,
// rather than documenting an answer the server does not write.
func (s *spec) data(o *operation, shape dataShape) map[string]any {
	switch shape {
	case dataNull:
		return alwaysNull()
	case dataEmpty:
		return s.empty()
	case dataMessage:
		if o.dataField != nil {
			// data_field: the one field's value is the data (a bare array).
			return s.field(o.dataField.fd, func(md protoreflect.MessageDescriptor) map[string]any { return s.answerRef(md, nil) })
		}
		return s.answerRef(o.resp.Descriptor(), o.total)
	}
	s.errs = append(s.errs, fmt.Errorf("%s: the spec has no schema for data shape %d (openapi.go: spec.data)", o.FullMethod, shape))
	return map[string]any{}
}

func join2(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n\n" + b
}

func envelope(data any, message string, status int) map[string]any {
	return map[string]any{
		"type":                 "object",
		"required":             envelopeFields,
		"additionalProperties": false,
		"properties": ordered(
			"data", data,
			"success", map[string]any{"type": "boolean", "enum": []any{true}},
			"error", map[string]any{"type": "boolean", "enum": []any{false}},
			"message", map[string]any{"type": "string", "example": message},
			"status", map[string]any{"type": "integer", "enum": []any{status}},
		),
	}
}

func (s *spec) parameters(o *operation, path string) []any {
	var params []any
	for _, name := range contract.PathParams(path) {
		i := slices.IndexFunc(o.path, func(p pathField) bool { return p.name == name })
		pf := o.path[i]
		schema := map[string]any{}
		s.scalar(schema, pf.fd)
		p := map[string]any{"name": name, "in": "path", "required": true}
		if d, ok := schema["description"]; ok {
			p["description"] = d
			delete(schema, "description")
		}
		delete(schema, "example")
		if pf.bits == 0 {
			schema["minLength"] = 1
		} else {
			schema["minimum"] = 1
			if pf.bits < 64 {
				schema["maximum"] = uint64(1)<<pf.bits - 1
			}
		}
		p["schema"] = schema
		// An example a first Execute can use: the example of a request
		// field of the same name (an org id one can create), 1 for ids.
		if ex, ok := s.fieldExamples[name]; ok {
			p["example"] = ex
		} else if pf.bits != 0 {
			p["example"] = 1
		}
		params = append(params, p)
	}
	for _, q := range o.query {
		schema := map[string]any{}
		s.scalar(schema, q.fd)
		p := map[string]any{"name": q.name, "in": "query", "required": q.required}
		if d, ok := schema["description"]; ok {
			p["description"] = d
			delete(schema, "description")
		}
		delete(schema, "example")
		p["schema"] = schema
		// Only required parameters get an example: the UI sends every
		// parameter with a value.
		if ex, ok := s.fieldExamples[q.name]; ok && q.required {
			p["example"] = ex
		}
		params = append(params, p)
	}
	if o.page != nil {
		ranges := map[string][2]int64{
			"limit": {1, MaxPageSize}, "offset": {0, math.MaxInt32}, "page": {1, math.MaxInt32}, "pageSize": {1, MaxPageSize},
		}
		for _, pp := range pagingParams {
			params = append(params, map[string]any{
				"name": pp.name, "in": "query", "required": false, "description": pp.description,
				"schema": map[string]any{
					"type": "integer", "format": "int32", "minimum": ranges[pp.name][0], "maximum": ranges[pp.name][1],
				},
			})
		}
	}
	return params
}

// requestBody documents a route's JSON body, with an example made of its
// required fields and the fields whose contract gives an example: what a
// first Execute in the Swagger UI sends.
func (s *spec) requestBody(o *operation) map[string]any {
	required := slices.ContainsFunc(o.body.fields, func(f *bodyField) bool { return f.required })
	return map[string]any{
		"required": required,
		"content": map[string]any{"application/json": map[string]any{
			"schema":  s.bodyRef(o.req.Descriptor(), o.Route.GetLenientBody()),
			"example": bodyExample(o.body),
		}},
	}
}

func bodyExample(d *decoder) *members {
	ex := &members{}
	for _, f := range d.fields {
		if v, ok := example(f.fd); ok {
			ex.set(f.name, v)
		} else if f.required {
			ex.set(f.name, derivedExample(f))
		}
	}
	if len(ex.keys) == 0 && len(d.fields) > 0 {
		// An update of the fields given refuses an empty body: send one.
		f := d.fields[0]
		ex.set(f.name, derivedExample(f))
	}
	return ex
}

// derivedExample is a safe value for a required field whose contract gives
// no example.
func derivedExample(f *bodyField) any {
	fd := f.fd
	if fd.IsList() {
		return []any{}
	}
	if f.message != nil {
		return bodyExample(f.message)
	}
	if e := contract.FieldOf(fd).GetEnumValues(); len(e) > 0 {
		return e[0]
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "example"
	case protoreflect.BoolKind:
		return false
	case protoreflect.EnumKind:
		return string(fd.Enum().Values().Get(0).Name())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return 0
	}
	return 1
}

// example is the contract's example of a field, decoded.
func example(fd protoreflect.FieldDescriptor) (any, bool) {
	raw := contract.FieldOf(fd).GetExample()
	if raw == "" {
		return nil, false
	}
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return nil, false
	}
	return v, true
}

// operationName derives a name from a method and path: GET
// /org/{orgId}/sites → GetOrgOrgIdSites.
func operationName(method, path string) string {
	var b strings.Builder
	b.WriteString(method[:1] + strings.ToLower(method[1:]))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return strings.ContainsRune("/{}-", r) }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
