package e2e

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pangolin-gateway/internal/testenv"
)

// apiKey is a key as the key routes answer it.
type apiKey struct {
	APIKeyID                string     `json:"apiKeyId"`
	APIKey                  string     `json:"apiKey"`
	Name                    string     `json:"name"`
	ExpiresAt               *string    `json:"expiresAt"`
	AllowedIPs              []string   `json:"allowedIps"`
	RateLimit               *rateLimit `json:"rateLimit"`
	LastUsedAt              *string    `json:"lastUsedAt"`
	PreviousSecretExpiresAt *string    `json:"previousSecretExpiresAt"`
}

type rateLimit struct {
	Requests   int `json:"requests"`
	PerSeconds int `json:"perSeconds"`
}

// limitedKey has root create an org key of acme with getOrg and the given
// body fields besides its name; it returns the key as created.
func limitedKey(t *testing.T, url, root string, body map[string]any) apiKey {
	t.Helper()
	body["name"] = "limited"
	var k apiKey
	call(t, "PUT", url+"/v1/org/acme/api-key", root, body).want(t, http.StatusCreated, "API key created").decode(t, &k)
	call(t, "POST", url+"/v1/org/acme/api-key/"+k.APIKeyID+"/actions", root,
		map[string]any{"actionIds": []string{"getOrg"}}).want(t, http.StatusOK, "")
	return k
}

func token(k apiKey) string { return k.APIKeyID + "." + k.APIKey }

// splitDeployment is a core process and two gateway replicas sharing
// redisURL, with an org acme and a root key.
func splitDeployment(t *testing.T, redisURL string) (c *coreProc, a, b *gatewayProc, root string) {
	t.Helper()
	c = startCore(t, "")
	root = c.createRootKey(t, "e2e-root")
	a = startGateway(t, c.addr, redisURL)
	b = startGateway(t, c.addr, redisURL)
	call(t, "PUT", a.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")
	return c, a, b, root
}

// wantQuota checks the RateLimit headers of an answer.
func wantQuota(t *testing.T, r reply, limit, remaining int) {
	t.Helper()
	if got := r.header.Get("RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Fatalf("RateLimit-Limit %q, want %d: %s", got, limit, r.body)
	}
	if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Fatalf("RateLimit-Remaining %q, want %d", got, remaining)
	}
	if reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset")); err != nil || reset < 0 {
		t.Fatalf("RateLimit-Reset %q", r.header.Get("RateLimit-Reset"))
	}
}

// TestKeyRateLimitShared: a key's rate limit is one limit for both
// replicas (through Redis): N requests spread over them, then 429 on
// either, with Retry-After and the RateLimit headers, which every answer
// under the limit carries too. A key without a limit gets none.
func TestKeyRateLimitShared(t *testing.T) {
	_, a, b, root := splitDeployment(t, testenv.RedisURL(t))
	k := limitedKey(t, a.url, root, map[string]any{"rateLimit": map[string]int{"requests": 4, "perSeconds": 3600}})
	if k.RateLimit == nil || *k.RateLimit != (rateLimit{4, 3600}) {
		t.Fatalf("created key's rateLimit %+v", k.RateLimit)
	}
	replicas := []*gatewayProc{a, b}
	for i := range 4 {
		r := call(t, "GET", replicas[i%2].url+"/v1/org/acme", token(k), nil).want(t, http.StatusOK, "")
		wantQuota(t, r, 4, 3-i)
	}
	for _, g := range replicas {
		r := call(t, "GET", g.url+"/v1/org/acme", token(k), nil).want(t, http.StatusTooManyRequests, "Rate limit exceeded")
		wantQuota(t, r, 4, 0)
		if after, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || after < 1 || after > 900 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	r := call(t, "GET", a.url+"/v1/org/acme", root, nil).want(t, http.StatusOK, "")
	if r.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("a key without a rate limit got RateLimit headers: %v", r.header)
	}

	// Raising the limit through the API reaches both replicas.
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID, root,
		map[string]any{"rateLimit": map[string]int{"requests": 100, "perSeconds": 1}}).want(t, http.StatusOK, "API key updated")
	for _, g := range replicas {
		eventually(t, "the raised limit on "+g.url, func() bool {
			return call(t, "GET", g.url+"/v1/org/acme", token(k), nil).status == http.StatusOK
		})
	}
}

