package e2e

import (
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// stallBound is a generous bound on one request while Redis is stalled: the
// L2 gives up after redis.timeout (100 ms), then the core answers (one
// argon2id verification). Before Redis calls honoured their deadline, such a
// request took 5 s.
const stallBound = 2 * time.Second

// TestRedisStalled: with the gateway's Redis stopped (SIGSTOP: connections
// open, nothing answers), a never-used key still authenticates, and a key
// revoked through the API gets its 401, each within the L2's bound plus the
// core's work, not go-redis's default socket timeouts.
//
//	go test -run TestRedisStalled -v ./e2e/   (prints the miss latencies)
func TestRedisStalled(t *testing.T) {
	server, _ := redisBinaries(t)
	port, redisProc := startRedisProc(t, server, "")
	core := startCore(t, "")
	root := core.createRootKey(t, "stall-root")
	var fresh []string
	for i := range 3 {
		fresh = append(fresh, core.createRootKey(t, "never-used-"+strconv.Itoa(i)))
	}
	g := startGateway(t, core.addr, "redis://127.0.0.1:"+strconv.Itoa(port)+"/0")

	// Cache the root key and an org key while Redis answers.
	call(t, "PUT", g.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "Organization created")
	orgKeyID, orgKey := createOrgKey(t, g.url, root, "acme", "to-revoke")
	call(t, "GET", g.url+"/v1/org/acme", orgKey, nil).want(t, http.StatusForbidden, "getOrg")

	if err := redisProc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redisProc.cmd.Process.Signal(syscall.SIGCONT) }) // before it is stopped

	// After a Redis failure the gateway leaves Redis alone for a second;
	// waiting that out before each step makes every step pay the L2 bound.
	pastPause := func() { time.Sleep(1100 * time.Millisecond) }

	// Keys no cache holds: L1 miss, L2 stalled, the core verifies.
	for i, key := range fresh {
		if i > 0 {
			pastPause()
		}
		start := time.Now()
		call(t, "GET", g.url+"/v1/orgs", key, nil).want(t, http.StatusOK, "")
		took := time.Since(start)
		t.Logf("never-used key %d with Redis stopped: %v", i+1, took.Round(time.Millisecond))
		if took > stallBound {
			t.Errorf("never-used key %d took %v with Redis stopped (bound %v)", i+1, took, stallBound)
		}
	}

	// Revoke the cached org key; its next requests get 401, none hangs.
	pastPause()
	revoked := time.Now()
	call(t, "DELETE", g.url+"/v1/org/acme/api-key/"+orgKeyID, root, nil).want(t, http.StatusOK, "")
	for {
		start := time.Now()
		r := call(t, "GET", g.url+"/v1/org/acme", orgKey, nil)
		if took := time.Since(start); took > stallBound {
			t.Fatalf("a request with the revoked key took %v with Redis stopped (bound %v)", took, stallBound)
		}
		if r.status == http.StatusUnauthorized {
			r.want(t, http.StatusUnauthorized, "Invalid API key")
			break
		}
		r.want(t, http.StatusForbidden, "getOrg") // not yet applied: still the cached key
		if time.Since(revoked) > stallBound {
			t.Fatalf("the revoked key still authenticates %v after its DELETE with Redis stopped", time.Since(revoked))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revoked key answered 401 %v after its DELETE with Redis stopped", time.Since(revoked).Round(time.Millisecond))
}
