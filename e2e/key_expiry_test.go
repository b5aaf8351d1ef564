package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pangolin-gateway/core"
	"pangolin-gateway/gateway/auth"
	"pangolin-gateway/internal/testenv"
)

// callerKey is the data of GET /v1/api-key/me.
type callerKey struct {
	APIKeyID  string   `json:"apiKeyId"`
	Name      string   `json:"name"`
	IsRoot    bool     `json:"isRoot"`
	OrgIDs    []string `json:"orgIds"`
	ActionIDs []string `json:"actionIds"`
	ExpiresAt *string  `json:"expiresAt"`
	CreatedAt string   `json:"createdAt"`
}

// TestKeyExpiryWhileCached: an org key created to expire a few seconds
// ahead works on two replicas sharing Redis until both have it cached, and
// at the instant both refuse it with 401 "API key expired" from their
// caches, without asking the core again.
func TestKeyExpiryWhileCached(t *testing.T) {
	databaseURL := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	c := startCore(t, databaseURL)
	root := c.createRootKey(t, "e2e-root")
	a := startGateway(t, c.addr, redisURL)
	b := startGateway(t, c.addr, redisURL)
	replicas := []*gatewayProc{a, b}

	call(t, "PUT", a.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")
	expires := time.Now().Add(5 * time.Second).UTC().Truncate(time.Second)
	var created struct {
		APIKeyID  string  `json:"apiKeyId"`
		APIKey    string  `json:"apiKey"`
		ExpiresAt *string `json:"expiresAt"`
	}
	call(t, "PUT", a.url+"/v1/org/acme/api-key", root, map[string]string{"name": "brief", "expiresAt": expires.Format(time.RFC3339)}).
		want(t, http.StatusCreated, "").decode(t, &created)
	stored := core.Timestamp(expires)
	if created.ExpiresAt == nil || *created.ExpiresAt != stored {
		t.Fatalf("created key's expiresAt %v, want %s", created.ExpiresAt, stored)
	}
	key := created.APIKeyID + "." + created.APIKey
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+created.APIKeyID+"/actions", root,
		map[string]any{"actionIds": []string{"getOrg"}}).want(t, http.StatusOK, "")
	var list struct {
		APIKeys []struct {
			APIKeyID  string  `json:"apiKeyId"`
			ExpiresAt *string `json:"expiresAt"`
		} `json:"apiKeys"`
	}
	call(t, "GET", b.url+"/v1/org/acme/api-keys", root, nil).want(t, http.StatusOK, "").decode(t, &list)
	if len(list.APIKeys) != 1 || list.APIKeys[0].ExpiresAt == nil || *list.APIKeys[0].ExpiresAt != stored {
		t.Fatalf("listed keys %+v, want the key expiring at %s", list.APIKeys, stored)
	}

	// Cached on both replicas: once each answers, more calls cost the core
	// no verification.
	for _, g := range replicas {
		eventually(t, "the replica to honour the key's getOrg", func() bool {
			return call(t, "GET", g.url+"/v1/org/acme", key, nil).status == http.StatusOK
		})
	}
	verifies := func() int { return c.lines("ApiKeyService/Verify") }
	before := verifies()
	for _, g := range replicas {
		call(t, "GET", g.url+"/v1/org/acme", key, nil).want(t, http.StatusOK, "")
		var me callerKey
		call(t, "GET", g.url+"/v1/api-key/me", key, nil).want(t, http.StatusOK, "").decode(t, &me)
		if me.APIKeyID != created.APIKeyID || me.IsRoot || !slices.Equal(me.OrgIDs, []string{"acme"}) ||
			me.ExpiresAt == nil || *me.ExpiresAt != stored {
			t.Fatalf("/api-key/me: %+v", me)
		}
	}
	if n := verifies() - before; n != 0 {
		t.Fatalf("%d verifications for a key both replicas had cached", n)
	}
	rdb := redisClient(t, redisURL)
	if n, err := rdb.Exists(context.Background(), auth.DefaultRedisPrefix+created.APIKeyID).Result(); err != nil || n != 1 {
		t.Fatalf("the key's entry is not in Redis (%d, %v)", n, err)
	}
	if time.Now().After(expires) {
		t.Fatal("the key expired before both replicas had it cached: the machine is too slow for this test's window")
	}

	time.Sleep(time.Until(expires) + 50*time.Millisecond)
	before = verifies()
	for _, g := range replicas {
		for _, path := range []string{"/v1/org/acme", "/v1/api-key/me"} {
			call(t, "GET", g.url+path, key, nil).want(t, http.StatusUnauthorized, "API key expired")
		}
	}
	if n := verifies() - before; n != 0 {
		t.Fatalf("%d verifications: the replicas' caches should have refused the expired key themselves", n)
	}
	call(t, "GET", a.url+"/v1/org/acme", root, nil).want(t, http.StatusOK, "")
}

