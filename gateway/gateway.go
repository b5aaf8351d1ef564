// Package gateway assembles the Integration API service: the HTTP server,
// the key cache and the gRPC link to the core. It holds no state that
// matters: any replica can serve any request.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"pangolin-gateway/config"
	"pangolin-gateway/gateway/api"
	"pangolin-gateway/gateway/auth"
	"pangolin-gateway/gateway/docs"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Gateway is one replica of the API service.
type Gateway struct {
	cfg   config.Config
	log   *slog.Logger
	conn  *grpc.ClientConn
	redis redis.UniversalClient
	authn *auth.Authenticator
	keys  corev1.ApiKeyServiceClient
	// draining is set on shutdown, while server.shutdown_delay runs.
	draining atomic.Bool
	// stopAudit stops the sender of refusal records after a last flush.
	stopAudit func()
	// Handler serves the whole HTTP surface.
	Handler http.Handler
}

// New connects to the core (lazily: gRPC dials on first use) and Redis,
// and builds the HTTP handler.
func New(cfg config.Config, log *slog.Logger) (*Gateway, error) {
	conn, err := DialCore(cfg.Core)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, conn: conn, keys: corev1.NewApiKeyServiceClient(conn)}
	secret := []byte(cfg.Server.Secret)
	if cfg.Redis.Enabled() {
		g.redis, err = newRedis(cfg.Redis)
		if err != nil {
			conn.Close()
			return nil, err
		}
	} else if len(secret) == 0 {
		// No shared cache: the digest key only has to be stable in this process.
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	g.authn = auth.New(auth.Options{
		Verifier:      auth.CoreVerifier{Client: g.keys},
		Redis:         g.redis,
		RedisTimeout:  cfg.Redis.Timeout,
		Secret:        secret,
		TTL:           cfg.Cache.TTL,
		Size:          cfg.Cache.Size,
		VerifyTimeout: cfg.Core.Timeout,
		Logger:        log,
	})
	rates := auth.NewKeyRates(auth.RateOptions{Redis: g.redis, Timeout: cfg.Redis.Timeout, Logger: log})
	// The answers of idempotent requests are sealed under a key every
	// replica derives alike: from server.secret, else the link token.
	idemSecret := cfg.Server.Secret
	if idemSecret == "" {
		idemSecret = cfg.Core.Token
	}
	idem, err := newIdempotency([]byte(idemSecret), g.authn, corev1.NewIdempotencyServiceClient(conn),
		cfg.Server.MaxBodyBytes, cfg.Core.Timeout, log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	refused := newRefusals(cfg.Audit.BufferSize, corev1.NewAuditServiceClient(conn), cfg.Core.Timeout, log)
	auditCtx, stopAudit := context.WithCancel(context.Background())
	audited := make(chan struct{})
	go func() { refused.queue.Run(auditCtx); close(audited) }()
	g.stopAudit = func() { stopAudit(); <-audited }
	// The routes spend the key's rate limit; the idempotency check, which
	// only finds out whose key it is, does not spend it a second time.
	h, err := newHandler(cfg, log, conn, rateLimited{g.authn, rates}, refused, idem)
	if err != nil {
		g.Close()
		return nil, err
	}
	g.Handler = g.drainAware(h)
	log.Info("gateway: key cache", redisSummary(cfg.Redis)...)
	return g, nil
}

// Authenticator exposes the key cache (tests and benchmarks read its stats).
func (g *Gateway) Authenticator() *auth.Authenticator { return g.authn }

// KeyClient is the core's key service, whose change stream Serve watches.
func (g *Gateway) KeyClient() corev1.ApiKeyServiceClient { return g.keys }

// Run serves on the configured port until ctx ends, then drains (see
// Serve) and returns.
func (g *Gateway) Run(ctx context.Context) error {
	addr := net.JoinHostPort(g.cfg.Server.Host, strconv.Itoa(g.cfg.Server.IntegrationPort))
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server.integration_port: %w", err)
	}
	return g.Serve(ctx, lis)
}

