package sqlstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// auditCtx is the context of an API call whose change is recorded.
func auditCtx(keyID string, created bool) (context.Context, *core.AuditRecord) {
	r := &core.AuditRecord{CreatedID: created, Log: &corev1.ApiLog{
		ApiKeyId: keyID, ClientIp: "192.0.2.7", Method: "PUT", Path: "/v1/org", Action: "createOrg",
		Status: 201, RequestId: "req-1",
	}}
	return core.WithAuditRecord(context.Background(), r), r
}

// A change and its record commit together; a change that fails leaves no
// record; a call that writes twice is recorded once.
func testAuditWithChange(t *testing.T, b backend) {
	s := openStore(t, b)
	mkKey(t, s, "rootkey00000001", "", "createOrg")
	ctx, rec := auditCtx("rootkey00000001", true)
	_, err := s.CreateOrg(ctx, &corev1.Org{OrgId: "acme", Name: "Acme", Subnet: ptr("100.90.128.0/24")})
	must(t, err)
	if !rec.Written() {
		t.Fatal("the record is not marked written")
	}
	logs, total, err := s.ListAudit(context.Background(), core.AuditFilter{}, nil)
	must(t, err)
	if total != 1 || len(logs) != 1 {
		t.Fatalf("%d records, want 1: %v", total, logs)
	}
	l := logs[0]
	if l.GetApiKeyName() != "key rootkey00000001" || l.GetObjectId() != "acme" || l.GetStatus() != 201 ||
		l.GetRequestId() != "req-1" || l.GetClientIp() != "192.0.2.7" || l.GetTimestamp() == "" || l.GetId() == 0 {
		t.Errorf("record: %v", l)
	}
	// The same call writing again is not recorded again.
	_, err = s.UpdateOrg(ctx, &corev1.UpdateOrgRequest{OrgId: "acme", Name: ptr("Acme 2")})
	must(t, err)
	// A failed change: no record.
	ctx2, rec2 := auditCtx("rootkey00000001", true)
	_, err = s.CreateOrg(ctx2, &corev1.Org{OrgId: "acme", Name: "Again", Subnet: ptr("100.90.129.0/24")})
	if err == nil {
		t.Fatal("a duplicate org was created")
	}
	if rec2.Written() {
		t.Error("the failed change's record is marked written")
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_logs`); n != 1 {
		t.Errorf("%d records after a second write and a failed one, want 1", n)
	}
	// Writes outside an API call (no record in the context) record nothing.
	mkOrg(t, s, "globex")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM api_logs`); n != 1 {
		t.Errorf("%d records after an unrecorded write, want 1", n)
	}
}

func testAuditListAndPrune(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkKey(t, s, "orgkey000000001", "acme", "viewLogs")
	base := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	var logs []*corev1.ApiLog
	for i := range 6 {
		l := &corev1.ApiLog{
			Timestamp: core.Timestamp(base.Add(time.Duration(i) * time.Minute)), ApiKeyId: "orgkey000000001",
			ClientIp: "192.0.2.1", Method: "DELETE", Path: "/v1/site/1", Action: "deleteSite", Status: 403, RequestId: "r",
		}
		if i%2 == 0 {
			l.OrgId, l.Action, l.Status = ptr("acme"), "createSite", 201
		}
		if i == 5 {
			l.ApiKeyId = "gone00000000000"
		}
		logs = append(logs, l)
	}
	must(t, s.RecordAudit(ctx, logs))
	list := func(f core.AuditFilter, p *corev1.Page) ([]string, int32) {
		t.Helper()
		got, total, err := s.ListAudit(ctx, f, p)
		must(t, err)
		var times []string
		for _, l := range got {
			times = append(times, l.GetTimestamp()[11:16])
		}
		return times, total
	}
	check := func(what string, f core.AuditFilter, p *corev1.Page, want []string, wantTotal int32) {
		t.Helper()
		got, total := list(f, p)
		if !slices.Equal(got, want) || total != wantTotal {
			t.Errorf("%s: %v total %d, want %v total %d", what, got, total, want, wantTotal)
		}
	}
	check("all, newest first", core.AuditFilter{}, nil, []string{"03:05", "03:04", "03:03", "03:02", "03:01", "03:00"}, 6)
	check("page", core.AuditFilter{}, page(2, 2), []string{"03:03", "03:02"}, 6)
	check("org", core.AuditFilter{OrgID: ptr("acme")}, nil, []string{"03:04", "03:02", "03:00"}, 3)
	check("other org", core.AuditFilter{OrgID: ptr("globex")}, nil, nil, 0)
	check("key", core.AuditFilter{APIKeyID: "gone00000000000"}, nil, []string{"03:05"}, 1)
	check("action", core.AuditFilter{Action: "deleteSite"}, nil, []string{"03:05", "03:03", "03:01"}, 3)
	check("status", core.AuditFilter{Status: 201}, nil, []string{"03:04", "03:02", "03:00"}, 3)
	check("from/to", core.AuditFilter{From: core.Timestamp(base.Add(time.Minute)), To: core.Timestamp(base.Add(3 * time.Minute))},
		nil, []string{"03:02", "03:01"}, 2)
	check("all filters", core.AuditFilter{OrgID: ptr("acme"), Status: 201, Action: "createSite", APIKeyID: "orgkey000000001",
		From: core.Timestamp(base.Add(time.Minute))}, page(1, 0), []string{"03:04"}, 2)
	got, _, err := s.ListAudit(ctx, core.AuditFilter{APIKeyID: "gone00000000000"}, nil)
	must(t, err)
	if got[0].ApiKeyName != nil || got[0].OrgId != nil || got[0].ObjectId != nil {
		t.Errorf("a record of no key, org or object: %v", got[0])
	}
	must(t, s.PruneAudit(ctx, base.Add(3*time.Minute)))
	check("pruned", core.AuditFilter{}, nil, []string{"03:05", "03:04", "03:03"}, 3)
}

