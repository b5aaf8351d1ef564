package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// apiLogs is the API call log, read as corev1.ApiLog.
var apiLogs = &table{
	name: "api_logs", alias: "l", generated: "id",
	columns: []string{"id", "timestamp", "api_key_id", "api_key_name", "client_ip", "method", "path",
		"action", "org_id", "object_id", "status", "request_id"},
}

// insertLog writes one record with the name its key has now (NULL when
// there is no such key): a record keeps the name after the key is gone.
const insertLog = `INSERT INTO api_logs
	(timestamp, api_key_id, api_key_name, client_ip, method, path, action, org_id, object_id, status, request_id)
	VALUES ($1, $2, (SELECT name FROM api_keys WHERE api_key_id = $2), $3, $4, $5, $6, $7, $8, $9, $10)`

func insertAudit(ctx context.Context, q querier, l *corev1.ApiLog) error {
	_, err := q.ExecContext(ctx, insertLog, auditArgs(l)...)
	return err
}

func auditArgs(l *corev1.ApiLog) []any {
	return []any{l.GetTimestamp(), l.GetApiKeyId(), l.GetClientIp(), l.GetMethod(), l.GetPath(),
		l.GetAction(), l.OrgId, l.ObjectId, l.GetStatus(), l.GetRequestId()}
}

// writeAudit stores the record of the call whose change t holds, in t: the
// change commits with its record or not at all.
func (s *Store) writeAudit(ctx context.Context, t *tx, r *core.AuditRecord) error {
	l := r.Log
	l.Timestamp = now()
	if r.CreatedID && t.firstID != "" {
		id := t.firstID
		l.ObjectId = &id
	}
	if s.auditInsert == nil {
		return insertAudit(ctx, t, l)
	}
	_, err := t.StmtContext(ctx, s.auditInsert).ExecContext(ctx, auditArgs(l)...)
	return err
}

// RecordAudit stores records of calls that changed nothing, in one
// transaction.
func (s *Store) RecordAudit(ctx context.Context, logs []*corev1.ApiLog) error {
	err := s.write(ctx, func(tx *tx) error {
		for _, l := range logs {
			if err := insertAudit(ctx, tx, l); err != nil {
				return err
			}
		}
		return nil
	})
	return internal("record audit", err)
}

// ListAudit returns a page of the records f selects, newest first, and
// how many it selects in all.
func (s *Store) ListAudit(ctx context.Context, f core.AuditFilter, page *corev1.Page) ([]*corev1.ApiLog, int32, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.OrgID != nil {
		add("l.org_id = ?", *f.OrgID)
	}
	if f.APIKeyID != "" {
		add("l.api_key_id = ?", f.APIKeyID)
	}
	if f.Action != "" {
		add("l.action = ?", f.Action)
	}
	if f.Status != 0 {
		add("l.status = ?", f.Status)
	}
	if f.From != "" {
		add("l.timestamp >= ?", f.From)
	}
	if f.To != "" {
		add("l.timestamp < ?", f.To)
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	limit, offset := limitOffset(page)
	n := len(args)
	logs, err := getRows[corev1.ApiLog](ctx, s.reader, apiLogs,
		where+" ORDER BY l.timestamp DESC, l.id DESC LIMIT $"+strconv.Itoa(n+1)+" OFFSET $"+strconv.Itoa(n+2),
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, internal("list audit", err)
	}
	total, err := count(ctx, s.reader, "SELECT COUNT(*) FROM api_logs l "+where, args...)
	return logs, total, internal("count audit", err)
}

// PruneAudit deletes the records older than before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) error {
	return internal("prune audit", s.deleteBefore(ctx, "api_logs", "timestamp", before))
}
