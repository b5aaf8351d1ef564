package gateway

import (
	"net/http"
	"time"
)

// drainAware answers the health route with 503 while the gateway drains,
// before its listener closes, so a load balancer's health check (Traefik,
// a Kubernetes readiness probe) stops routing to it first.
func (g *Gateway) drainAware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() && (r.URL.Path == "/v1/" || r.URL.Path == "/v1") &&
			(r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"message":"Shutting down"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// drain is the first step of a graceful stop: for server.shutdown_delay
// keep serving every request, fail the health route and stop keeping
// connections alive (so proxies open new ones, which find the replica gone
// once it is). It returns the server's error if it failed meanwhile.
func (g *Gateway) drain(srv *http.Server, errc <-chan error) error {
	delay := g.cfg.Server.ShutdownDelay
	if delay <= 0 {
		return nil
	}
	g.draining.Store(true)
	srv.SetKeepAlivesEnabled(false)
	g.log.Info("gateway: draining: the health route answers 503, requests are still served", "delay", delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case err := <-errc:
		// Serve never returns before Shutdown unless it failed.
		return err
	}
}
