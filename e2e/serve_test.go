package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pangolin-gateway/gateway/api"
)

// TestEmbeddedDefault runs what `make run` runs: on an empty data dir it
// prints the root key once and the docs URL, and serves the API with it.
func TestEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	env := []string{"PGW_SERVER__INTEGRATION_PORT=" + port, "PGW_SERVER__HOST=127.0.0.1"}
	env = append(env, "PGW_DATABASE__DATA_DIR="+dir)
	run := func() *proc { return start(t, "pangolin", bin.embedded, env) }
	first := run()
	keyLine := regexp.MustCompile(`(?m)^Root API key \(shown once\): ([a-z0-9]{15}\.[a-z2-7]{40})$`)
	waitFor(t, first, "the root key and docs URL", func() bool {
		return keyLine.MatchString(first.out.String()) && strings.Contains(first.out.String(), "API docs: http://127.0.0.1:"+port+"/v1/docs/")
	})
	key := keyLine.FindStringSubmatch(first.out.String())[1]
	url := "http://127.0.0.1:" + port
	waitFor(t, first, "the API", func() bool {
		res, err := http.Get(url + "/v1/")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	call(t, "PUT", url+"/v1/org", key, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).want(t, 201, "")
	// What the server answers before any route runs is documented too:
	// headers over its limit get the 431 envelope (checked against the spec).
	callWithHeader(t, "GET", url+"/v1/orgs", "Bearer "+strings.Repeat("a", 80<<10), nil).want(t, 431, "")
	first.stop(t)

	// Second start on the same data: no new key, the old one still works.
	second := run()
	waitFor(t, second, "the docs URL", func() bool { return strings.Contains(second.out.String(), "API docs:") })
	if keyLine.MatchString(second.out.String()) {
		t.Fatal("a second root key was printed on a non-empty database")
	}
	waitFor(t, second, "the API", func() bool {
		res, err := http.Get(url + "/v1/")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	call(t, "GET", url+"/v1/org/acme", key, nil).want(t, 200, "")
}

// The gateway refuses to serve with the flag off and names the key.
func TestGatewayNeedsTheFlag(t *testing.T) {
	cmd := exec.Command(bin.gate)
	cmd.Env = []string{"PGW_CORE__TOKEN=" + testCoreToken, "PGW_SERVER__INTEGRATION_PORT=" + strconv.Itoa(freePort(t))}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("gateway started with flags.enable_integration_api off: %s", out)
	}
	if !bytes.Contains(out, []byte("flags.enable_integration_api")) {
		t.Fatalf("the refusal does not name the key: %s", out)
	}
}

// Health, docs and unknown routes.
func TestServedBesidesTheAPI(t *testing.T) {
	s := newStack(t, "")
	get := func(path string, follow bool) (*http.Response, []byte) {
		t.Helper()
		c := http.Client{}
		if !follow {
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		}
		res, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, p := range []string{"/v1/", "/v1"} {
		if res, b := get(p, false); res.StatusCode != 200 || string(b) != `{"message":"Healthy"}` {
			t.Fatalf("GET %s = %d %s", p, res.StatusCode, b)
		}
	}
	if res, _ := get("/v1/docs", false); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/v1/docs/" {
		t.Fatalf("GET /v1/docs = %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, b := get("/v1/docs/", false); res.StatusCode != 200 || !bytes.Contains(b, []byte("swagger-ui")) ||
		!bytes.Contains(b, []byte("<title>Pangolin Integration API</title>")) {
		t.Fatalf("GET /v1/docs/ = %d %.200s", res.StatusCode, b)
	}
	// The UI reads the OpenAPI 3 spec, and keeps no key in the browser.
	if res, b := get("/v1/docs/swagger-initializer.js", false); res.StatusCode != 200 ||
		!bytes.Contains(b, []byte(`url: "/v1/openapi.json"`)) || !bytes.Contains(b, []byte("persistAuthorization: false")) {
		t.Fatalf("GET /v1/docs/swagger-initializer.js = %d %s", res.StatusCode, b)
	}
	spec, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if res, b := get("/v1/openapi.json", false); res.StatusCode != 200 || !bytes.Equal(b, spec) ||
		res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /v1/openapi.json = %d %q, not the spec of the contract", res.StatusCode, res.Header.Get("Content-Type"))
	}
	yaml, err := api.OpenAPIYAML()
	if err != nil {
		t.Fatal(err)
	}
	if res, b := get("/v1/openapi.yaml", false); res.StatusCode != 200 || !bytes.Equal(b, yaml) ||
		res.Header.Get("Content-Type") != "application/yaml; charset=utf-8" {
		t.Fatalf("GET /v1/openapi.yaml = %d %q, not the spec of the contract", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// The Swagger 2.0 spec is gone; its URL leads to the OpenAPI 3 one.
	if res, _ := get("/v1/docs/doc.json", false); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/v1/openapi.json" {
		t.Fatalf("GET /v1/docs/doc.json = %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Unknown routes: the envelope with 404, key or no key.
	call(t, "GET", s.url+"/v1/does-not-exist", "", nil).want(t, 404, "Route not found")
	call(t, "GET", s.url+"/v1/does-not-exist", s.root, nil).want(t, 404, "Route not found")
	call(t, "PATCH", s.url+"/v1/orgs", s.root, nil).want(t, 404, "Route not found")
	call(t, "GET", s.url+"/elsewhere", "", nil).want(t, 404, "")
	// The routes the README lists as not served (enterprise-only, blueprints,
	// request logs and analytics) answer as unknown ones do.
	for _, r := range []struct{ method, path string }{
		{"POST", "/user/u1/add-role/1"}, {"DELETE", "/user/u1/remove-role/1"},
		{"PUT", "/org/acme/idp/oidc"}, {"POST", "/org/acme/idp/1/oidc"}, {"DELETE", "/org/acme/idp/1"},
		{"GET", "/org/acme/idp/1"}, {"GET", "/org/acme/idp"},
		{"PUT", "/org/acme/blueprint"}, {"GET", "/org/acme/blueprint/1"}, {"GET", "/org/acme/blueprints"},
		{"GET", "/org/acme/logs/request"}, {"GET", "/org/acme/logs/request/export"}, {"GET", "/org/acme/logs/analytics"},
	} {
		call(t, r.method, s.url+"/v1"+r.path, s.root, nil).want(t, 404, "Route not found: "+r.method+" /v1"+r.path)
	}
	// A trailing slash is served, not redirected.
	call(t, "GET", s.url+"/v1/orgs/", s.root, nil).want(t, 200, "Organizations retrieved")
}
