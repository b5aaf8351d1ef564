package e2e

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"pangolin-gateway/internal/testenv"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// An operator scrapes the core and the gateway on their own metrics
// listeners: the series the README lists are there and move with traffic,
// and pprof is served where metrics.pprof asks for it.
func TestMetricsListeners(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	coreMetrics := "127.0.0.1:" + strconv.Itoa(freePort(t))
	gatewayMetrics := "127.0.0.1:" + strconv.Itoa(freePort(t))
	core := startCore(t, "", "PGW_CORE__METRICS_ADDRESS="+coreMetrics, "PGW_METRICS__PPROF=true")
	root := core.createRootKey(t, "metrics-root")
	g := startGateway(t, core.addr, redisURL, "PGW_METRICS__LISTEN_ADDRESS="+gatewayMetrics)

	call(t, "PUT", g.url+"/v1/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).want(t, 201, "")
	traffic := func() {
		for range 3 {
			call(t, "GET", g.url+"/v1/org/acme", root, nil).want(t, 200, "")
		}
		call(t, "GET", g.url+"/v1/org/acme", "aaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", nil).want(t, 401, "")
		call(t, "GET", g.url+"/v1/no/such/route", "", nil).want(t, 404, "")
	}
	traffic()
	gw1, core1 := scrape(t, gatewayMetrics), scrape(t, coreMetrics)
	traffic()
	gw2, core2 := scrape(t, gatewayMetrics), scrape(t, coreMetrics)

	getOrg := corev1.OrgService_GetOrg_FullMethodName
	for _, s := range []struct {
		name      string
		before    metricsPage
		after     metricsPage
		series    string
		labels    []string
		mustGrow  bool
		mustExist bool
	}{
		{"gateway", gw1, gw2, "pangolin_gateway_http_requests_total", []string{`method="GET"`, `route="/v1/org/:orgId"`, `status="200"`}, true, true},
		{"gateway", gw1, gw2, "pangolin_gateway_http_request_duration_seconds_count", []string{`route="/v1/org/:orgId"`, `status="401"`}, true, true},
		{"gateway", gw1, gw2, "pangolin_gateway_http_requests_total", []string{`route="unmatched"`, `status="404"`}, true, true},
		{"gateway", gw1, gw2, "pangolin_gateway_auth_total", []string{`outcome="l1_hit"`}, true, true},
		{"gateway", gw1, gw2, "pangolin_gateway_auth_total", []string{`outcome="rejected"`}, true, true},
		{"gateway", gw1, gw2, "pangolin_gateway_auth_total", []string{`outcome="core_verify"`}, false, true},
		{"gateway", gw1, gw2, "pangolin_gateway_auth_verify_queue_depth", nil, false, true},
		{"gateway", gw1, gw2, "pangolin_gateway_core_call_duration_seconds_count", []string{`method="` + getOrg + `"`, `code="OK"`}, true, true},
		{"gateway", gw1, gw2, "pangolin_gateway_redis_errors_total", []string{`op="get"`}, false, true},
		{"gateway", gw1, gw2, "go_goroutines", nil, false, true},
		{"core", core1, core2, "pangolin_core_grpc_call_duration_seconds_count", []string{`method="` + getOrg + `"`, `code="OK"`}, true, true},
		{"core", core1, core2, "pangolin_core_store_duration_seconds_count", []string{`kind="read"`}, true, true},
		{"core", core1, core2, "pangolin_core_store_duration_seconds_count", []string{`kind="write"`}, false, true},
		{"core", core1, core2, "process_cpu_seconds_total", nil, false, true},
	} {
		before, ok1 := s.before.value(s.series, s.labels...)
		after, ok2 := s.after.value(s.series, s.labels...)
		switch {
		case s.mustExist && !(ok1 && ok2):
			t.Errorf("%s: no series %s%v", s.name, s.series, s.labels)
		case s.mustGrow && after <= before:
			t.Errorf("%s: %s%v did not move with traffic: %v then %v", s.name, s.series, s.labels, before, after)
		}
	}
	if v, _ := gw2.value("pangolin_gateway_auth_total", `outcome="core_verify"`); v < 1 {
		t.Errorf("the root key's first request was not counted as a core verify")
	}
	if v, _ := core2.value("pangolin_core_store_duration_seconds_count", `kind="write"`); v < 1 {
		t.Errorf("creating the org was not counted as a store write")
	}
	for _, l := range []string{gw2.raw, core2.raw} {
		if strings.Contains(l, "/v1/org/acme") {
			t.Errorf("a raw path is a label value; routes must be templates:\n%s", l)
		}
	}

	// pprof: on where metrics.pprof is set (the core here), absent elsewhere.
	if st := statusOf(t, "http://"+coreMetrics+"/debug/pprof/"); st != http.StatusOK {
		t.Errorf("core with metrics.pprof: /debug/pprof/ answered %d", st)
	}
	if st := statusOf(t, "http://"+gatewayMetrics+"/debug/pprof/"); st != http.StatusNotFound {
		t.Errorf("gateway without metrics.pprof: /debug/pprof/ answered %d, want 404", st)
	}
}

// The embedded default serves the core's and the gateway's series on its
// one metrics listener.
func TestMetricsEmbedded(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p := start(t, "pangolin", bin.embedded, []string{
		"PGW_SERVER__INTEGRATION_PORT=" + port, "PGW_SERVER__HOST=127.0.0.1",
		"PGW_DATABASE__DATA_DIR=" + t.TempDir(), "PGW_METRICS__LISTEN_ADDRESS=" + addr,
	})
	waitFor(t, p, "the embedded default's API", func() bool {
		res, err := http.Get("http://127.0.0.1:" + port + "/v1/")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	m := embeddedKeyLine.FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("no root key printed:\n%s", p.out.String())
	}
	call(t, "GET", "http://127.0.0.1:"+port+"/v1/orgs", m[1], nil).want(t, 200, "")
	page := scrape(t, addr)
	for _, series := range []string{"pangolin_gateway_http_requests_total", "pangolin_core_grpc_call_duration_seconds_count", "pangolin_core_store_duration_seconds_count"} {
		if _, ok := page.value(series); !ok {
			t.Errorf("embedded: no series %s", series)
		}
	}
}

// metricsPage is one scrape in Prometheus' text format.
type metricsPage struct {
	raw   string
	lines []string
}

func scrape(t *testing.T, addr string) metricsPage {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %s", addr, res.StatusCode, b)
	}
	p := metricsPage{raw: string(b)}
	sc := bufio.NewScanner(strings.NewReader(p.raw))
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			p.lines = append(p.lines, l)
		}
	}
	return p
}

// value sums the samples of series whose labels include every one given
// (`name="value"`), and says whether there was any.
func (p metricsPage) value(series string, labels ...string) (float64, bool) {
	var sum float64
	found := false
lines:
	for _, l := range p.lines {
		name, rest, _ := strings.Cut(l, "{")
		if !strings.HasPrefix(l, series+"{") && !strings.HasPrefix(l, series+" ") {
			continue
		}
		if strings.Contains(name, " ") {
			rest = ""
		}
		for _, want := range labels {
			if !strings.Contains(rest, want) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func statusOf(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	res.Body.Close()
	return res.StatusCode
}