// TestKeyRateLimitWithoutRedis: with the replicas' Redis stopped, each
// replica keeps the key's limit on its own: N requests each, then 429.
func TestKeyRateLimitWithoutRedis(t *testing.T) {
	server, _ := redisBinaries(t)
	port, redisProc := startRedisProc(t, server, "")
	_, a, b, root := splitDeployment(t, "redis://127.0.0.1:"+strconv.Itoa(port)+"/0")
	k := limitedKey(t, a.url, root, map[string]any{"rateLimit": map[string]int{"requests": 3, "perSeconds": 3600}})
	redisProc.stop(t)
	for _, g := range []*gatewayProc{a, b} {
		for i := range 3 {
			r := call(t, "GET", g.url+"/v1/org/acme", token(k), nil).want(t, http.StatusOK, "")
			wantQuota(t, r, 3, 2-i)
		}
		call(t, "GET", g.url+"/v1/org/acme", token(k), nil).want(t, http.StatusTooManyRequests, "Rate limit exceeded")
		if n := g.lines("redis unavailable; applying each key's rate limit per replica"); n != 1 {
			t.Fatalf("%s logged the per-replica limit %d times, want once", g.url, n)
		}
	}
}

// TestKeyRollGrace: after a roll with a grace the old secret keeps working
// on both replicas, which had it cached, until the grace ends, then stops
// on both; the new one works throughout. A roll without grace stops the old
// secret at once; the admin rolls root keys with keys roll.
func TestKeyRollGrace(t *testing.T) {
	c, a, b, root := splitDeployment(t, testenv.RedisURL(t))
	replicas := []*gatewayProc{a, b}
	k := limitedKey(t, a.url, root, map[string]any{})
	old := token(k)
	for _, g := range replicas {
		call(t, "GET", g.url+"/v1/org/acme", old, nil).want(t, http.StatusOK, "")
	}
	var rolled apiKey
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID+"/roll", root, map[string]int{"graceSeconds": 4}).
		want(t, http.StatusOK, "API key rolled").decode(t, &rolled)
	newer := token(rolled)
	if rolled.APIKeyID != k.APIKeyID || rolled.APIKey == "" || rolled.APIKey == k.APIKey || rolled.PreviousSecretExpiresAt == nil {
		t.Fatalf("roll answer %+v", rolled)
	}
	until, err := time.Parse(time.RFC3339, *rolled.PreviousSecretExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range replicas {
		for _, key := range []string{old, newer, old, newer} {
			call(t, "GET", g.url+"/v1/org/acme", key, nil).want(t, http.StatusOK, "")
		}
	}
	if time.Now().After(until) {
		t.Fatal("the grace ended before both replicas were asked: the machine is too slow for this test's window")
	}
	time.Sleep(time.Until(until) + 50*time.Millisecond)
	for _, g := range replicas {
		call(t, "GET", g.url+"/v1/org/acme", old, nil).want(t, http.StatusUnauthorized, "Invalid API key")
		call(t, "GET", g.url+"/v1/org/acme", newer, nil).want(t, http.StatusOK, "")
	}

	// Without grace: the old secret stops at once, on both replicas.
	var again apiKey
	call(t, "POST", b.url+"/v1/org/acme/api-key/"+k.APIKeyID+"/roll", root, map[string]int{"graceSeconds": 0}).
		want(t, http.StatusOK, "").decode(t, &again)
	for _, g := range replicas {
		eventually(t, "the rolled secret refused on "+g.url, func() bool {
			return call(t, "GET", g.url+"/v1/org/acme", newer, nil).status == http.StatusUnauthorized
		})
		call(t, "GET", g.url+"/v1/org/acme", token(again), nil).want(t, http.StatusOK, "")
	}
	for _, g := range []int{-1, 86401} {
		call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID+"/roll", root, map[string]int{"graceSeconds": g}).
			want(t, http.StatusBadRequest, "graceSeconds")
	}

	// The admin rolls a root key; the old one keeps working for the grace.
	rootID, _, _ := strings.Cut(root, ".")
	cmd := exec.Command(bin.core, "keys", "roll", rootID, "--grace", "1h")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keys roll: %v: %s", err, out)
	}
	m := regexp.MustCompile(`New key \(shown once\): ([a-z0-9]{15}\.[a-z2-7]{40})`).FindSubmatch(out)
	if m == nil || !strings.Contains(string(out), "The old secret works until") {
		t.Fatalf("keys roll printed: %s", out)
	}
	for _, g := range replicas {
		call(t, "GET", g.url+"/v1/orgs", string(m[1]), nil).want(t, http.StatusOK, "")
		call(t, "GET", g.url+"/v1/orgs", root, nil).want(t, http.StatusOK, "")
	}
}

