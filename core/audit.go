package core

import (
	"context"
	"sync/atomic"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// DefaultAuditRetention is how long API call records are kept when
// audit.retention is unset.
const DefaultAuditRetention = 90 * 24 * time.Hour

// IdempotencyWindow is how long the answer of a request sent with an
// Idempotency-Key is kept, and replayed to its retries.
const IdempotencyWindow = 24 * time.Hour

// AuditStore keeps the API call log. The records of changes are not
// written through it: the store writes each in the transaction of the
// change it records (see AuditRecord).
type AuditStore interface {
	// RecordAudit stores records of calls that changed nothing (refusals),
	// each with the name its key has now.
	RecordAudit(ctx context.Context, logs []*corev1.ApiLog) error
	// ListAudit lists the records f selects, newest first, and their count.
	ListAudit(ctx context.Context, f AuditFilter, page *corev1.Page) ([]*corev1.ApiLog, int32, error)
	// PruneAudit deletes the records older than before.
	PruneAudit(ctx context.Context, before time.Time) error
	// Principal is what a key may do; missing → NotFound.
	Principal(ctx context.Context, id string) (*corev1.Principal, error)
}

// AuditFilter selects records; zero fields select everything.
type AuditFilter struct {
	// OrgID, when set, selects the records of that org only.
	OrgID    *string
	APIKeyID string
	Action   string
	Status   int32
	// From and To bound the time (TimeFormat): From inclusive, To not.
	From, To string
}

// AuditRecord is the record of one call that may change state, filled by
// the transport before the method runs. The store writes it in the
// transaction of the call's change, so a change is never acknowledged
// without its record, and a call that changes nothing leaves none.
type AuditRecord struct {
	Log *corev1.ApiLog
	// CreatedID: the call creates an object, so the record takes the id of
	// the first row the call inserts (over the parent its path names).
	CreatedID bool
	written   atomic.Bool
}

// Written reports whether the record is stored.
func (r *AuditRecord) Written() bool { return r.written.Load() }

// MarkWritten is called by the store once the record is committed: a
// method that writes twice is recorded once.
func (r *AuditRecord) MarkWritten() { r.written.Store(true) }

type auditKey struct{}

// WithAuditRecord returns ctx carrying r.
func WithAuditRecord(ctx context.Context, r *AuditRecord) context.Context {
	return context.WithValue(ctx, auditKey{}, r)
}

// AuditRecordOf returns the record ctx carries, nil for calls that record
// nothing (reads, internal calls, the admin commands).
func AuditRecordOf(ctx context.Context) *AuditRecord {
	r, _ := ctx.Value(auditKey{}).(*AuditRecord)
	return r
}

// auditOrg notes the org of the object a call names, once it is resolved
// (access scope OBJECT): the record is then in that org's log.
func auditOrg(ctx context.Context, orgID string) {
	if r := AuditRecordOf(ctx); r != nil && r.Log.OrgId == nil {
		r.Log.OrgId = &orgID
	}
}

// Audit serves the API call log and stores the records of refusals.
type Audit struct {
	corev1.UnimplementedAuditServiceServer
	store     AuditStore
	idem      IdempotencyStore
	retention atomic.Int64
}

// maxRefusalBatch bounds one RecordRefusals call.
const maxRefusalBatch = 1000

func (a *Audit) ListApiLogs(ctx context.Context, req *corev1.ListApiLogsRequest) (*corev1.ListApiLogsResponse, error) {
	return a.list(ctx, nil, req.GetApiKeyId(), req.GetAction(), req.GetStatus(), req.GetFrom(), req.GetTo(), req.GetPage())
}

func (a *Audit) ListOrgApiLogs(ctx context.Context, req *corev1.ListOrgApiLogsRequest) (*corev1.ListApiLogsResponse, error) {
	org := req.GetOrgId()
	return a.list(ctx, &org, req.GetApiKeyId(), req.GetAction(), req.GetStatus(), req.GetFrom(), req.GetTo(), req.GetPage())
}

func (a *Audit) list(ctx context.Context, org *string, keyID, action string, status int32, from, to string, page *corev1.Page) (*corev1.ListApiLogsResponse, error) {
	f := AuditFilter{OrgID: org, APIKeyID: keyID, Action: action, Status: status}
	if status != 0 && (status < 100 || status > 599) {
		return nil, Errorf(CodeInvalid, "Validation error: status must be an HTTP status from 100 to 599")
	}
	var err error
	if f.From, err = auditTime("from", from); err != nil {
		return nil, err
	}
	if f.To, err = auditTime("to", to); err != nil {
		return nil, err
	}
	logs, total, err := a.store.ListAudit(ctx, f, page)
	if err != nil {
		return nil, err
	}
	return &corev1.ListApiLogsResponse{Logs: logs, Total: total}, nil
}

// auditTime reads a from/to filter: RFC 3339, "" for none.
func auditTime(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "", Errorf(CodeInvalid, "Validation error: %s must be an RFC 3339 time such as 2030-01-02T15:04:05Z", name)
	}
	return Timestamp(t), nil
}

// RecordRefusals stores the refusals a gateway decided.
func (a *Audit) RecordRefusals(ctx context.Context, req *corev1.RecordRefusalsRequest) (*corev1.Empty, error) {
	if len(req.GetLogs()) > maxRefusalBatch {
		return nil, Errorf(CodeInvalid, "at most %d records per call", maxRefusalBatch)
	}
	if err := a.Record(ctx, req.GetLogs()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, nil
}

// Record stores records of refusals (and of the rare change the store
// did not record itself). Each record's org is the org its request named
// only when the key may act there; otherwise the key's own org: a key
// refused in an org it cannot reach is in its own org's log, not the
// other's, so no org learns of other orgs' keys.
func (a *Audit) Record(ctx context.Context, logs []*corev1.ApiLog) error {
	scopes := map[string]*corev1.Principal{}
	for _, l := range logs {
		l.Id, l.ApiKeyName = 0, nil
		l.Timestamp = auditTimestamp(l.GetTimestamp())
		p, seen := scopes[l.GetApiKeyId()]
		if !seen {
			p, _ = a.store.Principal(ctx, l.GetApiKeyId()) // nil: no such key
			scopes[l.GetApiKeyId()] = p
		}
		c := Caller{p}
		switch {
		case p == nil:
			l.OrgId = nil
		case l.OrgId != nil && c.Reaches(l.GetOrgId()):
		case len(p.GetOrgIds()) > 0:
			l.OrgId = &p.GetOrgIds()[0]
		default:
			l.OrgId = nil
		}
	}
	return a.store.RecordAudit(ctx, logs)
}

// auditTimestamp keeps a sender's time when it is one, else now.
func auditTimestamp(v string) string {
	if t, err := time.Parse(TimeFormat, v); err == nil {
		return Timestamp(t)
	}
	return Timestamp(time.Now())
}

// Prune drops the records past audit.retention and the idempotent answers
// past their day.
func (a *Audit) Prune(ctx context.Context, now time.Time) error {
	if err := a.store.PruneAudit(ctx, now.Add(-a.Retention())); err != nil {
		return err
	}
	return a.idem.PruneIdempotency(ctx, now.Add(-IdempotencyWindow))
}

// Retention is audit.retention.
func (a *Audit) Retention() time.Duration {
	if r := time.Duration(a.retention.Load()); r > 0 {
		return r
	}
	return DefaultAuditRetention
}
