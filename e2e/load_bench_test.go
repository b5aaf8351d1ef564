package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
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
	loadSystems  = flag.String("load.systems", "gin,embedded,production", "BenchmarkLoad: the systems to run, comma-separated")
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
	l := load{clients: *loadClients, warmup: 300 * time.Millisecond, measure: *loadDuration}
	client := loadClient(l.clients)
	b.Cleanup(client.CloseIdleConnections)

	var systems []loadSystem
	for _, name := range strings.Split(*loadSystems, ",") {
		switch name {
		case "gin":
			systems = append(systems, loadSystem{name: "gin", url: bareGin(b)})
		case "embedded":
			systems = append(systems, embeddedSystem(b))
		case "production":
			systems = append(systems, productionSystem(b, testenv.PostgresURL(b), testenv.RedisURL(b)))
		default:
			b.Fatalf("-load.systems: no system %q (gin, embedded, production)", name)
		}
	}
	routes := []struct{ name, path string }{
		{"get org", "/v1/org/acme"},
		{"list 20 sites", "/v1/org/acme/sites"},
	}
	for _, s := range systems {
		if s.key != "" {
			seedLoadOrg(b, s.url, s.key)
		}
	}

	results := make([][]loadResult, len(systems))
	cpu := make([][]cellCPU, len(systems))
	for i := range results {
		results[i] = make([]loadResult, len(routes))
		cpu[i] = make([]cellCPU, len(routes))
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
				groups := append([]cpuGroup{{"bench", func() []int { return []int{os.Getpid()} }}}, s.procs...)
				groups = append(groups, cpuGroup{"postgres", pidsNamed("postgres")}, cpuGroup{"redis", pidsNamed("redis-server")})
				before := snapshotCPU(groups)
				res := l.run(client, s.url+r.path, auth)
				cpu[i][j].add(before, snapshotCPU(groups), l.warmup, l.measure)
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

	idx := map[string]int{}
	for i, s := range systems {
		idx[s.name] = i
	}
	// rate and pct read a cell by system name; NaN when it did not run.
	rate := func(system string, route int) float64 {
		if i, ok := idx[system]; ok {
			return results[i][route].rate()
		}
		return math.NaN()
	}
	pct := func(system string, route int, q float64) float64 {
		if i, ok := idx[system]; ok {
			return float64(results[i][route].percentile(q)) / 1e6
		}
		return math.NaN()
	}

	fmt.Printf("\nBenchmarkLoad: %d clients, %d rounds of %s per system and route, GOMAXPROCS %d\n",
		l.clients, *loadRounds, l.measure, runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\troute\treq/s\t×gin\tp50 ms\t×gin\tp99 ms\t×gin\t")
	for _, s := range systems {
		for j, r := range routes {
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f\t%.2f\t%.1f\t\n", s.name, r.name,
				rate(s.name, j), rate(s.name, j)/rate("gin", j),
				pct(s.name, j, 0.5), pct(s.name, j, 0.5)/pct("gin", j, 0.5),
				pct(s.name, j, 0.99), pct(s.name, j, 0.99)/pct("gin", j, 0.99))
		}
	}
	tw.Flush()
	fmt.Println("\nCPU per request in µs (each process's user+system time over the run / requests served;\nbench is this process: the load generator, and bare Gin on its rows), and how busy the machine was:")
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	cols := []string{"bench", "pangolin", "gateway", "core", "postgres", "redis"}
	fmt.Fprintln(tw, "system\troute\t"+strings.Join(cols, "\t")+"\tmachine busy\t")
	for i, s := range systems {
		for j, r := range routes {
			per, busy := cpu[i][j].perRequest(results[i][j].requests)
			fmt.Fprintf(tw, "%s\t%s\t", s.name, r.name)
			for _, c := range cols {
				if v, ok := per[c]; ok && (v >= 0.5 || c != "postgres" && c != "redis") {
					fmt.Fprintf(tw, "%.0f\t", v)
				} else {
					fmt.Fprint(tw, "-\t")
				}
			}
			fmt.Fprintf(tw, "%.0f%%\t\n", busy*100)
		}
	}
	tw.Flush()
	fmt.Printf("\ntargets: embedded/gin %.2f (≥ 0.33) · production/embedded get %.2f, list %.2f (≥ 0.7) · production p99 get %.2f ms, list %.2f ms (≤ 20) · list/get embedded %.2f, production %.2f (≥ 0.5)\n\n",
		rate("embedded", 0)/rate("gin", 0),
		rate("production", 0)/rate("embedded", 0), rate("production", 1)/rate("embedded", 1),
		pct("production", 0, 0.99), pct("production", 1, 0.99),
		rate("embedded", 1)/rate("embedded", 0), rate("production", 1)/rate("production", 0))
	loadMetrics = map[string]float64{}
	for unit, v := range map[string]float64{
		"embedded/gin":        rate("embedded", 0) / rate("gin", 0),
		"production/embedded": rate("production", 0) / rate("embedded", 0),
		"production-p99-ms":   pct("production", 0, 0.99),
	} {
		if !math.IsNaN(v) {
			loadMetrics[unit] = v
		}
	}
	for unit, v := range loadMetrics {
		b.ReportMetric(v, unit)
	}
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
	s.procs = []cpuGroup{{"pangolin", pidOf(p)}}
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
	g := startGateway(b, core.addr, redisURL, gatewayEnv...)
	s.url = g.url
	s.procs = []cpuGroup{{"gateway", pidOf(g.proc)}, {"core", pidOf(core.proc)}}
	return s
}

// loadSystem is a system under load: where it serves, with which key, and
// the pprof listeners of its processes (name → address).
type loadSystem struct {
	name, url, key string
	pprof          map[string]string
	procs          []cpuGroup
}

// cellCPU sums the CPU used over the measured part of a cell's runs.
type cellCPU struct {
	ticks              map[string]float64
	busy, machineTotal uint64
}

// add counts the CPU between two snapshots taken around a run, scaled to
// its measured part (the warm-up is not counted in its requests).
func (c *cellCPU) add(before, after cpuSnapshot, warmup, measure time.Duration) {
	if c.ticks == nil {
		c.ticks = map[string]float64{}
	}
	share := float64(measure) / float64(warmup+measure)
	for name := range after.groups {
		c.ticks[name] += float64(used(before, after, name)) * share
	}
	c.busy += after.busy - before.busy
	c.machineTotal += after.machineTotal - before.machineTotal
}

func (c cellCPU) perRequest(requests int) (map[string]float64, float64) {
	out := map[string]float64{}
	for name, t := range c.ticks {
		if requests > 0 {
			out[name] = t / cpuTicksPerSecond * 1e6 / float64(requests)
		}
	}
	busy := 0.0
	if c.machineTotal > 0 {
		busy = float64(c.busy) / float64(c.machineTotal)
	}
	return out, busy
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
