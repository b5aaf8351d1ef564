package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"pangolin-gateway/gateway/api"
	"pangolin-gateway/internal/metrics"
)

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pangolin_gateway_http_requests_total",
		Help: "HTTP requests answered, by method, route (the route template, e.g. /v1/org/:orgId; unmatched for any path no route serves) and status.",
	}, []string{"method", "route", "status"})
	httpSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pangolin_gateway_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method, route template and status.",
		Buckets: metrics.LatencyBuckets,
	}, []string{"method", "route", "status"})
	coreSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pangolin_gateway_core_call_duration_seconds",
		Help:    "Latency of the gateway's unary calls to the core as the gateway sees it, by gRPC method and status code.",
		Buckets: metrics.LatencyBuckets,
	}, []string{"method", "code"})
)

// observeRequests counts and times every request by its route template,
// never the raw path (ids in paths would make a series per object). It
// runs outermost, so a panic answered 500 inside counts too.
func observeRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := api.Route(c)
	method := c.Request.Method
	if route == "" {
		route = "unmatched"
	}
	if !knownMethods[method] {
		method = "other" // any token is a method: keep the label bounded
	}
	status := strconv.Itoa(c.Writer.Status())
	httpRequests.WithLabelValues(method, route, status).Inc()
	httpSeconds.WithLabelValues(method, route, status).Observe(time.Since(start).Seconds())
}

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// observeCoreCalls times each unary call to the core.
func observeCoreCalls(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	coreSeconds.WithLabelValues(method, status.Code(err).String()).Observe(time.Since(start).Seconds())
	return err
}
