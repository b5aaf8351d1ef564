package e2e

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"pangolin-gateway/internal/testenv"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// apiLog is a record as the API shows it.
type apiLog struct {
	ID         int64   `json:"id"`
	Timestamp  string  `json:"timestamp"`
	APIKeyID   string  `json:"apiKeyId"`
	APIKeyName *string `json:"apiKeyName"`
	ClientIP   string  `json:"clientIp"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Action     string  `json:"action"`
	OrgID      *string `json:"orgId"`
	ObjectID   *string `json:"objectId"`
	Status     int     `json:"status"`
	RequestID  string  `json:"requestId"`
}

type apiLogs struct {
	Logs       []apiLog       `json:"logs"`
	Pagination map[string]int `json:"pagination"`
}

func listLogs(t *testing.T, url, key string) apiLogs {
	t.Helper()
	var l apiLogs
	call(t, "GET", url, key, nil).want(t, http.StatusOK, "API logs retrieved").decode(t, &l)
	return l
}

// withRequestID sends one call with an X-Request-Id and checks the answer
// carries it back.
func withRequestID(t *testing.T, method, url, key string, body any, id string) reply {
	t.Helper()
	r := sendWith(t, http.DefaultClient, method, url, "Bearer "+key, body, http.Header{"X-Request-Id": {id}})
	if got := r.header.Get("X-Request-Id"); got != id {
		t.Fatalf("%s %s: X-Request-Id %q, want %q", method, url, got, id)
	}
	return r
}

func keyIDOf(token string) string { return token[:15] }

// findLog returns the record of the request id, nil when none.
func findLog(logs []apiLog, requestID string) *apiLog {
	for i := range logs {
		if logs[i].RequestID == requestID {
			return &logs[i]
		}
	}
	return nil
}

// startSplit runs the split deployment: a core on PostgreSQL with a root
// key, and two gateway replicas sharing Redis.
func startSplit(t *testing.T) (c *coreProc, databaseURL, root string, a, b *gatewayProc) {
	t.Helper()
	databaseURL = testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	c = startCore(t, databaseURL)
	root = c.createRootKey(t, "e2e-root")
	return c, databaseURL, root, startGateway(t, c.addr, redisURL), startGateway(t, c.addr, redisURL)
}

// TestAuditLog runs the split deployment (a core on PostgreSQL, two
// gateway replicas sharing Redis): a write and its record appear together,
// a failed write leaves none, refusals by either gateway and by the core
// are recorded, the filters and both paging styles work, an org key sees
// its own org's log only, and one request id runs through the answer, the
// gateway's log, the core's log and the record.
func TestAuditLog(t *testing.T) {
	core, _, root, a, b := startSplit(t)

	// A write and its record.
	withRequestID(t, "PUT", a.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"},
		"e2e-create-acme").want(t, http.StatusCreated, "")
	logs := listLogs(t, b.url+"/v1/logs/api", root)
	l := findLog(logs.Logs, "e2e-create-acme")
	if l == nil {
		t.Fatalf("no record of the create: %+v", logs.Logs)
	}
	if l.APIKeyID != keyIDOf(root) || l.APIKeyName == nil || *l.APIKeyName != "e2e-root" || l.Method != "PUT" ||
		l.Path != "/v1/org" || l.Action != "createOrg" || l.Status != 201 || l.OrgID == nil || *l.OrgID != "acme" ||
		l.ObjectID == nil || *l.ObjectID != "acme" || l.ClientIP != "127.0.0.1" || l.Timestamp == "" {
		t.Errorf("record of the create: %+v", *l)
	}
	// A failed write: no record.
	withRequestID(t, "PUT", b.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Again", "subnet": "100.90.129.0/24"},
		"e2e-create-acme-again").want(t, http.StatusConflict, "")
	call(t, "PUT", a.url+"/v1/org", root, map[string]string{"orgId": "globex", "name": "Globex", "subnet": "100.90.130.0/24"}).
		want(t, http.StatusCreated, "")
	if findLog(listLogs(t, a.url+"/v1/logs/api", root).Logs, "e2e-create-acme-again") != nil {
		t.Error("the refused duplicate create was recorded")
	}
	// A create under a parent records the new object's id.
	var site struct {
		SiteID int64 `json:"siteId"`
	}
	withRequestID(t, "PUT", b.url+"/v1/org/acme/site", root, map[string]string{"name": "edge", "type": "local"}, "e2e-create-site").
		want(t, http.StatusCreated, "").decode(t, &site)
	if l := findLog(listLogs(t, a.url+"/v1/org/acme/logs/api?action=createSite", root).Logs, "e2e-create-site"); l == nil ||
		l.ObjectID == nil || *l.ObjectID != itoa(site.SiteID) || l.Path != "/v1/org/acme/site" {
		t.Errorf("record of the site's creation: %+v", l)
	}

	// The request id in both processes' logs (and no secret there).
	for _, p := range []*proc{a.proc, core.proc} {
		if p.lines("request_id=e2e-create-acme") == 0 {
			t.Errorf("%s logged nothing with request_id=e2e-create-acme:\n%s", p.name, p.out.String())
		}
		if strings.Contains(p.out.String(), root[16:]) {
			t.Errorf("%s logged the root key's secret", p.name)
		}
	}
	// An id that is no sane token is replaced.
	r := sendWith(t, http.DefaultClient, "GET", a.url+"/v1/org/acme", "Bearer "+root, nil, http.Header{"X-Request-Id": {"bad id; drop"}})
	if id := r.header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("X-Request-Id %q for an insane client id, want a new one", id)
	}

	// An org key with a few actions, and refusals of every kind.
	keyID, key := createOrgKey(t, a.url, root, "acme", "acme-logs")
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+keyID+"/actions", root,
		map[string]any{"actionIds": []string{"getOrg", "viewLogs"}}).want(t, http.StatusOK, "")
	eventually(t, "both replicas to know the key's actions", func() bool {
		return call(t, "GET", a.url+"/v1/org/acme", key, nil).status == 200 && call(t, "GET", b.url+"/v1/org/acme", key, nil).status == 200
	})
	withRequestID(t, "POST", a.url+"/v1/org/acme", key, map[string]string{"name": "x"}, "e2e-refused-action").
		want(t, http.StatusForbidden, "updateOrg")
	withRequestID(t, "GET", b.url+"/v1/org/globex", key, nil, "e2e-refused-org").want(t, http.StatusForbidden, "globex")
	withRequestID(t, "GET", b.url+"/v1/org/acme", keyID+".wrongsecretwrongsecretwrongsecretwrongsec", nil, "e2e-refused-secret").
		want(t, http.StatusUnauthorized, "")
	// A refusal the core decides: a call that reaches the core without the
	// gateway's guards (the core checks every call itself).
	conn, err := grpc.NewClient(core.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	md := metadata.Pairs(corev1.MetadataToken, "Bearer "+testCoreToken, corev1.MetadataKeyID, keyID,
		corev1.MetadataRequestID, "e2e-refused-by-core", corev1.MetadataMethod, "DELETE", corev1.MetadataPath, "/v1/org/acme",
		corev1.MetadataClientAddress, "192.0.2.9")
	_, err = corev1.NewOrgServiceClient(conn).DeleteOrg(metadata.NewOutgoingContext(context.Background(), md),
		&corev1.OrgIdRequest{OrgId: "acme"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the core let an org key without deleteOrg delete its org: %v", err)
	}

	// Refusals arrive in batches: wait for all four, in acme's log.
	want := map[string]int{"e2e-refused-action": 403, "e2e-refused-org": 403, "e2e-refused-secret": 401, "e2e-refused-by-core": 403}
	var orgLogs apiLogs
	eventually(t, "the refusals in acme's log", func() bool {
		orgLogs = listLogs(t, a.url+"/v1/org/acme/logs/api", key)
		for id := range want {
			if findLog(orgLogs.Logs, id) == nil {
				return false
			}
		}
		return true
	})
	for id, st := range want {
		l := findLog(orgLogs.Logs, id)
		if l.Status != st || l.APIKeyID != keyID || l.OrgID == nil || *l.OrgID != "acme" {
			t.Errorf("refusal %s: %+v", id, *l)
		}
	}
	if l := findLog(orgLogs.Logs, "e2e-refused-action"); l.Action != "updateOrg" || l.Method != "POST" || l.Path != "/v1/org/acme" ||
		l.APIKeyName == nil || *l.APIKeyName != "acme-logs" {
		t.Errorf("refused action: %+v", *l)
	}
	if l := findLog(orgLogs.Logs, "e2e-refused-by-core"); l.Action != "deleteOrg" || l.ClientIP != "192.0.2.9" {
		t.Errorf("refused by the core: %+v", *l)
	}
	// The org key sees acme's log only: never globex's, nor the root log.
	for _, rec := range orgLogs.Logs {
		if rec.OrgID == nil || *rec.OrgID != "acme" {
			t.Errorf("acme's log holds %+v", rec)
		}
	}
	call(t, "GET", b.url+"/v1/org/globex/logs/api", key, nil).want(t, http.StatusForbidden, "globex")
	call(t, "GET", b.url+"/v1/logs/api", key, nil).want(t, http.StatusForbidden, "root")
	// Those two refusals are the key's too, in acme's log: wait for them,
	// so the log holds still for the paging checks below.
	eventually(t, "the refusals of the log routes", func() bool {
		return len(listLogs(t, a.url+"/v1/org/acme/logs/api?status=403", root).Logs) == 5
	})
	// globex's log has its create, not the acme key's refusal there.
	globex := listLogs(t, a.url+"/v1/org/globex/logs/api", root)
	if len(globex.Logs) != 1 || globex.Logs[0].Action != "createOrg" {
		t.Errorf("globex's log: %+v", globex.Logs)
	}

	// Filters, newest first, and both paging styles.
	all := listLogs(t, a.url+"/v1/org/acme/logs/api", root)
	if !slices.IsSortedFunc(all.Logs, func(x, y apiLog) int { return strings.Compare(y.Timestamp, x.Timestamp) }) {
		t.Errorf("not newest first: %+v", all.Logs)
	}
	n := len(all.Logs)
	if all.Pagination["total"] != n || n < 8 {
		t.Fatalf("acme's log: %d records, pagination %v", n, all.Pagination)
	}
	byKey := listLogs(t, a.url+"/v1/org/acme/logs/api?apiKeyId="+keyID, root)
	byStatus := listLogs(t, a.url+"/v1/org/acme/logs/api?status=403", root)
	byAction := listLogs(t, b.url+"/v1/logs/api?action=createOrg", root)
	if len(byKey.Logs) != 6 || len(byStatus.Logs) != 5 || len(byAction.Logs) != 2 {
		t.Errorf("filters: key %d, status %d, action %d records; want 6, 5, 2", len(byKey.Logs), len(byStatus.Logs), len(byAction.Logs))
	}
	for _, rec := range byStatus.Logs {
		if rec.Status != 403 {
			t.Errorf("status filter: %+v", rec)
		}
	}
	mid := all.Logs[n/2].Timestamp
	newer := listLogs(t, a.url+"/v1/org/acme/logs/api?from="+mid, root)
	older := listLogs(t, a.url+"/v1/org/acme/logs/api?to="+mid, root)
	if len(newer.Logs)+len(older.Logs) != n || len(newer.Logs) == 0 || len(older.Logs) == 0 {
		t.Errorf("from/to %s: %d + %d records of %d", mid, len(newer.Logs), len(older.Logs), n)
	}
	for _, rec := range newer.Logs {
		if rec.Timestamp < mid {
			t.Errorf("from %s returned %s", mid, rec.Timestamp)
		}
	}
	limit := listLogs(t, a.url+"/v1/org/acme/logs/api?limit=2&offset=1", root)
	if len(limit.Logs) != 2 || limit.Logs[0].ID != all.Logs[1].ID || limit.Logs[1].ID != all.Logs[2].ID ||
		limit.Pagination["total"] != n || limit.Pagination["limit"] != 2 || limit.Pagination["offset"] != 1 {
		t.Errorf("limit/offset: %+v", limit)
	}
	paged := listLogs(t, b.url+"/v1/org/acme/logs/api?page=2&pageSize=3", root)
	if len(paged.Logs) != min(3, n-3) || paged.Logs[0].ID != all.Logs[3].ID || paged.Pagination["page"] != 2 ||
		paged.Pagination["pageSize"] != 3 || paged.Pagination["total"] != n {
		t.Errorf("page/pageSize: %+v", paged)
	}
	for _, bad := range []struct{ query, field string }{
		{"status=abc", "status"}, {"status=99", "status"}, {"from=yesterday", "from"}, {"to=2030-13-01", "to"}, {"limit=0", "limit"},
	} {
		call(t, "GET", a.url+"/v1/org/acme/logs/api?"+bad.query, root, nil).want(t, http.StatusBadRequest, bad.field)
	}
}

// TestAuditRetention: the core prunes records older than audit.retention.
func TestAuditRetention(t *testing.T) {
	core := startCore(t, testenv.PostgresURL(t), "PGW_AUDIT__RETENTION=2s")
	root := core.createRootKey(t, "e2e-root")
	g := startGateway(t, core.addr, "")
	call(t, "PUT", g.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")
	if n := len(listLogs(t, g.url+"/v1/logs/api?action=createOrg", root).Logs); n != 1 {
		t.Fatalf("%d records of the create, want 1", n)
	}
	start := time.Now()
	eventually(t, "the record to be pruned", func() bool {
		return len(listLogs(t, g.url+"/v1/logs/api?action=createOrg", root).Logs) == 0
	})
	if time.Since(start) < time.Second {
		t.Errorf("pruned after %v, before its retention of 2s", time.Since(start))
	}
}
