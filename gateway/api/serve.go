package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Options tune the API.
type Options struct {
	MaxBodyBytes int64
	CoreTimeout  time.Duration
}

// Mount registers every route the contract declares on g (the /v1 group),
// each path and alias, all calling the core on conn. It fails when the
// contract declares something the gateway cannot serve: the gateway then
// refuses to start.
func Mount(g *gin.RouterGroup, conn grpc.ClientConnInterface, authn Authenticator, opts Options) (err error) {
	ops, err := operations()
	if err != nil {
		return err
	}
	defer func() {
		// gin panics on routes that conflict (/a/:x beside /a/:y).
		if v := recover(); v != nil {
			err = fmt.Errorf("routes: %v", v)
		}
	}()
	for _, o := range ops {
		for _, p := range o.Paths() {
			path, params := ginPath(p.GetPath())
			template := g.BasePath() + strings.NewReplacer("{", ":", "}", "").Replace(p.GetPath())
			m := &matched{template: template, params: params, action: o.action}
			g.Handle(p.GetMethod(), path, func(c *gin.Context) { c.Set(routeKey, m) }, o.handler(conn, authn, opts, params))
		}
	}
	return nil
}

// routeKey is the gin context key of the matched route.
const routeKey = "pangolin.route"

// matched is a contract route as a request matched it: its template and
// the gin parameter of each contract parameter (see ginPath).
type matched struct {
	template string
	params   map[string]string
	// action is the route's action id ("" for a route that needs none).
	action string
}

// Route returns the template of the route a request matched, in the
// contract's names (/v1/org/:orgId, not gin's positional /v1/org/:p2), for
// logs and metrics: gin's FullPath for routes served outside the contract,
// "" when none matched.
func Route(c *gin.Context) string {
	if m, ok := c.Get(routeKey); ok {
		return m.(*matched).template
	}
	return c.FullPath()
}

// RouteAction returns the action id of the contract route a request
// matched; "" when it needs none or no contract route matched.
func RouteAction(c *gin.Context) string {
	if m, ok := c.Get(routeKey); ok {
		return m.(*matched).action
	}
	return ""
}

// PathParams returns the path parameters of the contract route a request
// matched, in path order and by the contract's names (orgId, not gin's
// positional p2); nil when no contract route matched.
func PathParams(c *gin.Context) gin.Params {
	m, ok := c.Get(routeKey)
	if !ok {
		return nil
	}
	var out gin.Params
	for _, p := range c.Params {
		for name, ginName := range m.(*matched).params {
			if ginName == p.Key {
				out = append(out, gin.Param{Key: name, Value: p.Value})
			}
		}
	}
	return out
}

// handler serves one path of an operation: authenticate, guard, bind, call,
// answer. params names the gin parameter of each contract parameter of
// the path (see ginPath).
func (o *operation) handler(conn grpc.ClientConnInterface, authn Authenticator, opts Options, params map[string]string) gin.HandlerFunc {
	if o.hook.serve != nil {
		return func(c *gin.Context) { o.hook.serve(o, c) }
	}
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		if o.scope != apiv1.Scope_SCOPE_PUBLIC {
			key, err := authn.Authenticate(ctx, c.GetHeader("Authorization"))
			if err != nil {
				writeError(c, authError(err))
				return
			}
			if err := o.authorize(key, c.Param(params[o.orgParam])); err != nil {
				writeError(c, err)
				return
			}
			ctx = metadata.AppendToOutgoingContext(ctx, corev1.MetadataKeyID, key.KeyID)
		}
		req := o.req.New()
		page, err := o.bind(c, params, req, opts.MaxBodyBytes)
		if err != nil {
			writeError(c, err)
			return
		}
		ctx, cancel := context.WithTimeout(ctx, opts.CoreTimeout)
		defer cancel()
		resp := o.resp.New()
		if err := conn.Invoke(ctx, o.FullMethod, req.Interface(), resp.Interface()); err != nil {
			writeError(c, err)
			return
		}
		a := answer{status: o.status, tail: o.tail, data: o.data}
		if o.hook.answer != nil {
			a = o.hook.answer(o, resp)
		}
		o.write(c, a, resp, page)
	}
}

// bind fills the request message from the path, the query and the body,
// in that order; the first failure is the answer.
func (o *operation) bind(c *gin.Context, params map[string]string, m protoreflect.Message, maxBody int64) (paging, error) {
	for _, p := range o.path {
		v, err := p.value(c.Param(params[p.name]))
		if err != nil {
			return paging{}, err
		}
		m.Set(p.fd, v)
	}
	page, err := o.bindQuery(c.Request.URL.RawQuery, m)
	if err != nil || o.body == nil {
		// A route without body fields ignores a body, as it always did.
		return page, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return paging{}, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large: the limit is %d bytes", maxBody))
		}
		return paging{}, badRequest("Could not read the request body")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := checkContentType(c.GetHeader("Content-Type")); err != nil {
			return paging{}, err
		}
	}
	return page, o.body.decodeBody(body, m)
}

// checkContentType accepts JSON only (application/json, application/*+json,
// with parameters): a form or text body is not read as JSON by accident.
func checkContentType(ct string) error {
	if ct == "" {
		return errorf(http.StatusUnsupportedMediaType, "Missing Content-Type: send the body as application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return errorf(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported Content-Type %q: send the body as application/json", ct))
}

// write answers in the envelope, in one pass into a pooled buffer.
func (o *operation) write(c *gin.Context, a answer, resp protoreflect.Message, page paging) {
	buf := getBuffer()
	b := append(*buf, `{"data":`...)
	switch {
	case a.data == dataNull:
		b = append(b, "null"...)
	case a.data == dataEmpty:
		b = append(b, "{}"...)
	case o.dataField != nil:
		b = o.dataField.appendData(b, resp)
	case o.total != nil:
		// A list: its items, then pagination in place of total.
		b = append(b, '{')
		var first bool
		b, first = o.encoder.appendFields(b, resp, true, o.total)
		if !first {
			b = append(b, ',')
		}
		b = page.append(b, int32(resp.Get(o.total).Int()))
		b = append(b, '}')
	default:
		b = o.encoder.append(b, resp, nil)
	}
	b = append(b, a.tail...)
	writeJSON(c, a.status, b)
	*buf = b
	putBuffer(buf)
}
