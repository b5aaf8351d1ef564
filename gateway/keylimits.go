package gateway

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"pangolin-gateway/gateway/auth"
)

// A key's own limits on the request path. The allow list is checked by the
// authenticator (and again by the core, which gets the client's address
// with every call, from requestID); the rate limit here, once the key is known, with its
// RateLimit-* headers on every answer to a key that has one.

// rateLimited is the authenticator the routes use: the key's, then its
// rate limit.
type rateLimited struct {
	authn *auth.Authenticator
	rates *auth.KeyRates
}

func (r rateLimited) Authenticate(ctx context.Context, header string) (*auth.Principal, error) {
	p, err := r.authn.Authenticate(ctx, header)
	if err != nil || p.RateLimit.Requests == 0 {
		return p, err
	}
	q := r.rates.Take(ctx, p)
	if h, ok := ctx.Value(responseHeaderKey{}).(http.Header); ok {
		writeQuota(h, q)
	}
	if !q.Allowed {
		return nil, auth.ErrRateLimited
	}
	return p, nil
}

// writeQuota sets the RateLimit headers (IETF draft, delta seconds), and
// Retry-After on a refusal.
func writeQuota(h http.Header, q auth.Quota) {
	h.Set("RateLimit-Limit", strconv.Itoa(q.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(q.Remaining))
	h.Set("RateLimit-Reset", ceilSeconds(q.Reset))
	if !q.Allowed {
		h.Set("Retry-After", ceilSeconds(max(q.RetryAfter, time.Second)))
	}
}

func ceilSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}

type responseHeaderKey struct{}

// clientAddress tells the authenticator who is asking (the address
// server.trust_proxy makes of the request), for the key's allow list and
// the per-client limit on wrong secrets, and where the answer's headers go,
// for the key's rate limit. Only requests that carry a key pay for it.
func clientAddress(c *gin.Context) {
	if c.Request.Header.Get("Authorization") != "" {
		ctx := auth.WithClient(c.Request.Context(), c.ClientIP())
		ctx = context.WithValue(ctx, responseHeaderKey{}, c.Writer.Header())
		c.Request = c.Request.WithContext(ctx)
	}
	c.Next()
}
