package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pangolin-gateway/gateway/auth"
	"pangolin-gateway/internal/testenv"
)

// redisBinaries finds redis-server and redis-cli: the Sentinel and Cluster
// tests start their own. Missing: skip, or fail under CI=true (.ci/run
// installs them).
func redisBinaries(t testing.TB) (server, cli string) {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err == nil {
		cli, err = exec.LookPath("redis-cli")
	}
	if err != nil {
		testenv.Unavailable(t, "redis-server and redis-cli are needed to run a local Sentinel and Cluster: %v", err)
	}
	return server, cli
}

// startRedis runs one redis-server on a free loopback port (nothing saved
// to disk) with extra arguments, until the test ends; it waits for PING
// (with password, if set) and returns the port.
func startRedis(t testing.TB, server, password string, extra ...string) int {
	t.Helper()
	port, _ := startRedisProc(t, server, password, extra...)
	return port
}

// startRedisProc is startRedis, also returning the process (to stall it).
func startRedisProc(t testing.TB, server, password string, extra ...string) (int, *proc) {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}, extra...)
	p := start(t, "redis-server :"+strconv.Itoa(port), server, nil, args...)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password, MaxRetries: -1})
	defer c.Close()
	waitFor(t, p, "redis-server :"+strconv.Itoa(port), func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
	return port, p
}

// TestRedisSentinel: two gateways whose key cache is a Redis master found
// through Sentinel (both password-protected) share cached keys: what one
// verified with the core, the other authenticates from Redis with the core
// stopped. No password reaches their logs.
func TestRedisSentinel(t *testing.T) {
	server, _ := redisBinaries(t)
	const masterPassword, sentinelPassword = "master-pw-3c1f0a9e", "sentinel-pw-77d2b4c1"
	master := startRedis(t, server, masterPassword, "--requirepass", masterPassword)

	port := freePort(t)
	conf := filepath.Join(t.TempDir(), "sentinel.conf") // Sentinel rewrites it: writable
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`port %d
bind 127.0.0.1
requirepass %s
sentinel monitor mymaster 127.0.0.1 %d 1
sentinel auth-pass mymaster %s
sentinel down-after-milliseconds mymaster 5000
`, port, sentinelPassword, master, masterPassword)), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel := start(t, "redis-sentinel :"+strconv.Itoa(port), server, nil, conf, "--sentinel")
	sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: sentinelPassword, MaxRetries: -1})
	defer sc.Close()
	waitFor(t, sentinel, "the sentinel to know the master", func() bool {
		addr, err := sc.GetMasterAddrByName(context.Background(), "mymaster").Result()
		return err == nil && len(addr) == 2 && addr[1] == strconv.Itoa(master)
	})

	env := []string{
		"PGW_REDIS__ADDRS=127.0.0.1:" + strconv.Itoa(port),
		"PGW_REDIS__MASTER_NAME=mymaster",
		"PGW_REDIS__PASSWORD=" + masterPassword,
		"PGW_REDIS__SENTINEL_PASSWORD=" + sentinelPassword,
	}
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: "mymaster", SentinelAddrs: []string{"127.0.0.1:" + strconv.Itoa(port)},
		Password: masterPassword, SentinelPassword: sentinelPassword,
	})
	defer rdb.Close()
	sharedL2(t, env, rdb, "mode=sentinel", masterPassword, sentinelPassword)
}

// TestRedisCluster: the same over a three-master Redis Cluster
// (password-protected), given to the gateways by one seed address.
func TestRedisCluster(t *testing.T) {
	server, cli := redisBinaries(t)
	const password = "cluster-pw-5b8e0d21"
	var nodes []string
	for range 3 {
		bus := freePort(t)
		port := startRedis(t, server, password,
			"--requirepass", password, "--masterauth", password,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(bus))
		nodes = append(nodes, "127.0.0.1:"+strconv.Itoa(port))
	}
	create := exec.Command(cli, append(append([]string{"--cluster", "create"}, nodes...), "--cluster-replicas", "0", "--cluster-yes")...)
	create.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n, Password: password})
		deadline := time.Now().Add(30 * time.Second)
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok: %v %s", n, err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}

	env := []string{
		"PGW_REDIS__ADDRS=" + nodes[1], // one seed: the gateway discovers the rest
		"PGW_REDIS__PASSWORD=" + password,
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: nodes, Password: password})
	defer rdb.Close()
	sharedL2(t, env, rdb, "mode=cluster", password)
}

// sharedL2 runs a core (SQLite) and two gateways with the given Redis env,
// and shows the second gateway authenticating from Redis (an L2 hit): the
// first verifies a key with the core, which stores its entry in Redis (rdb
// sees it), then the core stops, so no gateway can verify anything with
// it; the second gateway, which never saw the key, still authenticates it
// (a 400 for an unknown query parameter comes after authentication) and
// refuses a wrong secret for it, while a key Redis does not hold gets 503.
func sharedL2(t *testing.T, env []string, rdb redis.UniversalClient, logMode string, secrets ...string) {
	t.Helper()
	core := startCore(t, "")
	root := core.createRootKey(t, "l2-root")
	keyID, _, _ := strings.Cut(root, ".")
	a := startGateway(t, core.addr, "", env...)
	b := startGateway(t, core.addr, "", env...)
	for _, g := range []*gatewayProc{a, b} {
		if g.lines("gateway: key cache", logMode) != 1 {
			t.Fatalf("%s does not log its key cache as %s", g.name, logMode)
		}
	}

	call(t, "GET", a.url+"/v1/orgs", root, nil).want(t, http.StatusOK, "")
	if n, err := rdb.Exists(context.Background(), auth.DefaultRedisPrefix+keyID).Result(); err != nil || n != 1 {
		t.Fatalf("the key's entry is not in Redis after gateway A verified it: %d %v", n, err)
	}

	core.stop(t)
	call(t, "GET", b.url+"/v1/orgs?probe=1", root, nil).want(t, http.StatusBadRequest, "probe")
	call(t, "GET", b.url+"/v1/orgs?probe=1", keyID+"."+strings.Repeat("a", 40), nil).want(t, http.StatusUnauthorized, "")
	call(t, "GET", b.url+"/v1/orgs?probe=1", "zzzzzzzzzzzzzzz."+strings.Repeat("a", 40), nil).want(t, http.StatusServiceUnavailable, "")

	for _, g := range []*gatewayProc{a, b} {
		for _, s := range secrets {
			if strings.Contains(g.out.String(), s) {
				t.Errorf("%s logged a Redis password", g.name)
			}
		}
	}
}
