package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// withIdempotencyKey sends one call with an Idempotency-Key.
func withIdempotencyKey(t *testing.T, method, url, key string, body any, idem string) reply {
	t.Helper()
	return sendWith(t, http.DefaultClient, method, url, "Bearer "+key, body, http.Header{"Idempotency-Key": {idem}})
}

// TestIdempotentRetries runs the split deployment (a core on PostgreSQL,
// two gateway replicas sharing Redis): a create retried on the other
// replica gets the first answer again and creates one object; the same
// idempotency key with another request is a 422; a retry while the first
// request still runs is a 409; answers are stored encrypted.
func TestIdempotentRetries(t *testing.T) {
	_, databaseURL, root, a, b := startSplit(t)
	call(t, "PUT", a.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")

	// A key created on a, the request retried on b: the same answer (the
	// same secret), one key.
	first := withIdempotencyKey(t, "PUT", a.url+"/v1/org/acme/api-key", root, map[string]string{"name": "ci"}, "create-ci-1").
		want(t, http.StatusCreated, "API key created")
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("the first answer says it is replayed")
	}
	retry := withIdempotencyKey(t, "PUT", b.url+"/v1/org/acme/api-key", root, map[string]string{"name": "ci"}, "create-ci-1").
		want(t, http.StatusCreated, "API key created")
	if retry.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(retry.body, first.body) {
		t.Errorf("retry: replayed %q, body\n%s\nwant\n%s", retry.header.Get("Idempotent-Replayed"), retry.body, first.body)
	}
	if retry.header.Get("X-Request-Id") == first.header.Get("X-Request-Id") {
		t.Error("the replay carries the first request's id, not its own")
	}
	var keys struct {
		APIKeys []struct{ Name string } `json:"apiKeys"`
	}
	call(t, "GET", b.url+"/v1/org/acme/api-keys", root, nil).want(t, http.StatusOK, "").decode(t, &keys)
	if len(keys.APIKeys) != 1 || keys.APIKeys[0].Name != "ci" {
		t.Fatalf("keys after a create and its retry: %+v", keys.APIKeys)
	}
	// Another calling key has idempotency keys of its own: the same one
	// with another request is no 422 for it (its key has no action: 403).
	var created struct{ APIKeyID, APIKey string }
	first.decode(t, &created)
	withIdempotencyKey(t, "POST", b.url+"/v1/org/acme", created.APIKeyID+"."+created.APIKey, map[string]string{"name": "x"}, "create-ci-1").
		want(t, http.StatusForbidden, "updateOrg")
	ctx := context.Background()
	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var stored []byte
	if err := db.QueryRow(ctx, `SELECT answer FROM idempotency_keys WHERE api_key_id = $1`, keyIDOf(root)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(created.APIKey)) || bytes.Contains(stored, []byte("API key created")) || len(stored) < len(first.body) {
		t.Errorf("the stored answer is not encrypted: %q", stored)
	}

	// The same idempotency key with another body, or another path: 422.
	withIdempotencyKey(t, "PUT", a.url+"/v1/org/acme/api-key", root, map[string]string{"name": "other"}, "create-ci-1").
		want(t, http.StatusUnprocessableEntity, "different request")
	withIdempotencyKey(t, "POST", b.url+"/v1/org/acme", root, map[string]string{"name": "x"}, "create-ci-1").
		want(t, http.StatusUnprocessableEntity, "different request")
	// Keys that are no key: 400.
	for _, bad := range []string{"", strings.Repeat("k", 256), "tab\there", "é"} {
		withIdempotencyKey(t, "PUT", a.url+"/v1/org/acme/api-key", root, map[string]string{"name": "x"}, bad).
			want(t, http.StatusBadRequest, "Idempotency-Key")
	}
	withIdempotencyKey(t, "PUT", a.url+"/v1/org/acme/api-key", root, map[string]string{"name": "x"}, strings.Repeat("k", 255)).
		want(t, http.StatusCreated, "")

	// A retry while the first request still runs: 409. The first is held
	// in its write by a lock on the orgs table.
	lock, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `LOCK TABLE orgs IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	body := `{"orgId":"globex","name":"Globex","subnet":"100.90.129.0/24"}`
	type answer struct {
		status int
		body   []byte
		err    error
	}
	running := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("PUT", a.url+"/v1/org", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+root)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "create-globex")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			running <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		running <- answer{res.StatusCode, b, err}
	}()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	eventually(t, "the first request's claim", func() bool {
		var n int
		conn.QueryRow(ctx, `SELECT COUNT(*) FROM idempotency_keys WHERE answer IS NULL`).Scan(&n)
		return n == 1
	})
	withIdempotencyKey(t, "PUT", b.url+"/v1/org", root, body, "create-globex").want(t, http.StatusConflict, "still in progress")
	if err := lock.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var got answer
	select {
	case got = <-running:
	case <-time.After(20 * time.Second):
		t.Fatal("the first request did not finish")
	}
	if got.err != nil || got.status != http.StatusCreated {
		t.Fatalf("first request: %d %s %v", got.status, got.body, got.err)
	}
	replay := withIdempotencyKey(t, "PUT", b.url+"/v1/org", root, body, "create-globex").want(t, http.StatusCreated, "")
	if replay.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(replay.body, got.body) {
		t.Errorf("replay after the 409: %s, want %s", replay.body, got.body)
	}
	// One org, one record of its creation.
	if n := len(listLogs(t, a.url+"/v1/org/globex/logs/api?action=createOrg", root).Logs); n != 1 {
		t.Errorf("%d records of globex's creation, want 1", n)
	}
	call(t, "PUT", a.url+"/v1/org", root, map[string]string{"orgId": "globex", "name": "Globex", "subnet": "100.90.130.0/24"}).
		want(t, http.StatusConflict, "")
}
