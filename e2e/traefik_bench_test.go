package e2e

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pangolin-gateway/internal/testenv"
)

// BenchmarkThroughput measures requests/s of one authenticated read (GET
// /v1/org/acme with a root key, warm key cache) from parallel clients,
// side by side in one run, on the processes a deployment runs (core on
// PostgreSQL, gateways sharing one Redis, logs at info):
//
//	direct:            HTTP straight to one gateway
//	traefik_1_replica: HTTPS through Traefik's websecure entry point, to that gateway
//	traefik_2_replicas: the same, Traefik balancing over two gateways
//
// Everything shares this machine's CPUs, so the numbers compare the paths;
// they are not a capacity figure.
//
//	go test -run '^$' -bench Throughput -benchtime 5s ./e2e/
func BenchmarkThroughput(b *testing.B) {
	traefikBinary(b)
	databaseURL := testenv.PostgresURL(b)
	redisURL := testenv.RedisURL(b)
	quiet := "PGW_LOG__LEVEL=info"
	core := startCore(b, databaseURL, quiet)
	root := core.createRootKey(b, "bench-root")
	g1 := startGateway(b, core.addr, redisURL, quiet)
	g2 := startGateway(b, core.addr, redisURL, quiet)
	one := startTraefik(b, g1.url)
	two := startTraefik(b, g1.url, g2.url)

	direct := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	req, _ := http.NewRequest("PUT", g1.url+"/v1/org", strings.NewReader(`{"orgId":"acme","name":"Acme","subnet":"100.90.128.0/24"}`))
	req.Header.Set("Authorization", "Bearer "+root)
	req.Header.Set("Content-Type", "application/json")
	if res, err := direct.Do(req); err != nil || res.StatusCode != http.StatusCreated {
		b.Fatalf("create org: %v %v", res, err)
	}

	for _, bc := range []struct {
		name   string
		client *http.Client
		url    string
	}{
		{"direct", direct, g1.url + "/v1/org/acme"},
		{"traefik_1_replica", one.client(""), "https://" + apiHost + "/v1/org/acme"},
		{"traefik_2_replicas", two.client(""), "https://" + apiHost + "/v1/org/acme"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			get := func() bool {
				req, _ := http.NewRequest("GET", bc.url, nil)
				req.Header.Set("Authorization", "Bearer "+root)
				res, err := bc.client.Do(req)
				if err != nil {
					return false
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res.StatusCode == http.StatusOK
			}
			if !get() { // warm: connections and the key cache
				b.Fatalf("GET %s failed", bc.url)
			}
			var failed atomic.Int64
			b.SetParallelism(8) // 8 clients per CPU
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !get() {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d requests failed", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}
