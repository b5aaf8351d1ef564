package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pangolin-gateway/gateway/auth"
	"pangolin-gateway/internal/testenv"
)

// TestStaleCacheCannotGrantAnAction is the Redis-snapshot story: a key's
// updateOrg action is removed, then Redis comes back from an older snapshot
// that still holds the key's cached entry with updateOrg. That entry is
// genuine (its MAC verifies), so replicas that start afresh let the call
// through, but the core checks the action on every call against what it
// holds and refuses it. Nothing changes, on either replica, however often
// the key tries.
func TestStaleCacheCannotGrantAnAction(t *testing.T) {
	databaseURL := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	core := startCore(t, databaseURL)
	root := core.createRootKey(t, "e2e-root")
	a := startGateway(t, core.addr, redisURL)
	b := startGateway(t, core.addr, redisURL)

	call(t, "PUT", a.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")
	keyID, key := createOrgKey(t, a.url, root, "acme", "automation")
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+keyID+"/actions", root,
		map[string]any{"actionIds": []string{"getOrg", "updateOrg"}}).want(t, http.StatusOK, "")
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	l2Key := auth.DefaultRedisPrefix + keyID
	// The snapshot: the key's L2 entry while it held updateOrg. (The change
	// event of the grant may land after the first caching and drop it: use
	// the key until its entry is in Redis.)
	var snapshot []byte
	eventually(t, "the key's entry with updateOrg in Redis", func() bool {
		for _, g := range []*gatewayProc{a, b} {
			if call(t, "POST", g.url+"/v1/org/acme", key, map[string]string{"name": "Acme 1"}).status != http.StatusOK {
				return false
			}
		}
		snapshot, err = rdb.Get(ctx, l2Key).Bytes()
		return err == nil
	})

	// updateOrg is removed; both replicas stop honouring it.
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+keyID+"/actions", root,
		map[string]any{"actionIds": []string{"getOrg"}}).want(t, http.StatusOK, "")
	for _, g := range []*gatewayProc{a, b} {
		eventually(t, "the replica to drop updateOrg", func() bool {
			// Same name as now: a call that lands before the change reaches
			// the caches (the one-second window) changes nothing.
			return call(t, "POST", g.url+"/v1/org/acme", key, map[string]string{"name": "Acme 1"}).status == http.StatusForbidden
		})
	}

	// A rolling restart: the old replicas stop (a change event they
	// applied late would delete the restored entry from Redis, and the
	// test would prove nothing), Redis comes back from the snapshot, and
	// two replicas start afresh: nothing in memory, so they take the key's
	// entry from Redis.
	a.stop(t)
	b.stop(t)
	if err := rdb.Set(ctx, l2Key, snapshot, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	c := startGateway(t, core.addr, redisURL)
	d := startGateway(t, core.addr, redisURL)
	refusedByCore := func() int {
		return core.lines("OrgService/UpdateOrg", "code=PermissionDenied")
	}
	before := refusedByCore()
	const tries = 19
	for i := range tries {
		g := []*gatewayProc{c, d}[i%2]
		call(t, "POST", g.url+"/v1/org/acme", key, map[string]string{"name": "pwned"}).
			want(t, http.StatusForbidden, "perform this action: updateOrg")
	}
	// The gateways let the calls through on the stale entry: the core is
	// what refused them (had the gateways refused, the core would have seen
	// none of them).
	if got := refusedByCore() - before; got == 0 {
		t.Fatalf("the core refused none of the %d calls: the gateways did not serve the stale entry, so this test proved nothing", tries)
	}
	var org struct {
		Org struct {
			Name string `json:"name"`
		} `json:"org"`
	}
	call(t, "GET", c.url+"/v1/org/acme", root, nil).want(t, http.StatusOK, "").decode(t, &org)
	if org.Org.Name != "Acme 1" {
		t.Fatalf("the org was changed through a removed action: name %q", org.Org.Name)
	}
}
