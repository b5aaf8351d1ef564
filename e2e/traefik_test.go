package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"pangolin-gateway/internal/testenv"
)

// The shipped Traefik configuration and the names the tests rely on.
const (
	traefikStaticFile  = "../traefik/traefik_config.yml"
	traefikDynamicFile = "../traefik/dynamic_config.yml"
	apiHost            = "api.example.com"
	apiService         = "int-api-service"
)

// traefikBinary is the Traefik that scripts/traefik.sh builds (cached under
// build/traefik/<version>/), or $TRAEFIK_BIN. Missing: skip, or fail under
// CI=true (.ci/run builds it).
func traefikBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TRAEFIK_BIN"); p != "" {
		return p
	}
	version := os.Getenv("TRAEFIK_VERSION")
	if version == "" {
		script, err := os.ReadFile("../scripts/traefik.sh")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`TRAEFIK_VERSION:-(v[0-9.]+)`).FindSubmatch(script)
		if m == nil {
			t.Fatal("scripts/traefik.sh: no default TRAEFIK_VERSION")
		}
		version = string(m[1])
	}
	p, err := filepath.Abs(filepath.Join("..", "build", "traefik", version, "traefik"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, "no Traefik binary at %s (build it with `make traefik`, or set TRAEFIK_BIN): %v", p, err)
	}
	return p
}

// traefikProc is Traefik running the project's own configuration, with only
// what loopback needs rewritten.
type traefikProc struct {
	*proc
	web, websecure string // 127.0.0.1:port of the entry points
}