func testIdempotencyClaims(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	now := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	claim := func(at time.Time, key, fp string) (corev1.ClaimResponse_State, []byte) {
		t.Helper()
		st, answer, err := s.ClaimIdempotency(ctx, core.IdempotencyClaim{KeyID: key, Digest: "d1", Fingerprint: fp,
			Now: core.Timestamp(at), LeaseUntil: core.Timestamp(at.Add(time.Minute)), Expired: core.Timestamp(at.Add(-core.IdempotencyWindow))})
		must(t, err)
		return st, answer
	}
	want := func(what string, st corev1.ClaimResponse_State, answer []byte, wantSt corev1.ClaimResponse_State, wantAnswer string) {
		t.Helper()
		if st != wantSt || string(answer) != wantAnswer {
			t.Errorf("%s: %v %q, want %v %q", what, st, answer, wantSt, wantAnswer)
		}
	}
	st, a := claim(now, "k1", "fp1")
	want("first", st, a, corev1.ClaimResponse_STATE_CLAIMED, "")
	st, a = claim(now.Add(time.Second), "k1", "fp1")
	want("while running", st, a, corev1.ClaimResponse_STATE_RUNNING, "")
	st, a = claim(now.Add(time.Second), "k1", "fp2")
	want("another request", st, a, corev1.ClaimResponse_STATE_MISMATCH, "")
	st, a = claim(now.Add(time.Second), "k2", "fp2")
	want("another calling key", st, a, corev1.ClaimResponse_STATE_CLAIMED, "")
	st, a = claim(now.Add(2*time.Minute), "k2", "fp2")
	want("lease lapsed", st, a, corev1.ClaimResponse_STATE_CLAIMED, "")

	must(t, s.CompleteIdempotency(ctx, "k1", "d1", []byte("sealed answer")))
	st, a = claim(now.Add(time.Hour), "k1", "fp1")
	want("done", st, a, corev1.ClaimResponse_STATE_DONE, "sealed answer")
	st, a = claim(now.Add(time.Hour), "k1", "fp2")
	want("done, another request", st, a, corev1.ClaimResponse_STATE_MISMATCH, "")
	st, a = claim(now.Add(core.IdempotencyWindow+time.Second), "k1", "fp2")
	want("past the window", st, a, corev1.ClaimResponse_STATE_CLAIMED, "")

	// Released claims are forgotten; completed ones are not.
	must(t, s.ReleaseIdempotency(ctx, "k1", "d1"))
	st, a = claim(now.Add(core.IdempotencyWindow+2*time.Second), "k1", "fp3")
	want("released", st, a, corev1.ClaimResponse_STATE_CLAIMED, "")
	must(t, s.CompleteIdempotency(ctx, "k1", "d1", []byte("x")))
	must(t, s.ReleaseIdempotency(ctx, "k1", "d1"))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM idempotency_keys`); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
	must(t, s.PruneIdempotency(ctx, now.Add(time.Hour)))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM idempotency_keys`); n != 1 {
		t.Errorf("%d records after pruning, want the one created past the window", n)
	}
}
