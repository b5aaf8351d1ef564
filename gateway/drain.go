package gateway

import (
	"net/http"
	"time"
)

// drainAware answers the health route with 503 while the gateway drains,
// before its listener closes, so a load balancer's health check (Traefik,
// a Kubernetes readiness probe) stops routing to it first. Every answer
// while draining says "Connection: close", so each connection ends right
// after a response, which the proxy reads before reusing it: an idle
// connection closed under the proxy (as Server.SetKeepAlivesEnabled(false)
// does at once) can race a request sent on it and turn into a 502.
func (g *Gateway) drainAware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.draining.Load() {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		if (r.URL.Path == "/v1/" || r.URL.Path == "/v1") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"message":"Shutting down"}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// drain is the first step of a graceful stop: for server.shutdown_delay
// keep serving every request, fail the health route and end each
// connection after its response (see drainAware), so proxies open new ones
// and find the replica gone once it is. It returns the server's error if
// it failed meanwhile.
func (g *Gateway) drain(errc <-chan error) error {
	delay := g.cfg.Server.ShutdownDelay
	if delay <= 0 {
		return nil
	}
	g.draining.Store(true)
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