// startTraefik runs Traefik on traefik/traefik_config.yml and
// traefik/dynamic_config.yml as shipped, except: the entry points listen on
// free loopback ports, the file provider reads the rewritten dynamic file,
// ACME stores in the temp dir and its CA is unreachable (no certificate
// offline: Traefik serves its default one), and int-api-service's servers
// are the given backends. It checks that the routers and middlewares it
// runs are exactly the shipped ones, and waits until the API answers
// through websecure.
func startTraefik(t testing.TB, backends ...string) *traefikProc {
	t.Helper()
	path := traefikBinary(t)
	dir := t.TempDir()
	web := "127.0.0.1:" + strconv.Itoa(freePort(t))
	websecure := "127.0.0.1:" + strconv.Itoa(freePort(t))
	staticOut := filepath.Join(dir, "traefik_config.yml")
	dynamicOut := filepath.Join(dir, "dynamic_config.yml")

	static := readYAMLFile(t, traefikStaticFile)
	set(t, static, web, "entryPoints", "web", "address")
	set(t, static, websecure, "entryPoints", "websecure", "address")
	set(t, static, dynamicOut, "providers", "file", "filename")
	set(t, static, filepath.Join(dir, "acme.json"), "certificatesResolvers", "letsencrypt", "acme", "storage")
	set(t, static, "https://127.0.0.1:"+strconv.Itoa(freePort(t))+"/directory", "certificatesResolvers", "letsencrypt", "acme", "caServer")
	writeYAMLFile(t, staticOut, static)

	dynamic := readYAMLFile(t, traefikDynamicFile)
	var servers []any
	for _, b := range backends {
		servers = append(servers, map[string]any{"url": b})
	}
	set(t, dynamic, servers, "http", "services", apiService, "loadBalancer", "servers")
	writeYAMLFile(t, dynamicOut, dynamic)

	// What Traefik will read differs from what we ship only where intended.
	shipped, running := readYAMLFile(t, traefikDynamicFile), readYAMLFile(t, dynamicOut)
	for _, section := range []string{"routers", "middlewares"} {
		if a, b := lookup(t, shipped, "http", section), lookup(t, running, "http", section); !reflect.DeepEqual(a, b) {
			t.Fatalf("http.%s differ from %s:\n shipped %v\n running %v", section, traefikDynamicFile, a, b)
		}
	}
	for _, c := range []map[string]any{shipped, running} {
		delete(lookup(t, c, "http", "services", apiService, "loadBalancer").(map[string]any), "servers")
	}
	if !reflect.DeepEqual(shipped, running) {
		t.Fatalf("%s changed beyond the server list:\n shipped %v\n running %v", traefikDynamicFile, shipped, running)
	}
	shippedStatic, runningStatic := readYAMLFile(t, traefikStaticFile), readYAMLFile(t, staticOut)
	for _, c := range []map[string]any{shippedStatic, runningStatic} {
		delete(lookup(t, c, "entryPoints", "web").(map[string]any), "address")
		delete(lookup(t, c, "entryPoints", "websecure").(map[string]any), "address")
		delete(lookup(t, c, "providers", "file").(map[string]any), "filename")
		acme := lookup(t, c, "certificatesResolvers", "letsencrypt", "acme").(map[string]any)
		delete(acme, "storage")
		delete(acme, "caServer")
	}
	if !reflect.DeepEqual(shippedStatic, runningStatic) {
		t.Fatalf("%s changed beyond addresses and paths:\n shipped %v\n running %v", traefikStaticFile, shippedStatic, runningStatic)
	}

	tr := &traefikProc{
		proc: start(t, "traefik", path, nil, "--configFile="+staticOut),
		web:  web, websecure: websecure,
	}
	c := tr.client("")
	waitFor(t, tr.proc, "the API through Traefik", func() bool {
		res, err := c.Get("https://" + apiHost + "/v1/")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return tr
}

// client reaches Traefik's entry points as http://api.example.com and
// https://api.example.com, from the loopback address localIP ("" = any). It
// accepts Traefik's default certificate and does not follow redirects.
func (tr *traefikProc) client(localIP string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				switch addr {
				case apiHost + ":443":
					addr = tr.websecure
				case apiHost + ":80":
					addr = tr.web
				}
				return d.DialContext(ctx, network, addr)
			},
			// ACME cannot work offline: Traefik serves its self-signed
			// default certificate, which TestTraefik checks by name.
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 64,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestTraefik drives the API through Traefik on the shipped configuration:
// one core on PostgreSQL, two gateway replicas on one Redis.
func TestTraefik(t *testing.T) {
	traefikBinary(t)
	databaseURL := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	core := startCore(t, databaseURL)
	root := core.createRootKey(t, "traefik-root")
	// Traefik reaches the gateways from 127.0.0.1: the only trusted proxy.
	trust := "PGW_SERVER__TRUST_PROXY=127.0.0.1"
	a := startGateway(t, core.addr, redisURL, trust)
	b := startGateway(t, core.addr, redisURL, trust)
	tr := startTraefik(t, a.url, b.url)
	c := tr.client("")
	api := "https://" + apiHost + "/v1"

	t.Run("web redirects to https", func(t *testing.T) {
		res, err := c.Get("http://" + apiHost + "/v1/orgs?limit=5")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode < 300 || res.StatusCode > 308 || loc != api+"/orgs?limit=5" {
			t.Fatalf("web entry point answered %d Location %q, want a redirect to %s/orgs?limit=5", res.StatusCode, loc, api)
		}
	})

	t.Run("websecure serves the API over TLS", func(t *testing.T) {
		res, err := c.Get(api + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Healthy") {
			t.Fatalf("GET /v1/ through Traefik: %d %s", res.StatusCode, body)
		}
		if res.TLS == nil || len(res.TLS.PeerCertificates) == 0 {
			t.Fatal("no TLS on websecure")
		}
		if cn := res.TLS.PeerCertificates[0].Subject.CommonName; cn != "TRAEFIK DEFAULT CERT" {
			t.Fatalf("certificate %q, want Traefik's default (no ACME offline)", cn)
		}
		callVia(t, c, "PUT", api+"/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
			want(t, http.StatusCreated, "Organization created")
		var org struct {
			Org struct {
				OrgID string `json:"orgId"`
			} `json:"org"`
		}
		callVia(t, c, "GET", api+"/org/acme", root, nil).want(t, http.StatusOK, "").decode(t, &org)
		if org.Org.OrgID != "acme" {
			t.Fatalf("GET /org/acme through Traefik: %+v", org)
		}
		callVia(t, c, "GET", api+"/org/acme", "", nil).want(t, http.StatusUnauthorized, "")
		callVia(t, c, "GET", api+"/no-such-route", root, nil).want(t, http.StatusNotFound, "")
	})

	t.Run("Swagger UI loads", func(t *testing.T) {
		for _, tc := range []struct{ path, contentType, contains string }{
			{"/docs/", "text/html", "swagger-ui"},
			{"/openapi.json", "application/json", `"/org/{orgId}"`},
			{"/openapi.yaml", "application/yaml", "openapi: 3.0.3"},
		} {
			res, err := c.Get(api + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), tc.contentType) || !strings.Contains(string(body), tc.contains) {
				t.Fatalf("GET /v1%s through Traefik: %d %q, want 200 %s containing %s (got %.200s)", tc.path, res.StatusCode, res.Header.Get("Content-Type"), tc.contentType, tc.contains, body)
			}
		}
	})

	t.Run("requests are spread over both replicas", func(t *testing.T) {
		served := func(g *gatewayProc) int { return g.lines("msg=request", "route=/v1/orgs ", "status=200") }
		beforeA, beforeB := served(a), served(b)
		const n = 20
		for range n {
			callVia(t, c, "GET", api+"/orgs", root, nil).want(t, http.StatusOK, "")
		}
		// The access log line is written after the answer: allow a moment.
		waitFor(t, tr.proc, "every request in an access log", func() bool {
			return served(a)-beforeA+served(b)-beforeB == n
		})
		da, db := served(a)-beforeA, served(b)-beforeB
		if da == 0 || db == 0 {
			t.Fatalf("of %d requests, replica A served %d and B %d: want both", n, da, db)
		}
		t.Logf("of %d requests, replica A served %d, replica B %d", n, da, db)
	})

	t.Run("client address", func(t *testing.T) {
		// Through Traefik from 127.0.0.7, with a forged X-Forwarded-For:
		// the gateways see 127.0.0.7 (Traefik's X-Forwarded-For, believed
		// because Traefik's 127.0.0.1 is a trusted proxy), never the forgery.
		const viaTraefik, forged1 = "127.0.0.7", "203.0.113.7"
		req, _ := http.NewRequest("GET", api+"/", nil)
		req.Header.Set("X-Forwarded-For", forged1)
		do(t, tr.client(viaTraefik), req)

		// Straight to a gateway from an untrusted peer: its header is ignored.
		const untrusted, forged2 = "127.0.0.8", "203.0.113.8"
		req, _ = http.NewRequest("GET", a.url+"/v1/", nil)
		req.Header.Set("X-Forwarded-For", forged2)
		do(t, clientFrom(untrusted), req)

		// From the trusted proxy's address the header is believed.
		const claimed = "203.0.113.9"
		req, _ = http.NewRequest("GET", a.url+"/v1/", nil)
		req.Header.Set("X-Forwarded-For", claimed)
		do(t, clientFrom("127.0.0.1"), req)

		seen := func(ip string) int {
			return a.lines("msg=request", "client="+ip+" ") + b.lines("msg=request", "client="+ip+" ")
		}
		waitFor(t, a.proc, "the access log lines", func() bool {
			return seen(viaTraefik) > 0 && seen(untrusted) > 0 && seen(claimed) > 0
		})
		for _, ip := range []string{forged1, forged2} {
			if n := seen(ip); n != 0 {
				t.Errorf("a gateway took the forged X-Forwarded-For %s as the client address (%d lines)", ip, n)
			}
		}
	})
}

// do sends req and fails unless it answers 200.
func do(t *testing.T, c *http.Client, req *http.Request) {
	t.Helper()
	req.Host = apiHost
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d", req.Method, req.URL, res.StatusCode)
	}
}

// clientFrom is a plain HTTP client whose connections come from localIP.
func clientFrom(localIP string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// ---- YAML of the shipped configuration ----

func readYAMLFile(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func writeYAMLFile(t testing.TB, path string, m map[string]any) {
	t.Helper()
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lookup walks nested mappings, failing the test if a key is missing.
func lookup(t testing.TB, m map[string]any, keys ...string) any {
	t.Helper()
	var v any = m
	for i, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is not a mapping", strings.Join(keys[:i], "."))
		}
		if v, ok = mm[k]; !ok {
			t.Fatalf("the shipped configuration has no %s", strings.Join(keys[:i+1], "."))
		}
	}
	return v
}

// set replaces the value at an existing key path: the rewrite only changes
// fields the shipped file has.
func set(t testing.TB, m map[string]any, value any, keys ...string) {
	t.Helper()
	lookup(t, m, keys...)
	parent := lookup(t, m, keys[:len(keys)-1]...).(map[string]any)
	parent[keys[len(keys)-1]] = value
}

// TestTraefikReplicaStop stops one gateway replica (SIGTERM) in the middle
// of a steady stream of reads and writes through Traefik: not one request
// fails, and the stream goes on on the other replica. The replica drains
// (health route 503 for server.shutdown_delay, so Traefik's health check
// takes it out; then it finishes what is in flight); Traefik's retry
// middleware covers a connection refused in between.
func TestTraefikReplicaStop(t *testing.T) {
	traefikBinary(t)
	databaseURL := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	core := startCore(t, databaseURL)
	root := core.createRootKey(t, "stop-root")
	// 3s: longer than the shipped health check interval (2s).
	drain := "PGW_SERVER__SHUTDOWN_DELAY=3s"
	a := startGateway(t, core.addr, redisURL, drain)
	b := startGateway(t, core.addr, redisURL, drain)
	tr := startTraefik(t, a.url, b.url)
	c := tr.client("")
	api := "https://" + apiHost + "/v1"
	callVia(t, c, "PUT", api+"/org", root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "Organization created")

	// Four clients: each alternates a read and a write of the org.
	type result struct {
		status int
		err    error
		what   string
	}
	results := make(chan result, 1<<16)
	stop := make(chan struct{})
	var workers sync.WaitGroup
	for w := range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", api+"/org/acme", nil)
				if i%2 == 1 {
					req, _ = http.NewRequest("POST", api+"/org/acme", strings.NewReader(`{"name":"Acme `+strconv.Itoa(w)+`-`+strconv.Itoa(i)+`"}`))
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Authorization", "Bearer "+root)
				res, err := c.Do(req)
				r := result{err: err, what: req.Method + " " + req.URL.Path}
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					r.status = res.StatusCode
				}
				results <- r
			}
		}()
	}
	served := func(g *gatewayProc) int { return g.lines("msg=request", "route=/v1/org/:orgId ") }
	waitFor(t, a.proc, "both replicas serving the stream", func() bool { return served(a) >= 20 && served(b) >= 20 })

	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatal("replica A did not exit after SIGTERM")
	}
	if _, ok := a.exited(); !ok {
		t.Errorf("replica A exited with %v, want status 0", a.cmd.ProcessState)
	}
	// The stream continues on B alone.
	atExit := served(b)
	waitFor(t, b.proc, "the stream to continue on replica B", func() bool { return served(b) >= atExit+100 })
	close(stop)
	workers.Wait()
	close(results)

	total, failed := 0, 0
	for r := range results {
		total++
		if r.err != nil || r.status != http.StatusOK {
			failed++
			if failed <= 10 {
				t.Errorf("%s: status %d, error %v", r.what, r.status, r.err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d requests failed while replica A stopped", failed, total)
	}
	if !strings.Contains(a.out.String(), "gateway: draining") {
		t.Errorf("replica A did not drain before stopping")
	}
	t.Logf("%d requests, none failed; replica A served %d, replica B %d", total, served(a), served(b))
}
