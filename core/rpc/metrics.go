package rpc

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"pangolin-gateway/internal/metrics"
)

var callSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "pangolin_core_grpc_call_duration_seconds",
	Help:    "Time the core takes to answer a unary call (link token, access rule and method), by gRPC method and status code.",
	Buckets: metrics.LatencyBuckets,
}, []string{"method", "code"})

// observeCalls times each unary call, outermost, so refusals by the link
// token or the access rule count with their codes.
func observeCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	start := time.Now()
	res, err := next(ctx, req)
	callSeconds.WithLabelValues(info.FullMethod, status.Code(err).String()).Observe(time.Since(start).Seconds())
	return res, err
}