// TestKeyAllowList: a key works only from the addresses its allow list
// holds, the client's address being the one server.trust_proxy makes of
// the request; an update reaches both replicas; bad lists are 400s naming
// the field.
func TestKeyAllowList(t *testing.T) {
	c, a, _, root := splitDeployment(t, testenv.RedisURL(t))
	proxied := startGateway(t, c.addr, testenv.RedisURL(t), "PGW_SERVER__TRUST_PROXY=127.0.0.1")
	k := limitedKey(t, a.url, root, map[string]any{"allowedIps": []string{"203.0.113.0/24", "2001:db8::/32"}})
	if strings.Join(k.AllowedIPs, ",") != "203.0.113.0/24,2001:db8::/32" {
		t.Fatalf("created key's allowedIps %v", k.AllowedIPs)
	}
	call(t, "GET", a.url+"/v1/org/acme", token(k), nil).want(t, http.StatusForbidden, "Key not allowed from 127.0.0.1")
	call(t, "GET", a.url+"/v1/api-key/me", token(k), nil).want(t, http.StatusForbidden, "Key not allowed from 127.0.0.1")
	// X-Forwarded-For counts from a trusted proxy only.
	forwarded := func(g *gatewayProc, addr string) reply {
		req, err := http.NewRequest("GET", g.url+"/v1/org/acme", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token(k))
		req.Header.Set("X-Forwarded-For", addr)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return reply{status: res.StatusCode}
	}
	if r := forwarded(proxied, "203.0.113.9"); r.status != http.StatusOK {
		t.Fatalf("through a trusted proxy from an allowed address: %d", r.status)
	}
	if r := forwarded(proxied, "2001:db8::5"); r.status != http.StatusOK {
		t.Fatalf("through a trusted proxy from an allowed IPv6 address: %d", r.status)
	}
	if r := forwarded(proxied, "198.51.100.1"); r.status != http.StatusForbidden {
		t.Fatalf("through a trusted proxy from another address: %d", r.status)
	}
	if r := forwarded(a, "203.0.113.9"); r.status != http.StatusForbidden {
		t.Fatalf("X-Forwarded-For from an untrusted peer was believed: %d", r.status)
	}

	var updated apiKey
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID, root, map[string]any{"allowedIps": []string{"127.0.0.1"}}).
		want(t, http.StatusOK, "API key updated").decode(t, &updated)
	if strings.Join(updated.AllowedIPs, ",") != "127.0.0.1/32" || updated.Name != "limited" {
		t.Fatalf("updated key %+v", updated)
	}
	eventually(t, "the new allow list", func() bool {
		return call(t, "GET", a.url+"/v1/org/acme", token(k), nil).status == http.StatusOK
	})
	if r := forwarded(proxied, "203.0.113.9"); r.status != http.StatusForbidden {
		t.Fatalf("an address the new list no longer holds: %d", r.status)
	}
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID, root, map[string]any{"allowedIps": nil}).want(t, http.StatusOK, "")
	eventually(t, "the list cleared", func() bool { return forwarded(proxied, "198.51.100.1").status == http.StatusOK })

	for body, msg := range map[string]string{
		`{"allowedIps":["10.0.0.1","nope"]}`:                   "allowedIps[1]",
		`{"allowedIps":"10.0.0.1"}`:                            "allowedIps",
		`{"rateLimit":{"requests":0,"perSeconds":1}}`:          "rateLimit.requests",
		`{"rateLimit":{"requests":1}}`:                         "rateLimit.perSeconds",
		`{"expiresAt":"2001-01-01T00:00:00Z"}`:                 "expiresAt",
		`{}`:                                                   "at least one",
		`{"name":""}`:                                          "name",
		`{"bodyKeys":["name"]}`:                                "bodyKeys",
		`{"rateLimit":{"requests":5,"perSeconds":1,"x":true}}`: "'x'",
	} {
		call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID, root, body).want(t, http.StatusBadRequest, msg)
	}
}

