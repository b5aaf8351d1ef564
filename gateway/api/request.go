package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"pangolin-gateway/gateway/auth"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Request is what a handler works with: checked input and a context that
// carries the key to the core.
type Request struct {
	gin     *gin.Context
	route   *Route
	maxBody int64
	ctx     context.Context
	// Key is the authenticated key; nil on public routes.
	Key *auth.Principal
	// Body is a pointer to the decoded body, of the route's Body type.
	Body any
}

// Context is the context for calls to the core.
func (r *Request) Context() context.Context { return r.ctx }

// Param returns a path parameter.
func (r *Request) Param(name string) string { return r.gin.Param(name) }

// ID parses a numeric path parameter (siteId, …) before it reaches the core.
func (r *Request) ID(name string) (int64, error) {
	v := r.gin.Param(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest(fmt.Sprintf("Invalid %s: %q is not a positive integer", name, v))
	}
	return id, nil
}

// Query returns a query parameter.
func (r *Request) Query(name string) string { return r.gin.Query(name) }

// QueryParam documents and allows a query parameter of a route.
type QueryParam struct {
	Name        string
	Type        string // OpenAPI type: string, integer
	Required    bool
	Description string
}

var pagingParams = []QueryParam{
	{Name: "limit", Type: "integer", Description: fmt.Sprintf("Items per page, offset style (default and maximum %d).", MaxPageSize)},
	{Name: "offset", Type: "integer", Description: "Items to skip, offset style (default 0)."},
	{Name: "page", Type: "integer", Description: "Page number from 1, page style."},
	{Name: "pageSize", Type: "integer", Description: fmt.Sprintf("Items per page, page style (maximum %d).", MaxPageSize)},
}

// QueryParams lists the query parameters the route accepts.
func (rt *Route) QueryParams() []QueryParam {
	params := rt.Query
	if rt.Paged {
		params = append(slices.Clone(params), pagingParams...)
	}
	return params
}

// checkQuery refuses query parameters the route does not know (allowed is
// the route's QueryParams): an ignored filter would return a list that
// looks filtered but is not.
func (r *Request) checkQuery(allowed []QueryParam) error {
	var unknown []string
	for name := range r.gin.Request.URL.Query() {
		if !slices.ContainsFunc(allowed, func(p QueryParam) bool { return p.Name == name }) {
			unknown = append(unknown, "'"+name+"'")
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return badRequest("Validation error: Unrecognized query parameter(s): " + strings.Join(unknown, ", "))
	}
	for _, p := range allowed {
		if p.Required && r.gin.Query(p.Name) == "" {
			return badRequest(fmt.Sprintf("Validation error: Required at %q", p.Name))
		}
	}
	return nil
}

// MaxPageSize caps list pages: a larger request gets a 400 naming the cap,
// never a short page that looks complete.
const MaxPageSize = 1000

// Pagination is the paging part of list answers; it carries the fields of
// the style the request used.
type Pagination struct {
	Total    int  `json:"total"`
	Limit    *int `json:"limit,omitempty"`
	Offset   *int `json:"offset,omitempty"`
	Page     *int `json:"page,omitempty"`
	PageSize *int `json:"pageSize,omitempty"`
}

// Page reads limit/offset or page/pageSize. Without either, the page is
// the whole list up to MaxPageSize, offset style.
func (r *Request) Page() (*corev1.Page, func(total int) Pagination, error) {
	num := func(name string, min int) (int, bool, error) {
		v, ok := r.gin.GetQuery(name)
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			return 0, false, badRequest(fmt.Sprintf("Validation error: %s must be an integer of at least %d", name, min))
		}
		if (name == "limit" || name == "pageSize") && n > MaxPageSize {
			return 0, false, badRequest(fmt.Sprintf("Validation error: %s must be at most %d", name, MaxPageSize))
		}
		return n, true, nil
	}
	limit, hasLimit, err := num("limit", 1)
	if err != nil {
		return nil, nil, err
	}
	offset, hasOffset, err := num("offset", 0)
	if err != nil {
		return nil, nil, err
	}
	page, hasPage, err := num("page", 1)
	if err != nil {
		return nil, nil, err
	}
	size, hasSize, err := num("pageSize", 1)
	if err != nil {
		return nil, nil, err
	}
	if (hasLimit || hasOffset) && (hasPage || hasSize) {
		return nil, nil, badRequest("Validation error: use either limit/offset or page/pageSize, not both")
	}
	if hasPage || hasSize {
		if !hasPage {
			page = 1
		}
		if !hasSize {
			size = 20
		}
		p := &corev1.Page{Limit: int32(size), Offset: int32((page - 1) * size)}
		return p, func(total int) Pagination { return Pagination{Total: total, Page: &page, PageSize: &size} }, nil
	}
	if !hasLimit {
		limit = MaxPageSize
	}
	p := &corev1.Page{Limit: int32(limit), Offset: int32(offset)}
	return p, func(total int) Pagination { return Pagination{Total: total, Limit: &limit, Offset: &offset} }, nil
}

// bind decodes the JSON body into dst (a pointer to the route's Body type):
// size-limited, unknown fields refused unless the route is lenient, types
// and required fields checked, each failure a 400 naming the field.
func (r *Request) bind(dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(r.gin.Writer, r.gin.Request.Body, r.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large: the limit is %d bytes", r.maxBody))
		}
		return badRequest("Could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if !r.route.LenientBody {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("Malformed JSON body: unexpected data after the JSON object")
	}
	return checkRequired(reflect.ValueOf(dst).Elem())
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return badRequest(fmt.Sprintf("Malformed JSON body: %s (at byte %d)", syntax.Error(), syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("Malformed JSON body: unexpected end of JSON input")
	case errors.As(err, &typ):
		received, _, _ := strings.Cut(typ.Value, " ")
		if typ.Field == "" {
			return badRequest(fmt.Sprintf("Validation error: Expected object, received %s", received))
		}
		return badRequest(fmt.Sprintf("Validation error: Expected %s, received %s at %q", jsonType(typ.Type), received, typ.Field))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(fmt.Sprintf("Validation error: Unrecognized key(s) in object: '%s'", field))
	default:
		return badRequest("Malformed JSON body")
	}
}

// jsonType names a Go type the way a JSON client thinks of it.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return jsonType(t.Elem())
	default:
		return "object"
	}
}

// checkRequired refuses nil fields tagged `binding:"required"` (absent or null).
func checkRequired(v reflect.Value) error {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Tag.Get("binding") != "required" {
			continue
		}
		if fv := v.Field(i); (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Slice) && fv.IsNil() {
			return badRequest(fmt.Sprintf("Validation error: Required at %q", jsonName(f)))
		}
	}
	return nil
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}
