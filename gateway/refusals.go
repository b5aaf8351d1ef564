package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"pangolin-gateway/gateway/api"
	"pangolin-gateway/gateway/auth"
	"pangolin-gateway/internal/batch"
	"pangolin-gateway/internal/requestid"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

var auditDropped = promauto.NewCounter(prometheus.CounterOpts{
	Name: "pangolin_gateway_audit_dropped_total",
	Help: "Audit records of refusals (401, 403, 429 decided by the gateway) dropped: the buffer (audit.buffer_size) was full, or the core refused a batch twice.",
})

// refusals records the requests the gateway itself refuses with 401, 403
// or 429 (the key, the guards, the limits), for the core's audit log. A
// refusal the core decided is recorded by the core; the gateway tells the
// two apart by whether a routed call got the core's answer. Records go to
// the core in batches, off the request's path, from a bounded buffer.
type refusals struct {
	queue *batch.Queue[*corev1.ApiLog]
}

func newRefusals(capacity int, client corev1.AuditServiceClient, timeout time.Duration, log *slog.Logger) *refusals {
	r := &refusals{}
	r.queue = batch.New(batch.Options[*corev1.ApiLog]{
		Capacity: capacity, Size: 500, Interval: time.Second, Dropped: auditDropped, Log: log, What: "gateway: audit",
		Flush: func(ctx context.Context, logs []*corev1.ApiLog) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			_, err := client.RecordRefusals(ctx, &corev1.RecordRefusalsRequest{Logs: logs})
			return err
		},
	})
	return r
}

// coreAnswered is set when a routed call got an answer from the core.
type coreAnswered struct{ atomic.Bool }

type coreAnsweredKey struct{}

func (r *refusals) middleware(c *gin.Context) {
	answered := &coreAnswered{}
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), coreAnsweredKey{}, answered))
	c.Next()
	status := c.Writer.Status()
	if status != http.StatusUnauthorized && status != http.StatusForbidden && status != http.StatusTooManyRequests ||
		answered.Load() || api.Route(c) == "" {
		return
	}
	l := &corev1.ApiLog{
		Timestamp: time.Now().UTC().Format(timeFormat),
		ClientIp:  c.ClientIP(),
		Method:    c.Request.Method,
		Path:      auditPath(c),
		Action:    api.RouteAction(c),
		Status:    int32(status),
		RequestId: requestid.From(c.Request.Context()),
	}
	// The key the request named: for a 401 it did not prove it holds it.
	if id, _, err := auth.ParseBearer(c.GetHeader("Authorization")); err == nil {
		l.ApiKeyId = id
	}
	for _, p := range api.PathParams(c) {
		if p.Key == "orgId" {
			l.OrgId = proto.String(p.Value) // the core keeps it only if the key may act there
		} else {
			l.ObjectId = proto.String(p.Value)
		}
	}
	r.queue.Add(l)
}

// timeFormat is the core's: ISO-8601 UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// answeredConn marks the request's coreAnswered when the core answers a
// routed call, whatever the answer: a refusal in it is the core's.
type answeredConn struct{ grpc.ClientConnInterface }

func (c answeredConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	err := c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
	if a, ok := ctx.Value(coreAnsweredKey{}).(*coreAnswered); ok && answeredByCore(err) {
		a.Store(true)
	}
	return err
}

// answeredByCore tells the core's answers (success, or a refusal it
// decided) from the link's failures.
func answeredByCore(err error) bool {
	switch status.Code(err) {
	case codes.OK, codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted:
		return true
	}
	return false
}