// TestKeyLimitsBoundedByOwn: a root key the admin limited (expiry, allow
// list, rate limit) works within its limits and cannot make or change a key
// into one looser than itself; the 403 names the field.
func TestKeyLimitsBoundedByOwn(t *testing.T) {
	c, a, _, root := splitDeployment(t, "")
	cmd := exec.Command(bin.core, "keys", "create-root", "--name", "brief", "--expires-in", "1h",
		"--allowed-ips", "127.0.0.1,10.0.0.0/8", "--rate-limit", "100/60")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keys create-root: %v: %s", err, out)
	}
	brief := string(rootKeyLine.FindSubmatch(out)[1])
	var me apiKey
	r := call(t, "GET", a.url+"/v1/api-key/me", brief, nil).want(t, http.StatusOK, "")
	r.decode(t, &me)
	wantQuota(t, r, 100, 99)
	if me.ExpiresAt == nil || strings.Join(me.AllowedIPs, ",") != "127.0.0.1/32,10.0.0.0/8" || me.RateLimit == nil || *me.RateLimit != (rateLimit{100, 60}) {
		t.Fatalf("/api-key/me of the limited root key: %+v", me)
	}
	soon := time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339)
	within := func() map[string]any {
		return map[string]any{"name": "ok", "expiresAt": soon, "allowedIps": []string{"10.1.0.0/16"},
			"rateLimit": map[string]int{"requests": 10, "perSeconds": 60}}
	}
	for field, loose := range map[string]any{
		"expiresAt":  nil,
		"allowedIps": []string{"10.0.0.0/8", "192.168.0.1"},
		"rateLimit":  map[string]int{"requests": 100, "perSeconds": 30},
	} {
		body := within()
		body[field] = loose
		call(t, "PUT", a.url+"/v1/org/acme/api-key", brief, body).want(t, http.StatusForbidden, field)
	}
	call(t, "PUT", a.url+"/v1/org/acme/api-key", brief, within()).want(t, http.StatusCreated, "")
	k := limitedKey(t, a.url, root, map[string]any{})
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID, brief, map[string]any{"expiresAt": nil}).
		want(t, http.StatusForbidden, "expiresAt")
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+k.APIKeyID, brief, map[string]any{"expiresAt": soon, "name": "soon"}).
		want(t, http.StatusOK, "")
}

// TestKeyLastUsed: a key's use shows as lastUsedAt (written off the
// request's path, within seconds) in the org's list, on /api-key/me and in
// the admin's list; unusedSince finds the keys not used since a time.
func TestKeyLastUsed(t *testing.T) {
	c, a, b, root := splitDeployment(t, testenv.RedisURL(t))
	used := limitedKey(t, a.url, root, map[string]any{})
	idle := limitedKey(t, a.url, root, map[string]any{})
	before := time.Now().UTC().Add(-time.Second)
	call(t, "GET", b.url+"/v1/org/acme", token(used), nil).want(t, http.StatusOK, "")
	list := func(query string) map[string]apiKey {
		var l struct {
			APIKeys []apiKey `json:"apiKeys"`
		}
		call(t, "GET", a.url+"/v1/org/acme/api-keys"+query, root, nil).want(t, http.StatusOK, "").decode(t, &l)
		out := map[string]apiKey{}
		for _, k := range l.APIKeys {
			out[k.APIKeyID] = k
		}
		return out
	}
	eventually(t, "lastUsedAt of the used key", func() bool { return list("")[used.APIKeyID].LastUsedAt != nil })
	keys := list("")
	at, err := time.Parse(time.RFC3339, *keys[used.APIKeyID].LastUsedAt)
	if err != nil || at.Before(before) || at.After(time.Now()) || keys[idle.APIKeyID].LastUsedAt != nil {
		t.Fatalf("lastUsedAt: used %v (%v), idle %v", keys[used.APIKeyID].LastUsedAt, err, keys[idle.APIKeyID].LastUsedAt)
	}
	unused := list("?unusedSince=" + url.QueryEscape(before.Format(time.RFC3339)))
	if _, ok := unused[used.APIKeyID]; ok || len(unused) != 1 {
		t.Fatalf("unused since before the use: %v, want only the idle key", unused)
	}
	if unused := list("?unusedSince=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))); len(unused) != 2 {
		t.Fatalf("unused since an hour ahead: %v, want both", unused)
	}
	call(t, "GET", a.url+"/v1/org/acme/api-keys?unusedSince=yesterday", root, nil).want(t, http.StatusBadRequest, "unusedSince")

	var me apiKey
	call(t, "GET", a.url+"/v1/api-key/me", token(used), nil).want(t, http.StatusOK, "").decode(t, &me)
	if me.LastUsedAt == nil || me.AllowedIPs == nil {
		t.Fatalf("/api-key/me: %+v", me)
	}
	cmd := exec.Command(bin.core, "keys", "list")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LAST USED") || !strings.Contains(string(out), *keys[used.APIKeyID].LastUsedAt) {
		t.Fatalf("keys list: %v: %s", err, out)
	}
}