// TestAdminCreatesExpiringRootKey: keys create-root --expires-in sets the
// root key's expiry, which /api-key/me shows.
func TestAdminCreatesExpiringRootKey(t *testing.T) {
	c := startCore(t, "")
	g := startGateway(t, c.addr, "")
	cmd := exec.Command(bin.core, "keys", "create-root", "--name", "ci", "--actions", "getOrg", "--expires-in", "30d")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keys create-root: %v: %s", err, out)
	}
	m := rootKeyLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("keys create-root printed no key: %s", out)
	}
	var me callerKey
	call(t, "GET", g.url+"/v1/api-key/me", string(m[1]), nil).want(t, http.StatusOK, "").decode(t, &me)
	at, err := time.Parse(time.RFC3339, deref(me.ExpiresAt))
	if err != nil || at.Before(time.Now().Add(29*24*time.Hour)) || !me.IsRoot || me.Name != "ci" ||
		!slices.Equal(me.ActionIDs, []string{"getOrg"}) {
		t.Fatalf("/api-key/me of a 30-day root key: %+v", me)
	}
	cmd = exec.Command(bin.core, "keys", "create-root", "--name", "late", "--expires-at", "2001-01-01T00:00:00Z")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "expiresAt must be in the future") {
		t.Fatalf("a past --expires-at: %v: %s", err, out)
	}
}

// TestCallerKeyIntrospection: /api-key/me describes the calling key, root
// or org, and never carries a secret or hash; a bad expiresAt on create is
// a 400 naming the field.
func TestCallerKeyIntrospection(t *testing.T) {
	s := newStack(t, "")
	var me callerKey
	r := call(t, "GET", s.url+"/v1/api-key/me", s.root, nil).want(t, http.StatusOK, "API key retrieved")
	r.decode(t, &me)
	rootID, rootSecret, _ := strings.Cut(s.root, ".")
	if me.APIKeyID != rootID || me.Name != "root" || !me.IsRoot || len(me.OrgIDs) != 0 ||
		!slices.Equal(me.ActionIDs, slices.Sorted(slices.Values(core.Actions))) || me.ExpiresAt != nil || me.CreatedAt == "" {
		t.Fatalf("root /api-key/me: %+v", me)
	}
	if strings.Contains(string(r.body), rootSecret) || strings.Contains(string(r.body), "argon2") {
		t.Fatalf("/api-key/me leaks the secret or its hash: %s", r.body)
	}

	call(t, "PUT", s.url+"/v1/org", s.root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")
	id, key := createOrgKey(t, s.url, s.root, "acme", "automation")
	call(t, "GET", s.url+"/v1/api-key/me", key, nil).want(t, http.StatusOK, "").decode(t, &me)
	if me.APIKeyID != id || me.Name != "automation" || me.IsRoot || !slices.Equal(me.OrgIDs, []string{"acme"}) ||
		len(me.ActionIDs) != 0 || me.ExpiresAt != nil {
		t.Fatalf("org key /api-key/me: %+v", me)
	}

	for _, bad := range []struct{ value, msg string }{
		{"tomorrow", "expiresAt must be an RFC 3339 time"},
		{"", "expiresAt must be an RFC 3339 time"},
		{"2030-01-02 15:04:05", "expiresAt must be an RFC 3339 time"},
		{"2001-01-01T00:00:00Z", "expiresAt must be in the future"},
	} {
		call(t, "PUT", s.url+"/v1/org/acme/api-key", s.root, map[string]string{"name": "x", "expiresAt": bad.value}).
			want(t, http.StatusBadRequest, bad.msg)
	}
	call(t, "PUT", s.url+"/v1/org/acme/api-key", s.root, map[string]any{"name": "x", "expiresAt": 5}).
		want(t, http.StatusBadRequest, "expiresAt")
	call(t, "PUT", s.url+"/v1/org/acme/api-key", s.root, map[string]any{"name": "never", "expiresAt": nil}).
		want(t, http.StatusCreated, "")
}

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
