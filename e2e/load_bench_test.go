package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"

	"pangolin-gateway/internal/testenv"
)

var (
	loadDuration = flag.Duration("load.duration", 2*time.Second, "BenchmarkLoad: measured time of each system and route, per round")
	loadRounds   = flag.Int("load.rounds", 2, "BenchmarkLoad: rounds over every system and route (they alternate, so drift on a shared machine hits all alike)")
	loadClients  = flag.Int("load.clients", 16, "BenchmarkLoad: concurrent clients")
	loadProfile  = flag.String("load.profile", "", "BenchmarkLoad: directory to write CPU, block and mutex profiles and a trace of each process into, taken during the last round (turns pprof on in the processes)")
)

// loadMetrics are the figures of the one BenchmarkLoad run.
var loadMetrics map[string]float64

// loadSites is how many sites the listed org has.
const loadSites = 20

// BenchmarkLoad puts the same load on three systems side by side in one
// run and prints requests/s, p50 and p99 of each, and each as a ratio of
// bare Gin's:
//
//	gin:        a bare Gin handler answering a small JSON body (the ceiling
//	            of an HTTP handler on this machine, with this generator)
//	embedded:   the embedded default (`make run`: one process, core on
//	            SQLite, gRPC over loopback, in-process key cache)
//	production: pangolin-core on PostgreSQL and pangolin-gateway with Redis,
//	            two processes over real TCP
//
// Each serves an authenticated GET /v1/org/{orgId} and GET
// /v1/org/{orgId}/sites (20 sites) to 16 closed-loop clients, with a warm
// key cache. Everything shares this machine's CPUs, the load generator
// included: compare the ratios, not the absolute numbers.
//
//	go test -run '^$' -bench Load ./e2e/ [-args -load.duration 5s -load.rounds 3]
func BenchmarkLoad(b *testing.B) {
	if loadMetrics != nil {
		// One run measures for a fixed time; the framework asking for more
		// iterations (a -benchtime above the run's length) gets its figures
		// again rather than a repeat.
		for unit, v := range loadMetrics {
			b.ReportMetric(v, unit)
		}
		return
	}
	databaseURL := testenv.PostgresURL(b)
	redisURL := testenv.RedisURL(b)
	l := load{clients: *loadClients, warmup: 300 * time.Millisecond, measure: *loadDuration}
	client := loadClient(l.clients)
	b.Cleanup(client.CloseIdleConnections)

	systems := []loadSystem{
		{name: "gin", url: bareGin(b)},
		embeddedSystem(b),
		productionSystem(b, databaseURL, redisURL),
	}
	routes := []struct{ name, path string }{
		{"get org", "/v1/org/acme"},
		{"list 20 sites", "/v1/org/acme/sites"},
	}
	for _, s := range systems[1:] {
		seedLoadOrg(b, s.url, s.key)
	}

	results := make([][]loadResult, len(systems))
	for i := range results {
		results[i] = make([]loadResult, len(routes))
	}
	b.ResetTimer()
	for round := range *loadRounds {
		for i, s := range systems {
			for j, r := range routes {
				auth := ""
				if s.key != "" {
					auth = "Bearer " + s.key
				}
				var profiled func()
				if *loadProfile != "" && round == *loadRounds-1 {
					profiled = profile(b, s, r.name, l.warmup, l.measure)
				}
				res := l.run(client, s.url+r.path, auth)
				if profiled != nil {
					profiled()
				}
				if res.failures > 0 {
					b.Fatalf("%s %s: %d of %d requests failed (first: %s)", s.name, r.path, res.failures, res.requests+res.failures, res.firstFail)
				}
				results[i][j].add(res)
			}
		}
	}
	b.StopTimer()

	fmt.Printf("\nBenchmarkLoad: %d clients, %d rounds of %s per system and route, GOMAXPROCS %s\n",
		l.clients, *loadRounds, l.measure, os.Getenv("GOMAXPROCS"))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\troute\treq/s\t×gin\tp50\t×gin\tp99\t×gin\t")
	for i, s := range systems {
		for j, r := range routes {
			res, gin := results[i][j], results[0][j]
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%s\t%.1f\t%s\t%.1f\t\n", s.name, r.name,
				res.rate(), res.rate()/gin.rate(),
				ms(res.percentile(0.5)), ratio(res.percentile(0.5), gin.percentile(0.5)),
				ms(res.percentile(0.99)), ratio(res.percentile(0.99), gin.percentile(0.99)))
		}
	}
	tw.Flush()
	emb, prod := results[1], results[2]
	fmt.Printf("targets: embedded/gin %.2f (≥ 0.33) · production/embedded %.2f, %.2f (≥ 0.7) · production p99 %s, %s (≤ 20 ms) · list/get embedded %.2f, production %.2f (≥ 0.5)\n\n",
		emb[0].rate()/results[0][0].rate(),
		prod[0].rate()/emb[0].rate(), prod[1].rate()/emb[1].rate(),
		ms(prod[0].percentile(0.99)), ms(prod[1].percentile(0.99)),
		emb[1].rate()/emb[0].rate(), prod[1].rate()/prod[0].rate())
	loadMetrics = map[string]float64{
		"embedded/gin":        emb[0].rate() / results[0][0].rate(),
		"production/embedded": prod[0].rate() / emb[0].rate(),
		"production-p99-ms":   float64(prod[0].percentile(0.99)) / 1e6,
	}
	for unit, v := range loadMetrics {
		b.ReportMetric(v, unit)
	}
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms" }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// bareGin serves a small JSON body on the benchmark's paths, in this
// process, on a loopback port: what a Gin handler costs with nothing
// behind it.
func bareGin(b *testing.B) string {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	type org struct {
		OrgID  string `json:"orgId"`
		Name   string `json:"name"`
		Subnet string `json:"subnet"`
	}
	answer := func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"data": org{c.Param("orgId"), "Acme", "100.90.128.0/24"}, "success": true, "error": false, "message": "ok", "status": 200})
	}
	e.GET("/v1/org/:orgId", answer)
	e.GET("/v1/org/:orgId/sites", answer)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(lis)
	b.Cleanup(func() { srv.Close() })
	return "http://" + lis.Addr().String()
}

