package api

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/gin-gonic/gin"
	"google.golang.org/grpc/metadata"

	"pangolin-gateway/gateway/auth"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Scope is the guard a route applies before its action check.
type Scope int

const (
	// Public routes need no key (health only).
	Public Scope = iota
	// RootOnly routes need a root key (Pangolin's ROOT guard).
	RootOnly
	// OrgInPath routes need a root key or a key linked to :orgId (ORG).
	OrgInPath
	// ObjectInCore routes name an object by id (a site, …); the core loads
	// it and allows the call only when the key may access its org (SITE).
	ObjectInCore
)

func (s Scope) String() string {
	return [...]string{"public", "root key", "org in path", "object's org (checked in the core)"}[s]
}

// Route is one endpoint, declared once: the router, the OpenAPI spec and the
// route tests all read this declaration.
type Route struct {
	Method  string
	Path    string // gin syntax, relative to /v1
	Scope   Scope
	Action  string // the action id the key must hold; empty only for Public
	Tag     string
	Summary string
	// Status and Message of the success answer.
	Status  int
	Message string
	// Body is the request body type (a zero struct), nil when none.
	Body any
	// LenientBody accepts unknown body fields (Pangolin does for a few routes).
	LenientBody bool
	// Query lists the query parameters the route accepts besides paging.
	Query []QueryParam
	// Paged routes take limit/offset or page/pageSize.
	Paged bool
	// Response is the type of the envelope's data, nil for null.
	Response any
	// Bare answers without the envelope (health).
	Bare   bool
	Handle func(*Handlers, *Request) (any, error)
}

// Handlers holds what route handlers call: the core's services.
type Handlers struct {
	Orgs  corev1.OrgServiceClient
	Sites corev1.SiteServiceClient
	Keys  corev1.ApiKeyServiceClient
}

// Authenticator resolves the Authorization header to a key.
type Authenticator interface {
	Authenticate(ctx context.Context, header string) (*auth.Principal, error)
}

// Options tune the API.
type Options struct {
	MaxBodyBytes int64
	CoreTimeout  time.Duration
}

// Mount registers every route of Routes on g (the /v1 group).
func Mount(g *gin.RouterGroup, h *Handlers, authn Authenticator, opts Options) {
	for i := range Routes {
		r := &Routes[i]
		g.Handle(r.Method, r.Path, r.serve(h, authn, opts))
	}
}

// NotFound answers unknown routes with the envelope, key or no key.
func NotFound(c *gin.Context) {
	writeError(c, errorf(http.StatusNotFound, "Route not found: "+c.Request.Method+" "+c.Request.URL.Path))
}

func (r *Route) serve(h *Handlers, authn Authenticator, opts Options) gin.HandlerFunc {
	allowedQuery := r.QueryParams() // once per route, not per request
	return func(c *gin.Context) {
		req := &Request{gin: c, route: r, maxBody: opts.MaxBodyBytes}
		ctx := c.Request.Context()
		if r.Scope != Public {
			key, err := authn.Authenticate(ctx, c.GetHeader("Authorization"))
			if err != nil {
				writeError(c, authError(err))
				return
			}
			if err := r.authorize(key, c.Param("orgId")); err != nil {
				writeError(c, err)
				return
			}
			req.Key = key
			ctx = metadata.AppendToOutgoingContext(ctx, corev1.MetadataKeyID, key.KeyID)
		}
		if err := req.checkQuery(allowedQuery); err != nil {
			writeError(c, err)
			return
		}
		if r.Body != nil {
			req.Body = reflect.New(reflect.TypeOf(r.Body)).Interface()
			if err := req.bind(req.Body); err != nil {
				writeError(c, err)
				return
			}
		}
		var cancel context.CancelFunc
		req.ctx, cancel = context.WithTimeout(ctx, opts.CoreTimeout)
		defer cancel()
		data, err := r.Handle(h, req)
		if err != nil {
			writeError(c, err)
			return
		}
		if r.Bare {
			c.JSON(r.Status, data)
			return
		}
		status, message := r.Status, r.Message
		if reply, ok := data.(Reply); ok {
			status, message, data = reply.Status, reply.Message, reply.Data
		}
		writeSuccess(c, status, message, data)
	}
}

// authorize applies the route's scope guard, then its action: the same
// order as Pangolin, so a key without org access learns nothing about the
// action. Forbidden answers say what was missing, never the key's scope.
func (r *Route) authorize(key *auth.Principal, orgID string) error {
	switch r.Scope {
	case RootOnly:
		if !key.IsRoot {
			return errorf(http.StatusForbidden, "Key does not have root access")
		}
	case OrgInPath:
		if !key.IsRoot && !key.HasOrg(orgID) {
			return errorf(http.StatusForbidden, "Key does not have access to organization "+orgID)
		}
	}
	if !key.HasAction(r.Action) {
		return errorf(http.StatusForbidden, "Key does not have permission to perform this action: "+r.Action)
	}
	return nil
}

func authError(err error) error {
	switch {
	case errors.Is(err, auth.ErrMissingKey):
		return errorf(http.StatusUnauthorized, "API key required")
	case errors.Is(err, auth.ErrInvalidKey):
		return errorf(http.StatusUnauthorized, "Invalid API key")
	case errors.Is(err, auth.ErrBusy):
		return errorf(http.StatusTooManyRequests, "Too many authentication attempts, retry later")
	default:
		return errorf(http.StatusServiceUnavailable, "Authentication service unavailable, retry later")
	}
}