// Serve is Run on a given listener. When ctx ends it drains in two steps:
// for server.shutdown_delay it keeps serving but its health route answers
// 503 and connections are not kept alive, so load balancers take it out
// of rotation while nothing fails; then it stops accepting and finishes
// the requests in flight (up to server.shutdown_timeout).
func (g *Gateway) Serve(ctx context.Context, lis net.Listener) error {
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	go g.authn.Watch(watchCtx, g.keys)

	srv := &http.Server{
		Handler:           g.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      g.cfg.Core.Timeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(envelopeListener{lis}) }()
	g.log.Info("gateway: serving the Integration API", "addr", lis.Addr().String(), "docs", "/v1/docs/")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := g.drain(errc); err != nil {
		return err
	}
	g.log.Info("gateway: shutting down, finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("gateway: drain: %w", err)
	}
	return nil
}

// Close sends the last refusal records, then releases the core
// connection and Redis.
func (g *Gateway) Close() error {
	if g.stopAudit != nil {
		g.stopAudit()
	}
	var errs []error
	if g.redis != nil {
		errs = append(errs, g.redis.Close())
	}
	errs = append(errs, g.conn.Close())
	return errors.Join(errs...)
}

func newHandler(cfg config.Config, log *slog.Logger, conn grpc.ClientConnInterface, authn api.Authenticator,
	refused *refusals, idem *idempotency) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	// We trim trailing slashes ourselves (below) so clients get an answer,
	// not a redirect.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = false
	e.ForwardedByClientIP = true
	e.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	// Only the configured proxies may tell us the client's address.
	if err := e.SetTrustedProxies(cfg.Server.TrustProxy); err != nil {
		return nil, fmt.Errorf("server.trust_proxy: %w", err)
	}
	// requestID first: every answer and log line below carries the id.
	e.Use(observeRequests, requestID, recoverEnvelope(log), accessLog(log), headers, clientAddress,
		refused.middleware, idem.middleware)
	e.NoRoute(api.NotFound)

	v1 := e.Group("/v1")
	// The routes come from the contract's descriptors; a contract the
	// gateway cannot serve stops it here, at start.
	// answeredConn tells the refusal log which refusals the core decided.
	if err := api.Mount(v1, answeredConn{conn}, authn, api.Options{MaxBodyBytes: cfg.Server.MaxBodyBytes, CoreTimeout: cfg.Core.Timeout}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	// The spec and the Swagger UI, built from the same contract.
	if err := docs.Mount(v1); err != nil {
		return nil, fmt.Errorf("gateway: docs: %w", err)
	}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v1":
			r.URL.Path = "/v1/"
		case p == "/v1/docs/":
			// The Swagger UI lives at /v1/docs/; gin-swagger names it
			// index.html and routes on RequestURI.
			r.URL.Path = "/v1/docs/index.html"
			r.RequestURI = r.URL.RequestURI()
		case len(p) > len("/v1/") && strings.HasSuffix(p, "/") && !strings.HasPrefix(p, "/v1/docs"):
			r.URL.Path = strings.TrimRight(p, "/")
		}
		e.ServeHTTP(w, r)
	}), nil
}

// recoverEnvelope turns a panic into the 500 envelope, without its details.
func recoverEnvelope(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(c.Request.Context(), "gateway: handler panicked", "method", c.Request.Method, "path", api.Route(c), "panic", fmt.Sprint(v))
				api.Abort(c, http.StatusInternalServerError, "An error occurred")
			}
		}()
		c.Next()
	}
}

// accessLog logs each request without its headers: no key reaches the log.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		// Checked first: the arguments (the client address above all) cost
		// on every request even when the line is dropped.
		if log.Enabled(c.Request.Context(), slog.LevelDebug) {
			log.DebugContext(c.Request.Context(), "request", "method", c.Request.Method, "route", api.Route(c), "status", c.Writer.Status(),
				"client", c.ClientIP(), "duration", time.Since(start))
		}
	}
}

// headers sets Pangolin's open CORS and a few protective headers, and
// answers CORS preflights.
func headers(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Idempotent-Replayed")
	if c.Request.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,POST,DELETE,PATCH")
		h.Set("Access-Control-Allow-Headers", "Authorization,Content-Type,Idempotency-Key,X-Request-Id")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}
