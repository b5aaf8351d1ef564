// Package metrics serves a process's Prometheus metrics, and on request
// net/http/pprof, on a listener of its own: operators scrape it on a private
// port, never through the API's.
//
// The series themselves are declared beside the code they measure (the
// gateway's HTTP routes, key cache and core calls; the core's gRPC methods
// and store), on the default registry, which also carries the Go runtime
// and process collectors.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets are the histogram buckets of every latency series, in
// seconds: from 100 µs (a cached request, a loopback query) to 10 s (the
// core's call timeout).
var LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Sampling of the block and mutex profiles while pprof is served: every
// blocking event of 10 µs or more (shorter ones in proportion), and one
// contended lock in 100. Off otherwise: they cost a little on every wait.
const (
	blockProfileRate     = int(10 * time.Microsecond)
	mutexProfileFraction = 100
)

// Handler serves /metrics and, with withPprof, /debug/pprof/.
func Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Listen opens the metrics listener at addr; key names the config key
// the address came from, for the error.
func Listen(key, addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return lis, nil
}

// Serve serves Handler(withPprof) on lis until ctx ends. With pprof it
// also turns on block and mutex profiling, so /debug/pprof/block and
// /debug/pprof/mutex have something to show.
func Serve(ctx context.Context, lis net.Listener, withPprof bool, log *slog.Logger) error {
	if withPprof {
		runtime.SetBlockProfileRate(blockProfileRate)
		runtime.SetMutexProfileFraction(mutexProfileFraction)
	}
	srv := &http.Server{
		Handler:           Handler(withPprof),
		ReadHeaderTimeout: 10 * time.Second,
		// No WriteTimeout: /debug/pprof/profile?seconds=30 writes after 30 s.
		IdleTimeout: 120 * time.Second,
	}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	log.Info("metrics: serving", "addr", lis.Addr().String(), "pprof", withPprof)
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Start listens at addr and serves in the background until ctx ends; an
// empty addr serves nothing. key names the config key addr came from: a
// listener that cannot open is an error at start, naming it.
func Start(ctx context.Context, key, addr string, withPprof bool, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	lis, err := Listen(key, addr)
	if err != nil {
		return err
	}
	go func() {
		if err := Serve(ctx, lis, withPprof, log); err != nil {
			log.Error("metrics: listener failed", "key", key, "err", err)
		}
	}()
	return nil
}
