package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/core"
	"pangolin-gateway/internal/batch"
	"pangolin-gateway/internal/requestid"
	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

var auditDropped = promauto.NewCounter(prometheus.CounterOpts{
	Name: "pangolin_core_audit_dropped_total",
	Help: "Audit records of refusals the core dropped: its buffer was full, or the store failed twice.",
})

// auditor records API calls, for every routed method alike, from the
// contract: no method has audit code of its own. Before the access rule
// runs it puts the call's record in the context of each method that may
// change state; the store writes that record in the transaction of the
// change (sqlstore's write). After the method it records the refusals the
// core decided (401, 403, 429), off the call's path in batches. Every call
// gets its request id in the context, so its log lines carry it.
type auditor struct {
	plans map[string]*auditPlan
	audit *core.Audit
	queue *batch.Queue[*corev1.ApiLog]
	log   *slog.Logger
}

// auditPlan is what the record of one routed method takes from its
// request, found once from its descriptors.
type auditPlan struct {
	changes bool // not a GET: a change the store records
	action  string
	status  int32
	// org is the request field naming the org, object the one naming the
	// object (the scope's field, else the last path parameter but the
	// org); nil when there is none.
	org, object protoreflect.FieldDescriptor
	// creates: a PUT, whose object is new: its id comes from the store.
	creates bool
}

func newAuditor(audit *core.Audit, log *slog.Logger) *auditor {
	a := &auditor{plans: map[string]*auditPlan{}, audit: audit, log: log}
	for _, op := range contract.Operations() {
		if op.Route == nil {
			continue
		}
		req := op.Method.Input()
		p := &auditPlan{
			changes: op.Route.GetMethod() != http.MethodGet,
			action:  op.Access.GetAction(),
			status:  op.Route.GetStatus(),
			org:     req.Fields().ByName(contract.OrgField(op.Access)),
		}
		if op.Access.GetScope() == apiv1.Scope_SCOPE_OBJECT {
			p.object = req.Fields().ByName(protoreflect.Name(op.Access.GetField()))
		} else {
			for _, name := range contract.PathParams(op.Route.GetPath()) {
				if fd := req.Fields().ByJSONName(name); fd != nil && fd != p.org {
					p.object = fd
				}
			}
		}
		if p.org != nil && p.org.Kind() != protoreflect.StringKind {
			p.org = nil
		}
		p.creates = op.Route.GetMethod() == http.MethodPut
		a.plans[op.FullMethod] = p
	}
	a.queue = batch.New(batch.Options[*corev1.ApiLog]{
		Capacity: 10000, Size: 500, Interval: time.Second,
		Flush: audit.Record, Dropped: auditDropped, Log: log, What: "core: audit",
	})
	return a
}

func (a *auditor) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if id := firstIncoming(ctx, corev1.MetadataRequestID); id != "" {
		ctx = requestid.With(ctx, id)
	}
	p := a.plans[info.FullMethod]
	if p == nil {
		return next(ctx, req)
	}
	msg, _ := req.(proto.Message)
	var rec *core.AuditRecord
	if p.changes {
		rec = &core.AuditRecord{Log: p.record(ctx, msg), CreatedID: p.creates}
		ctx = core.WithAuditRecord(ctx, rec)
	}
	res, err := next(ctx, req)
	code := status.Code(err)
	switch {
	case code == codes.Unauthenticated || code == codes.PermissionDenied || code == codes.ResourceExhausted:
		l := p.record(ctx, msg)
		if rec != nil {
			l = rec.Log
		}
		l.Status = map[codes.Code]int32{codes.Unauthenticated: 401, codes.PermissionDenied: 403, codes.ResourceExhausted: 429}[code]
		l.Timestamp = core.Timestamp(time.Now())
		a.queue.Add(l)
	case err == nil && rec != nil && !rec.Written():
		// A change made outside the store's write path (there should be
		// none): recorded after the fact rather than not at all.
		rec.Log.Timestamp = core.Timestamp(time.Now())
		a.queue.Add(rec.Log)
	}
	return res, err
}

// record is the call's record as the request and its metadata describe it.
func (p *auditPlan) record(ctx context.Context, req proto.Message) *corev1.ApiLog {
	l := &corev1.ApiLog{
		ApiKeyId:  firstIncoming(ctx, corev1.MetadataKeyID),
		ClientIp:  firstIncoming(ctx, corev1.MetadataClientAddress),
		Method:    firstIncoming(ctx, corev1.MetadataMethod),
		Path:      firstIncoming(ctx, corev1.MetadataPath),
		Action:    p.action,
		Status:    p.status,
		RequestId: requestid.From(ctx),
	}
	if req == nil {
		return l
	}
	m := req.ProtoReflect()
	if p.org != nil {
		if v := m.Get(p.org).String(); v != "" {
			l.OrgId = &v
		}
	}
	if p.object != nil {
		if v := m.Get(p.object); v.IsValid() {
			id := fmt.Sprint(v.Interface()) // a string or an integer id
			l.ObjectId = &id
		}
	}
	return l
}

// run flushes the refusals and prunes old records until ctx ends.
func (a *auditor) run(ctx context.Context) {
	done := make(chan struct{})
	go func() { a.queue.Run(ctx); close(done) }()
	defer func() { <-done }()
	// Prune a few times per retention period, at most hourly.
	every := min(max(a.audit.Retention()/4, 100*time.Millisecond), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := a.audit.Prune(ctx, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Warn("core: pruning the audit log failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