var embeddedKeyLine = regexp.MustCompile(`(?m)^Root API key \(shown once\): ([a-z0-9]{15}\.[a-z2-7]{40})$`)

// embeddedSystem runs the embedded default (the pangolin binary) on a
// fresh SQLite directory, logging at info as `make run` does.
func embeddedSystem(b *testing.B) loadSystem {
	port := strconv.Itoa(freePort(b))
	env := []string{
		"PGW_SERVER__INTEGRATION_PORT=" + port, "PGW_SERVER__HOST=127.0.0.1",
		"PGW_DATABASE__DATA_DIR=" + b.TempDir(), "PGW_LOG__LEVEL=info",
	}
	s := loadSystem{name: "embedded"}
	if *loadProfile != "" {
		s.pprof = map[string]string{"pangolin": "127.0.0.1:" + strconv.Itoa(freePort(b))}
		env = append(env, "PGW_METRICS__LISTEN_ADDRESS="+s.pprof["pangolin"], "PGW_METRICS__PPROF=true")
	}
	p := start(b, "pangolin", bin.embedded, env)
	url := "http://127.0.0.1:" + port
	waitFor(b, p, "the embedded default's root key and API", func() bool {
		if !embeddedKeyLine.MatchString(p.out.String()) {
			return false
		}
		res, err := http.Get(url + "/v1/")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	s.url, s.key = url, embeddedKeyLine.FindStringSubmatch(p.out.String())[1]
	return s
}

// productionSystem runs the production shape: pangolin-core on PostgreSQL,
// one pangolin-gateway with Redis, separate processes over TCP, logging at
// info.
func productionSystem(b *testing.B, databaseURL, redisURL string) loadSystem {
	s := loadSystem{name: "production"}
	coreEnv := []string{"PGW_LOG__LEVEL=info"}
	gatewayEnv := []string{"PGW_LOG__LEVEL=info"}
	if *loadProfile != "" {
		s.pprof = map[string]string{
			"core":    "127.0.0.1:" + strconv.Itoa(freePort(b)),
			"gateway": "127.0.0.1:" + strconv.Itoa(freePort(b)),
		}
		coreEnv = append(coreEnv, "PGW_CORE__METRICS_ADDRESS="+s.pprof["core"], "PGW_METRICS__PPROF=true")
		gatewayEnv = append(gatewayEnv, "PGW_METRICS__LISTEN_ADDRESS="+s.pprof["gateway"], "PGW_METRICS__PPROF=true")
	}
	core := startCore(b, databaseURL, coreEnv...)
	s.key = core.createRootKey(b, "load-root")
	s.url = startGateway(b, core.addr, redisURL, gatewayEnv...).url
	return s
}

// loadSystem is a system under load: where it serves, with which key, and
// the pprof listeners of its processes (name → address).
type loadSystem struct {
	name, url, key string
	pprof          map[string]string
}

// profile starts taking the profiles of s's processes over the measured
// part of a run that starts now, into the -load.profile directory; the
// returned func waits for them.
func profile(b *testing.B, s loadSystem, route string, warmup, measure time.Duration) (wait func()) {
	if err := os.MkdirAll(*loadProfile, 0o755); err != nil {
		b.Fatal(err)
	}
	secs := strconv.Itoa(max(1, int(measure.Seconds())))
	kinds := map[string]string{
		"cpu.pprof":   "profile?seconds=" + secs,
		"block.pprof": "block?seconds=" + secs,
		"mutex.pprof": "mutex?seconds=" + secs,
		"trace.out":   "trace?seconds=1",
	}
	var wg sync.WaitGroup
	for proc, addr := range s.pprof {
		for file, path := range kinds {
			wg.Go(func() {
				time.Sleep(warmup)
				name := filepath.Join(*loadProfile, strings.ReplaceAll(s.name+"-"+route+"-"+proc+"-"+file, " ", "_"))
				res, err := http.Get("http://" + addr + "/debug/pprof/" + path)
				if err != nil {
					b.Errorf("profile %s: %v", name, err)
					return
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusOK {
					b.Errorf("profile %s: %d %s", name, res.StatusCode, body)
					return
				}
				if err := os.WriteFile(name, body, 0o644); err != nil {
					b.Error(err)
				}
			})
		}
	}
	return wg.Wait
}

// seedLoadOrg creates the org acme with loadSites sites.
func seedLoadOrg(b *testing.B, url, key string) {
	b.Helper()
	put := func(path string, body any) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPut, url+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatalf("PUT %s: %v", path, err)
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			b.Fatalf("PUT %s: %d %s", path, res.StatusCode, out)
		}
	}
	put("/v1/org", map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"})
	for i := range loadSites {
		put("/v1/org/acme/site", map[string]string{"name": "site-" + strconv.Itoa(i), "type": "local"})
	}
	if !strings.HasPrefix(url, "http://") {
		b.Fatalf("unexpected url %s", url)
	}
}
