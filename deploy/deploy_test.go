// Package deploy_test checks the deployment files (Dockerfiles, the compose
// stack, the Traefik configuration, the Kubernetes manifests and the example
// config) against the code they deploy: every PGW_* variable names a real
// config key, ports are the configured defaults, the environment each
// deployment gives a binary passes that binary's own validation, and the
// Traefik routing of Pangolin's Integration API guide is there.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"pangolin-gateway/config"
)

// Paths are relative to this package's directory, where go test runs.
const (
	root          = ".."
	composeFile   = "../docker-compose.yml"
	exampleFile   = "config.example.yml"
	traefikStatic = "../traefik/traefik_config.yml"
	traefikDyn    = "../traefik/dynamic_config.yml"
	k8sDir        = "kubernetes"
	imageConfig   = "/etc/pangolin/config.yml"
)

// Names from Pangolin's Integration API guide; clients and the end-to-end
// test rely on them.
const (
	routerRedirect = "int-api-router-redirect"
	routerHTTPS    = "int-api-router"
	middleware     = "redirect-to-https"
	service        = "int-api-service"
	certResolver   = "letsencrypt"
	apiRule        = "Host(`api.example.com`)"
	healthPath     = "/v1/"
	// retryMW retries on another replica when a connection fails (ours).
	retryMW = "int-api-retry"
)

// Values the tests substitute for ${VAR} in the compose file and for Secret
// references in the manifests: well-formed, so the configs they produce must
// validate.
var testEnv = map[string]string{
	"PANGOLIN_CORE_TOKEN":    strings.Repeat("t", 40),
	"PANGOLIN_SERVER_SECRET": strings.Repeat("s", 40),
	"POSTGRES_PASSWORD":      "pw0123456789",
}

var testSecrets = map[string]string{
	"core-token":    strings.Repeat("t", 40),
	"server-secret": strings.Repeat("s", 40),
	"redis-url":     "redis://redis:6379/0",
	"database-url":  "postgres://pangolin:pw@postgres:5432/pangolin?sslmode=disable",
}

func gatewayPort() int { return config.Default().Server.IntegrationPort }

func corePort(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(config.Default().Core.ListenAddress)
	if err != nil {
		t.Fatalf("config.Default().Core.ListenAddress: %v", err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("core listen port %q: %v", p, err)
	}
	return n
}

// ---- environment names ----

var envRef = regexp.MustCompile(`PGW_[A-Z0-9_]+`)

func deployFiles(t *testing.T) []string {
	t.Helper()
	files := []string{composeFile, traefikStatic, traefikDyn, exampleFile,
		"Dockerfile.core", "Dockerfile.gateway"}
	k8s, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(k8s) == 0 {
		t.Fatalf("no manifests in %s (%v)", k8sDir, err)
	}
	return append(files, k8s...)
}

func TestEnvNamesAreConfigKeys(t *testing.T) {
	known := map[string]string{}
	for _, k := range config.Keys() {
		known[config.EnvName(k)] = k
	}
	seen := map[string]bool{}
	for _, f := range deployFiles(t) {
		b := readFile(t, f)
		for _, name := range envRef.FindAllString(string(b), -1) {
			seen[name] = true
			if _, ok := known[name]; !ok && !config.IsEnvName(name) {
				t.Errorf("%s: %s is not the env name of any config key (known: %s)", f, name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
		}
	}
	// The deployments cannot work without these; if the scan found none of
	// them it scanned nothing.
	for _, key := range []string{"flags.enable_integration_api", "core.token", "core.address", "server.secret", "redis.url", "database.url", "database.data_dir"} {
		if !seen[config.EnvName(key)] {
			t.Errorf("no deployment file sets %s (%s)", config.EnvName(key), key)
		}
	}
}

// ---- config.example.yml ----

func TestConfigExampleListsEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(t, exampleFile), &doc); err != nil {
		t.Fatalf("%s: %v", exampleFile, err)
	}
	leaves := map[string]*yaml.Node{}
	flattenNodes(doc.Content[0], "", leaves)
	want := config.Keys()
	got := slices.Sorted(maps.Keys(leaves))
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("%s keys differ from config.Keys():\n got  %v\n want %v", exampleFile, got, slices.Sorted(slices.Values(want)))
	}
	for _, k := range want {
		n, ok := leaves[k]
		if !ok {
			continue
		}
		if env := "env: " + config.EnvName(k); !strings.Contains(n.HeadComment, env) {
			t.Errorf("%s: the comment above %s should say %q, has %q", exampleFile, k, env, n.HeadComment)
		}
	}
}

func TestConfigExampleLoadsToDefaults(t *testing.T) {
	clearPGWEnv(t)
	// Load a copy, as an operator would after copying the example.
	tmp := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(tmp, readFile(t, exampleFile), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(tmp)
	if err != nil {
		t.Fatalf("config.Load(%s): %v", exampleFile, err)
	}
	want := config.Default()
	normalize(&got)
	normalize(&want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s does not load to config.Default():\n got  %+v\n want %+v", exampleFile, got, want)
	}
}

// ---- Dockerfiles ----

type instruction struct {
	cmd  string // upper case
	args string
}

type stage struct {
	from  string
	instr []instruction
}

func parseDockerfile(t *testing.T, file string) (args map[string]string, stages []stage) {
	t.Helper()
	args = map[string]string{}
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(string(readFile(t, file)), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		cmd, rest, _ := strings.Cut(l, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(rest)}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, stage{from: in.args})
		case len(stages) == 0 && in.cmd == "ARG":
			name, val, _ := strings.Cut(in.args, "=")
			args[name] = val
		case len(stages) == 0:
			t.Fatalf("%s: %s before the first FROM", file, in.cmd)
		default:
			stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%s: want a multi-stage build, found %d stage(s)", file, len(stages))
	}
	return args, stages
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s stage) last(cmd string) (string, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return "", false
	}
	return all[len(all)-1], true
}

func execForm(t *testing.T, file, what, s string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("%s: %s must be in exec (JSON) form, the runtime image has no shell: %q", file, what, s)
	}
	return argv
}

func TestDockerfiles(t *testing.T) {
	goMod := string(readFile(t, "../go.mod"))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	goMinor := m[1]
	for _, tc := range []struct {
		name string
		port int
	}{
		{"core", corePort(t)},
		{"gateway", gatewayPort()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := "Dockerfile." + tc.name
			binary := "/usr/local/bin/pangolin-" + tc.name
			args, stages := parseDockerfile(t, file)
			build, final := stages[0], stages[len(stages)-1]

			// Builder: the Go of go.mod, static, trimmed, with a module cache.
			from := os.Expand(build.from, func(k string) string {
				if v, ok := args[k]; ok {
					return v
				}
				return "$" + k
			})
			if !strings.Contains(from, "golang:"+goMinor) {
				t.Errorf("%s: builder is %q, want golang:%s (go.mod says go %s)", file, from, goMinor, goMinor)
			}
			runs := strings.Join(build.all("RUN"), "\n")
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/pangolin-" + tc.name, "--mount=type=cache,target=/go/pkg/mod"} {
				if !strings.Contains(runs, want) {
					t.Errorf("%s: build stage RUN lacks %s", file, want)
				}
			}

			// Runtime: non-root.
			user, hasUser := final.last("USER")
			switch {
			case hasUser:
				name, _, _ := strings.Cut(user, ":")
				if name == "root" || name == "0" {
					t.Errorf("%s: final stage runs as %q", file, user)
				}
			case !strings.Contains(final.from, ":nonroot"):
				t.Errorf("%s: final stage %q has no USER and is not a nonroot base", file, final.from)
			}

			// Port, binary, config, healthcheck.
			if got := final.all("EXPOSE"); !slices.Equal(got, []string{strconv.Itoa(tc.port)}) {
				t.Errorf("%s: EXPOSE %v, want %d", file, got, tc.port)
			}
			copies := strings.Join(final.all("COPY"), "\n")
			if !strings.Contains(copies, "/out/pangolin-"+tc.name+" "+binary) {
				t.Errorf("%s: final stage does not COPY the binary to %s", file, binary)
			}
			if !strings.Contains(copies, "deploy/"+exampleFile+" "+imageConfig) {
				t.Errorf("%s: final stage does not COPY deploy/%s to %s", file, exampleFile, imageConfig)
			}
			ep, ok := final.last("ENTRYPOINT")
			if !ok {
				t.Fatalf("%s: no ENTRYPOINT", file)
			}
			if argv := execForm(t, file, "ENTRYPOINT", ep); !slices.Equal(argv, []string{binary, "--config", imageConfig}) {
				t.Errorf("%s: ENTRYPOINT %v, want [%s --config %s]", file, argv, binary, imageConfig)
			}
			hc, ok := final.last("HEALTHCHECK")
			if !ok {
				t.Fatalf("%s: no HEALTHCHECK", file)
			}
			_, cmd, ok := strings.Cut(hc, "CMD ")
			if !ok {
				t.Fatalf("%s: HEALTHCHECK without CMD: %q", file, hc)
			}
			if argv := execForm(t, file, "HEALTHCHECK", cmd); argv[0] != binary || argv[len(argv)-1] != "healthcheck" {
				t.Errorf("%s: HEALTHCHECK runs %v, want %s ... healthcheck", file, argv, binary)
			}

			if tc.name == "core" {
				env := strings.Join(final.all("ENV"), "\n")
				if !strings.Contains(env, config.EnvName("database.data_dir")+"=/var/lib/pangolin") {
					t.Errorf("%s: want ENV %s=/var/lib/pangolin, have %q", file, config.EnvName("database.data_dir"), env)
				}
				if v := strings.Join(final.all("VOLUME"), " "); !strings.Contains(v, "/var/lib/pangolin") {
					t.Errorf("%s: no VOLUME /var/lib/pangolin", file)
				}
				if !regexp.MustCompile(`--chown=65532:65532 \S+ /var/lib/pangolin`).MatchString(copies) {
					t.Errorf("%s: /var/lib/pangolin is not created owned by the runtime user", file)
				}
			}

			// What the build needs is in the context.
			ignore := dockerignore(t, file+".dockerignore")
			for _, p := range []string{"go.mod", "go.sum", "deploy/" + exampleFile, "cmd/pangolin-" + tc.name + "/main.go"} {
				if pat := ignore(p); pat != "" {
					t.Errorf("%s.dockerignore: pattern %q drops %s, which the build needs", file, pat, p)
				}
			}
			for _, p := range []string{".git", "build/traefik/traefik"} {
				if ignore(p) == "" {
					t.Errorf("%s.dockerignore: %s is not excluded", file, p)
				}
			}
		})
	}
}

// dockerignore returns a matcher that names the pattern excluding a path, or
// "" when the path is kept. It handles the patterns the files use (no "!").
func dockerignore(t *testing.T, file string) func(string) string {
	t.Helper()
	var pats []string
	for _, l := range strings.Split(string(readFile(t, file)), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			t.Fatalf("%s: negated patterns are not handled by this test", file)
		}
		pats = append(pats, l)
	}
	return func(p string) string {
		parts := strings.Split(p, "/")
		for _, pat := range pats {
			for i := 1; i <= len(parts); i++ {
				prefix := strings.Join(parts[:i], "/")
				if ok, _ := path.Match(pat, prefix); ok {
					return pat
				}
				// "**/x" matches x at any depth.
				if rest, ok := strings.CutPrefix(pat, "**/"); ok {
					if ok, _ := path.Match(rest, parts[i-1]); ok {
						return pat
					}
				}
			}
		}
		return ""
	}
}

// ---- Traefik ----

func TestTraefik(t *testing.T) {
	static := readYAML(t, traefikStatic)
	dyn := readYAML(t, traefikDyn)

	entryPoints := asMap(t, get(t, static, "entryPoints"))
	for name, addr := range map[string]string{"web": ":80", "websecure": ":443"} {
		if got := asString(t, get(t, entryPoints, name, "address")); got != addr {
			t.Errorf("%s: entryPoints.%s.address = %q, want %q", traefikStatic, name, got, addr)
		}
	}
	if got := asString(t, get(t, static, "providers", "file", "filename")); path.Base(got) != path.Base(traefikDyn) {
		t.Errorf("%s: providers.file.filename = %q, want the dynamic config %s", traefikStatic, got, path.Base(traefikDyn))
	}
	acme := asMap(t, get(t, static, "certificatesResolvers", certResolver, "acme"))
	if ep := asString(t, get(t, acme, "httpChallenge", "entryPoint")); ep != "web" {
		t.Errorf("%s: acme httpChallenge on %q, want web", traefikStatic, ep)
	}
	for _, k := range []string{"email", "storage"} {
		if asString(t, get(t, acme, k)) == "" {
			t.Errorf("%s: acme.%s is empty", traefikStatic, k)
		}
	}
	// The container healthcheck (traefik healthcheck) needs ping on a
	// defined entry point.
	if ep := asString(t, get(t, static, "ping", "entryPoint")); entryPoints[ep] == nil {
		t.Errorf("%s: ping.entryPoint %q is not an entry point", traefikStatic, ep)
	}

	http := asMap(t, get(t, dyn, "http"))
	routers := asMap(t, get(t, http, "routers"))
	services := asMap(t, get(t, http, "services"))
	middlewares := asMap(t, get(t, http, "middlewares"))
	if s := asString(t, get(t, middlewares, middleware, "redirectScheme", "scheme")); s != "https" {
		t.Errorf("%s: %s redirects to scheme %q", traefikDyn, middleware, s)
	}
	// With one replica stopping, a retry must be able to reach another.
	if n, _ := get(t, middlewares, retryMW, "retry", "attempts").(int); n < 2 {
		t.Errorf("%s: %s retry.attempts %v, want >= 2", traefikDyn, retryMW, get(t, middlewares, retryMW, "retry", "attempts"))
	}
	for name, want := range map[string]struct {
		entryPoint  string
		middlewares []string
		tls         bool
	}{
		routerRedirect: {"web", []string{middleware}, false},
		routerHTTPS:    {"websecure", []string{retryMW}, true},
	} {
		r := asMap(t, get(t, routers, name))
		if rule := asString(t, r["rule"]); rule != apiRule {
			t.Errorf("%s: router %s rule %q, want %q", traefikDyn, name, rule, apiRule)
		}
		if svc := asString(t, r["service"]); svc != service {
			t.Errorf("%s: router %s service %q, want %s", traefikDyn, name, svc, service)
		}
		if eps := asStrings(t, r["entryPoints"]); !slices.Equal(eps, []string{want.entryPoint}) {
			t.Errorf("%s: router %s entryPoints %v, want [%s]", traefikDyn, name, eps, want.entryPoint)
		}
		var mws []string
		if r["middlewares"] != nil {
			mws = asStrings(t, r["middlewares"])
		}
		if !slices.Equal(mws, want.middlewares) {
			t.Errorf("%s: router %s middlewares %v, want %v", traefikDyn, name, mws, want.middlewares)
		}
		if want.tls {
			if cr := asString(t, get(t, r, "tls", "certResolver")); cr != certResolver {
				t.Errorf("%s: router %s tls.certResolver %q, want %s", traefikDyn, name, cr, certResolver)
			}
		} else if r["tls"] != nil {
			t.Errorf("%s: router %s on web must not have tls", traefikDyn, name)
		}
	}
	// Every reference resolves.
	for name, r := range routers {
		r := asMap(t, r)
		for _, ep := range asStrings(t, r["entryPoints"]) {
			if entryPoints[ep] == nil {
				t.Errorf("%s: router %s uses undefined entry point %q", traefikDyn, name, ep)
			}
		}
		if services[asString(t, r["service"])] == nil {
			t.Errorf("%s: router %s uses undefined service %q", traefikDyn, name, r["service"])
		}
		if r["middlewares"] != nil {
			for _, mw := range asStrings(t, r["middlewares"]) {
				if middlewares[mw] == nil {
					t.Errorf("%s: router %s uses undefined middleware %q", traefikDyn, name, mw)
				}
			}
		}
	}

	lb := asMap(t, get(t, services, service, "loadBalancer"))
	if p := asString(t, get(t, lb, "healthCheck", "path")); p != healthPath {
		t.Errorf("%s: healthCheck.path %q, want %s", traefikDyn, p, healthPath)
	}
	// A draining replica fails the health check for server.shutdown_delay;
	// Traefik must look at least once meanwhile, with time to spare.
	interval := duration(t, get(t, lb, "healthCheck", "interval"))
	timeout := duration(t, get(t, lb, "healthCheck", "timeout"))
	if delay := config.Default().Server.ShutdownDelay; interval+timeout >= delay {
		t.Errorf("%s: healthCheck interval %v + timeout %v >= server.shutdown_delay %v: a draining replica may still get requests when it stops accepting", traefikDyn, interval, timeout, delay)
	}

	// One server per compose replica, by the container names compose gives
	// them (<project>-gateway-<n>), so Traefik balances over every replica.
	servers := asList(t, lb["servers"])
	composeDoc := readYAML(t, composeFile)
	project := asString(t, get(t, composeDoc, "name"))
	replicas, _ := get(t, composeDoc, "services", "gateway", "deploy", "replicas").(int)
	var hosts, want []string
	for i := range servers {
		u, err := url.Parse(asString(t, get(t, servers, i, "url")))
		if err != nil {
			t.Fatalf("%s: server url: %v", traefikDyn, err)
		}
		if u.Scheme != "http" || u.Port() != strconv.Itoa(gatewayPort()) {
			t.Errorf("%s: server %s, want http on the gateway port %d", traefikDyn, u, gatewayPort())
		}
		hosts = append(hosts, u.Hostname())
	}
	for i := 1; i <= replicas; i++ {
		want = append(want, fmt.Sprintf("%s-gateway-%d", project, i))
	}
	if len(want) < 2 || !slices.Equal(hosts, want) {
		t.Errorf("%s: %s servers %v, want one per gateway replica of %s: %v", traefikDyn, service, hosts, composeFile, want)
	}
}

// duration parses a Traefik duration ("2s", or a number of seconds).
func duration(t *testing.T, v any) time.Duration {
	t.Helper()
	if n, ok := v.(int); ok {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(asString(t, v))
	if err != nil {
		t.Fatalf("duration %v: %v", v, err)
	}
	return d
}

// ---- docker-compose.yml ----

func TestCompose(t *testing.T) {
	doc := readYAML(t, composeFile)
	services := asMap(t, get(t, doc, "services"))
	for name, image := range map[string]string{"traefik": "traefik:v3.6", "redis": "redis:7-alpine", "postgres": "postgres:16-alpine", "core": "", "gateway": ""} {
		s, ok := services[name]
		if !ok {
			t.Errorf("%s: no service %s", composeFile, name)
			continue
		}
		if image != "" && asString(t, get(t, s, "image")) != image {
			t.Errorf("%s: %s image %q, want %s", composeFile, name, get(t, s, "image"), image)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Only Traefik publishes ports, and they are its entry points.
	for name, s := range services {
		if _, has := asMap(t, s)["ports"]; has != (name == "traefik") {
			t.Errorf("%s: service %s publishes ports: %v (only traefik should)", composeFile, name, has)
		}
	}
	static := readYAML(t, traefikStatic)
	var published []string
	for _, p := range asList(t, get(t, services, "traefik", "ports")) {
		published = append(published, asString(t, p))
	}
	for _, ep := range []string{"web", "websecure"} {
		_, port, _ := net.SplitHostPort(asString(t, get(t, static, "entryPoints", ep, "address")))
		if !slices.ContainsFunc(published, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
			t.Errorf("%s: traefik does not publish entry point %s (port %s): %v", composeFile, ep, port, published)
		}
	}

	// Traefik reads the files of traefik/ where its config says they are.
	var mount string
	for _, v := range asList(t, get(t, services, "traefik", "volumes")) {
		if src, dst, _ := strings.Cut(asString(t, v), ":"); src == "./traefik" {
			mount, _, _ = strings.Cut(dst, ":")
		}
	}
	if mount == "" {
		t.Fatalf("%s: traefik does not mount ./traefik", composeFile)
	}
	cmd := strings.Join(asStrings(t, get(t, services, "traefik", "command")), " ")
	if want := "--configFile=" + path.Join(mount, path.Base(traefikStatic)); !strings.Contains(cmd, want) {
		t.Errorf("%s: traefik command %q lacks %s", composeFile, cmd, want)
	}
	if got, want := asString(t, get(t, static, "providers", "file", "filename")), path.Join(mount, path.Base(traefikDyn)); got != want {
		t.Errorf("%s: providers.file.filename %q, but compose mounts it at %s", traefikStatic, got, want)
	}

	// Healthchecks everywhere.
	for name, s := range services {
		s := asMap(t, s)
		if hc, ok := s["healthcheck"]; ok {
			test := asStrings(t, get(t, hc, "test"))
			if len(test) < 2 || test[0] == "NONE" || asMap(t, hc)["disable"] == true {
				t.Errorf("%s: service %s healthcheck %v does nothing", composeFile, name, test)
			}
			continue
		}
		if b, ok := s["build"]; ok {
			_, stages := parseDockerfile(t, filepath.Join(root, asString(t, get(t, b, "dockerfile"))))
			if _, ok := stages[len(stages)-1].last("HEALTHCHECK"); ok {
				continue
			}
		}
		t.Errorf("%s: service %s has no healthcheck", composeFile, name)
	}

	// Built services: their Dockerfile, their healthcheck subcommand.
	for _, name := range []string{"core", "gateway"} {
		b := asMap(t, get(t, services, name, "build"))
		if ctx := asString(t, b["context"]); ctx != "." {
			t.Errorf("%s: %s build context %q, want the repository root", composeFile, name, ctx)
		}
		if df := asString(t, b["dockerfile"]); df != "deploy/Dockerfile."+name {
			t.Errorf("%s: %s dockerfile %q", composeFile, name, df)
		}
		test := asStrings(t, get(t, services, name, "healthcheck", "test"))
		if !slices.Contains(test, "/usr/local/bin/pangolin-"+name) || test[len(test)-1] != "healthcheck" {
			t.Errorf("%s: %s healthcheck %v does not run pangolin-%s healthcheck", composeFile, name, test, name)
		}
	}

	gw := asMap(t, services["gateway"])
	if n, ok := get(t, gw, "deploy", "replicas").(int); !ok || n < 2 {
		t.Errorf("%s: gateway deploy.replicas = %v, want >= 2", composeFile, get(t, gw, "deploy", "replicas"))
	}
	if _, ok := gw["container_name"]; ok {
		t.Errorf("%s: gateway has container_name, which forbids replicas", composeFile)
	}
	dependsOn(t, services, "core", "postgres")
	dependsOn(t, services, "gateway", "core")
	dependsOn(t, services, "gateway", "redis")

	coreEnv := composeEnv(t, services, "core")
	gwEnv := composeEnv(t, services, "gateway")

	if v, err := strconv.ParseBool(gwEnv[config.EnvName("flags.enable_integration_api")]); err != nil || !v {
		t.Errorf("%s: gateway %s = %q, want true", composeFile, config.EnvName("flags.enable_integration_api"), gwEnv[config.EnvName("flags.enable_integration_api")])
	}
	// Secrets come from the operator's environment, never from defaults.
	required := regexp.MustCompile(`^\$\{[A-Z0-9_]+:\?[^}]*\}$`)
	for _, c := range []struct{ svc, key string }{{"core", "core.token"}, {"gateway", "core.token"}, {"gateway", "server.secret"}} {
		raw := asString(t, get(t, services, c.svc, "environment", config.EnvName(c.key)))
		if !required.MatchString(raw) {
			t.Errorf("%s: %s %s = %q, want ${VAR:?message}", composeFile, c.svc, config.EnvName(c.key), raw)
		}
	}
	if a, b := asString(t, get(t, services, "core", "environment", config.EnvName("core.token"))), asString(t, get(t, services, "gateway", "environment", config.EnvName("core.token"))); a != b {
		t.Errorf("%s: core and gateway take %s from different places: %q, %q", composeFile, config.EnvName("core.token"), a, b)
	}

	// The environment given to each binary passes its validation and points
	// at the right services.
	coreCfg := loadWithEnv(t, coreEnv)
	if err := coreCfg.ValidateCore(); err != nil {
		t.Errorf("%s: core environment does not validate: %v", composeFile, err)
	}
	gwCfg := loadWithEnv(t, gwEnv)
	if err := gwCfg.ValidateGateway(); err != nil {
		t.Errorf("%s: gateway environment does not validate: %v", composeFile, err)
	}
	if gwCfg.Server.IntegrationPort != gatewayPort() {
		t.Errorf("%s: gateway listens on %d, Traefik and the image expect %d", composeFile, gwCfg.Server.IntegrationPort, gatewayPort())
	}
	// docker stop must leave the drain its time before SIGKILL.
	grace, err := time.ParseDuration(asString(t, get(t, gw, "stop_grace_period")))
	if need := gwCfg.Server.ShutdownDelay + gwCfg.Server.ShutdownTimeout; err != nil || grace <= need {
		t.Errorf("%s: gateway stop_grace_period %v (%v), want more than server.shutdown_delay + server.shutdown_timeout = %v", composeFile, grace, err, need)
	}
	// The project name fixes the replicas' container names, which the
	// Traefik server list uses (TestTraefik).
	if name, _ := doc["name"].(string); name == "" {
		t.Errorf("%s: no top-level name: the gateway replicas' container names would depend on the directory", composeFile)
	}
	if gwCfg.Core.Token != coreCfg.Core.Token {
		t.Errorf("%s: gateway and core get different core tokens", composeFile)
	}
	host, port := dialTarget(t, gwCfg.Core.Address)
	if _, listen, _ := net.SplitHostPort(coreCfg.Core.ListenAddress); host != "core" || port != listen || port != strconv.Itoa(corePort(t)) {
		t.Errorf("%s: gateway dials %s, core service listens on %s (default port %d)", composeFile, gwCfg.Core.Address, coreCfg.Core.ListenAddress, corePort(t))
	}
	if u, err := url.Parse(gwCfg.Redis.URL); err != nil || u.Hostname() != "redis" || u.Port() != "6379" {
		t.Errorf("%s: gateway redis.url %q, want the redis service", composeFile, gwCfg.Redis.URL)
	}
	db, err := url.Parse(coreCfg.Database.URL)
	if err != nil {
		t.Fatalf("%s: core database.url: %v", composeFile, err)
	}
	pgEnv := composeEnv(t, services, "postgres")
	pw, _ := db.User.Password()
	if db.Scheme != "postgres" || db.Hostname() != "postgres" || db.User.Username() != pgEnv["POSTGRES_USER"] ||
		pw != pgEnv["POSTGRES_PASSWORD"] || strings.TrimPrefix(db.Path, "/") != pgEnv["POSTGRES_DB"] {
		t.Errorf("%s: core database.url %q does not match the postgres service (%v)", composeFile, db.Redacted(), pgEnv)
	}
}

func dependsOn(t *testing.T, services map[string]any, svc, dep string) {
	t.Helper()
	cond, _ := asMap(t, get(t, services, svc, "depends_on", dep))["condition"].(string)
	if cond != "service_healthy" {
		t.Errorf("%s: %s depends_on %s with condition %q, want service_healthy", composeFile, svc, dep, cond)
	}
}

// composeEnv returns a service's environment, interpolated the way compose
// does with testEnv as the shell environment.
func composeEnv(t *testing.T, services map[string]any, svc string) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch env := get(t, services, svc, "environment").(type) {
	case map[string]any:
		for k, v := range env {
			out[k] = interpolate(t, fmt.Sprint(v))
		}
	case []any:
		for _, kv := range env {
			k, v, _ := strings.Cut(asString(t, kv), "=")
			out[k] = interpolate(t, v)
		}
	default:
		t.Fatalf("%s: %s environment is %T", composeFile, svc, env)
	}
	return out
}

var varRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

func interpolate(t *testing.T, s string) string {
	t.Helper()
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := varRef.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		v, set := testEnv[name]
		switch {
		case set && (v != "" || !strings.HasPrefix(op, ":")):
			return v
		case strings.HasSuffix(op, "-"):
			return arg
		default:
			t.Fatalf("%s: ${%s} has no default and the test gives it no value", composeFile, name)
			return ""
		}
	})
}

// dialTarget splits a gRPC target (host:port or dns:///host:port).
func dialTarget(t *testing.T, target string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(strings.TrimPrefix(target, "dns:///"))
	if err != nil {
		t.Fatalf("core.address %q: %v", target, err)
	}
	return host, port
}

// ---- Kubernetes ----

type manifest map[string]any

func (m manifest) kind() string { return fmt.Sprint(m["kind"]) }
func (m manifest) name() string {
	md, _ := m["metadata"].(map[string]any)
	return fmt.Sprint(md["name"])
}

func loadManifests(t *testing.T) map[string]manifest {
	t.Helper()
	kust := readYAML(t, filepath.Join(k8sDir, "kustomization.yaml"))
	resources := asStrings(t, get(t, kust, "resources"))
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(resources)), onDisk) {
		t.Errorf("kustomization.yaml resources %v, files in %s %v", resources, k8sDir, onDisk)
	}
	out := map[string]manifest{}
	for _, f := range resources {
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, filepath.Join(k8sDir, f))))
		for {
			// Decode into map[string]any: yaml.v3 would give nested mappings
			// the named type otherwise.
			var raw map[string]any
			err := dec.Decode(&raw)
			m := manifest(raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m == nil {
				continue
			}
			id := m.kind() + "/" + m.name()
			if _, dup := out[id]; dup {
				t.Errorf("%s: %s defined twice", f, id)
			}
			out[id] = m
		}
	}
	return out
}

func need(t *testing.T, ms map[string]manifest, id, apiVersion string) manifest {
	t.Helper()
	m, ok := ms[id]
	if !ok {
		t.Fatalf("no %s in %s (have %v)", id, k8sDir, slices.Sorted(maps.Keys(ms)))
	}
	if got := fmt.Sprint(m["apiVersion"]); got != apiVersion {
		t.Errorf("%s: apiVersion %s, want %s", id, got, apiVersion)
	}
	return m
}

func TestKubernetes(t *testing.T) {
	ms := loadManifests(t)
	secret := need(t, ms, "Secret/pangolin-secrets", "v1")
	secretKeys := map[string]string{}
	for _, field := range []string{"stringData", "data"} {
		if d, ok := secret[field].(map[string]any); ok {
			for k, v := range d {
				secretKeys[k] = fmt.Sprint(v)
			}
		}
	}

	type app struct {
		name  string
		port  int
		probe func(t *testing.T, id string, c map[string]any, probe string)
	}
	apps := []app{
		{"pangolin-core", corePort(t), func(t *testing.T, id string, c map[string]any, probe string) {
			p := asMap(t, get(t, c, probe))
			if g, ok := p["grpc"]; ok {
				if port, _ := asMap(t, g)["port"].(int); port != corePort(t) {
					t.Errorf("%s: %s grpc port %v, want %d", id, probe, port, corePort(t))
				}
				return
			}
			cmd := asStrings(t, get(t, p, "exec", "command"))
			if cmd[0] != "/usr/local/bin/pangolin-core" || cmd[len(cmd)-1] != "healthcheck" {
				t.Errorf("%s: %s runs %v, want pangolin-core ... healthcheck", id, probe, cmd)
			}
		}},
		{"pangolin-gateway", gatewayPort(), func(t *testing.T, id string, c map[string]any, probe string) {
			g := asMap(t, get(t, c, probe, "httpGet"))
			if p := asString(t, g["path"]); p != healthPath {
				t.Errorf("%s: %s path %q, want %s", id, probe, p, healthPath)
			}
			if port := containerPort(t, c, g["port"]); port != gatewayPort() {
				t.Errorf("%s: %s port %v is %d, want %d", id, probe, g["port"], port, gatewayPort())
			}
		}},
	}
	envs := map[string]map[string]string{}
	for _, a := range apps {
		id := "Deployment/" + a.name
		d := need(t, ms, id, "apps/v1")
		labels := asMap(t, get(t, d, "spec", "template", "metadata", "labels"))
		if sel := asMap(t, get(t, d, "spec", "selector", "matchLabels")); !subset(sel, labels) {
			t.Errorf("%s: selector %v does not match its pod labels %v", id, sel, labels)
		}
		pod := asMap(t, get(t, d, "spec", "template", "spec"))
		if get(t, pod, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: pod securityContext.runAsNonRoot is not true", id)
		}
		if uid, _ := asMap(t, pod["securityContext"])["runAsUser"].(int); uid == 0 {
			t.Errorf("%s: pod runAsUser %v, want a non-zero uid", id, asMap(t, pod["securityContext"])["runAsUser"])
		}
		containers := asList(t, pod["containers"])
		if len(containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", id, len(containers))
		}
		c := asMap(t, containers[0])
		if img := asString(t, c["image"]); !strings.HasPrefix(img, a.name) {
			t.Errorf("%s: image %q, want %s (kustomization images: rewrites it)", id, img, a.name)
		}
		sc := asMap(t, get(t, c, "securityContext"))
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
			t.Errorf("%s: container securityContext %v, want readOnlyRootFilesystem true and allowPrivilegeEscalation false", id, sc)
		}
		if v, ok := sc["runAsNonRoot"]; ok && v != true {
			t.Errorf("%s: container runAsNonRoot %v overrides the pod's", id, v)
		}
		if port := containerPort(t, c, asMap(t, get(t, c, "ports", 0))["name"]); port != a.port {
			t.Errorf("%s: containerPort %d, want %d", id, port, a.port)
		}
		a.probe(t, id, c, "readinessProbe")
		a.probe(t, id, c, "livenessProbe")

		// Environment: literal values, and Secret references that resolve.
		env := map[string]string{}
		for _, e := range asList(t, c["env"]) {
			e := asMap(t, e)
			name := asString(t, e["name"])
			if v, ok := e["value"]; ok {
				env[name] = asString(t, v)
				continue
			}
			ref := asMap(t, get(t, e, "valueFrom", "secretKeyRef"))
			if asString(t, ref["name"]) != secret.name() {
				t.Errorf("%s: %s refers to Secret %v, want %s", id, name, ref["name"], secret.name())
			}
			key := asString(t, ref["key"])
			if _, ok := secretKeys[key]; !ok {
				t.Errorf("%s: %s refers to key %q missing from Secret %s", id, name, key, secret.name())
			}
			v, ok := testSecrets[key]
			if !ok {
				t.Fatalf("%s: the test has no value for secret key %q", id, key)
			}
			env[name] = v
		}
		envs[a.name] = env

		svcID := "Service/" + a.name
		svc := need(t, ms, svcID, "v1")
		if sel := asMap(t, get(t, svc, "spec", "selector")); !subset(sel, labels) {
			t.Errorf("%s: selector %v does not match %s pods %v", svcID, sel, id, labels)
		}
		sp := asMap(t, get(t, svc, "spec", "ports", 0))
		if p, _ := sp["port"].(int); p != a.port {
			t.Errorf("%s: port %v, want %d", svcID, sp["port"], a.port)
		}
		if p := containerPort(t, c, sp["targetPort"]); p != a.port {
			t.Errorf("%s: targetPort %v is %d, want %d", svcID, sp["targetPort"], p, a.port)
		}
	}

	gwDep := ms["Deployment/pangolin-gateway"]
	if n, _ := get(t, gwDep, "spec", "replicas").(int); n < 2 {
		t.Errorf("Deployment/pangolin-gateway: replicas %v, want >= 2", get(t, gwDep, "spec", "replicas"))
	}
	gwLabels := asMap(t, get(t, gwDep, "spec", "template", "metadata", "labels"))

	// The configuration each Deployment gives its binary validates.
	coreCfg := loadWithEnv(t, envs["pangolin-core"])
	if err := coreCfg.ValidateCore(); err != nil {
		t.Errorf("Deployment/pangolin-core: environment does not validate: %v", err)
	}
	gwCfg := loadWithEnv(t, envs["pangolin-gateway"])
	if err := gwCfg.ValidateGateway(); err != nil {
		t.Errorf("Deployment/pangolin-gateway: environment does not validate: %v", err)
	}
	if coreCfg.Database.DataDir != "/var/lib/pangolin" {
		t.Errorf("Deployment/pangolin-core: database.data_dir %q, want the volume /var/lib/pangolin", coreCfg.Database.DataDir)
	}
	if host, port := dialTarget(t, gwCfg.Core.Address); host != "pangolin-core" || port != strconv.Itoa(corePort(t)) {
		t.Errorf("Deployment/pangolin-gateway: core.address %q, want Service pangolin-core port %d", gwCfg.Core.Address, corePort(t))
	}
	if gwCfg.Server.IntegrationPort != gatewayPort() {
		t.Errorf("Deployment/pangolin-gateway: integration_port %d, want %d", gwCfg.Server.IntegrationPort, gatewayPort())
	}
	// The kubelet's SIGKILL must come after the gateway's drain.
	grace, _ := get(t, gwDep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if need := gwCfg.Server.ShutdownDelay + gwCfg.Server.ShutdownTimeout; time.Duration(grace)*time.Second <= need {
		t.Errorf("Deployment/pangolin-gateway: terminationGracePeriodSeconds %d, want more than server.shutdown_delay + server.shutdown_timeout = %v", grace, need)
	}
	// dns:/// balances over the addresses the name resolves to: the core
	// Service must be headless for that to be every core pod.
	if strings.HasPrefix(gwCfg.Core.Address, "dns:///") {
		if ip := asMap(t, get(t, ms["Service/pangolin-core"], "spec"))["clusterIP"]; ip != "None" {
			t.Errorf("Service/pangolin-core: clusterIP %v; the gateways dial %s, which needs a headless Service (clusterIP: None) to see every core pod", ip, gwCfg.Core.Address)
		}
	}
	// The shipped placeholders must not start anything.
	placeholder := map[string]string{}
	for _, a := range apps {
		for _, e := range asList(t, get(t, ms["Deployment/"+a.name], "spec", "template", "spec", "containers", 0, "env")) {
			e := asMap(t, e)
			if v, ok := e["value"]; ok {
				placeholder[asString(t, e["name"])] = asString(t, v)
			} else {
				placeholder[asString(t, e["name"])] = secretKeys[asString(t, get(t, e, "valueFrom", "secretKeyRef", "key"))]
			}
		}
	}
	if err := loadWithEnv(t, placeholder).ValidateCore(); err == nil {
		t.Errorf("Secret/pangolin-secrets: its placeholder values pass core validation; they must not")
	}

	hpa := need(t, ms, "HorizontalPodAutoscaler/pangolin-gateway", "autoscaling/v2")
	ref := asMap(t, get(t, hpa, "spec", "scaleTargetRef"))
	if ref["kind"] != "Deployment" || ref["name"] != "pangolin-gateway" {
		t.Errorf("HPA scales %v, want Deployment/pangolin-gateway", ref)
	}
	if n, _ := get(t, hpa, "spec", "minReplicas").(int); n < 2 {
		t.Errorf("HPA minReplicas %v, want >= 2", get(t, hpa, "spec", "minReplicas"))
	}
	if max, _ := get(t, hpa, "spec", "maxReplicas").(int); max < 2 {
		t.Errorf("HPA maxReplicas %v", get(t, hpa, "spec", "maxReplicas"))
	}
	if r := asString(t, get(t, hpa, "spec", "metrics", 0, "resource", "name")); r != "cpu" {
		t.Errorf("HPA scales on %q, want cpu", r)
	}
	if get(t, gwDep, "spec", "template", "spec", "containers", 0, "resources", "requests", "cpu") == nil {
		t.Errorf("Deployment/pangolin-gateway: no CPU request, the HPA cannot compute utilization")
	}

	pdb := need(t, ms, "PodDisruptionBudget/pangolin-gateway", "policy/v1")
	if n, _ := get(t, pdb, "spec", "minAvailable").(int); n != 1 {
		t.Errorf("PDB minAvailable %v, want 1", get(t, pdb, "spec", "minAvailable"))
	}
	if sel := asMap(t, get(t, pdb, "spec", "selector", "matchLabels")); !subset(sel, gwLabels) {
		t.Errorf("PDB selector %v does not match gateway pods %v", sel, gwLabels)
	}

	// IngressRoute: the same route as the Traefik file config.
	dynRule := asString(t, get(t, readYAML(t, traefikDyn), "http", "routers", routerHTTPS, "rule"))
	ir := need(t, ms, "IngressRoute/"+routerHTTPS, "traefik.io/v1alpha1")
	if eps := asStrings(t, get(t, ir, "spec", "entryPoints")); !slices.Equal(eps, []string{"websecure"}) {
		t.Errorf("IngressRoute: entryPoints %v, want [websecure]", eps)
	}
	if cr := asString(t, get(t, ir, "spec", "tls", "certResolver")); cr != certResolver {
		t.Errorf("IngressRoute: certResolver %q, want %s", cr, certResolver)
	}
	for _, id := range []string{"IngressRoute/" + routerHTTPS, "IngressRoute/" + routerRedirect} {
		route := asMap(t, get(t, ms[id], "spec", "routes", 0))
		if m := asString(t, route["match"]); m != dynRule {
			t.Errorf("%s: match %q, want %q as in %s", id, m, dynRule, traefikDyn)
		}
		svc := asMap(t, get(t, route, "services", 0))
		if svc["name"] != "pangolin-gateway" || svc["port"] != gatewayPort() {
			t.Errorf("%s: service %v, want pangolin-gateway port %d", id, svc, gatewayPort())
		}
	}
	need(t, ms, "IngressRoute/"+routerRedirect, "traefik.io/v1alpha1")
	mw := need(t, ms, "Middleware/"+middleware, "traefik.io/v1alpha1")
	if s := get(t, mw, "spec", "redirectScheme", "scheme"); s != "https" {
		t.Errorf("Middleware/%s: scheme %v", middleware, s)
	}
	if m := asString(t, get(t, ms["IngressRoute/"+routerRedirect], "spec", "routes", 0, "middlewares", 0, "name")); m != middleware {
		t.Errorf("IngressRoute/%s: middleware %q, want %s", routerRedirect, m, middleware)
	}
	// The HTTPS route has the middlewares of the file config's router, each
	// with the same settings.
	dynHTTP := asMap(t, get(t, readYAML(t, traefikDyn), "http"))
	var names []string
	for _, m := range asList(t, get(t, ms["IngressRoute/"+routerHTTPS], "spec", "routes", 0, "middlewares")) {
		names = append(names, asString(t, get(t, m, "name")))
	}
	if want := asStrings(t, get(t, dynHTTP, "routers", routerHTTPS, "middlewares")); !slices.Equal(names, want) {
		t.Errorf("IngressRoute/%s: middlewares %v, want %v as in %s", routerHTTPS, names, want, traefikDyn)
	}
	for _, name := range names {
		crd := need(t, ms, "Middleware/"+name, "traefik.io/v1alpha1")
		if got, want := get(t, crd, "spec"), get(t, dynHTTP, "middlewares", name); !reflect.DeepEqual(got, want) {
			t.Errorf("Middleware/%s: spec %v, want %v as in %s", name, got, want, traefikDyn)
		}
	}
}

// containerPort resolves a port given by number or by name in container c.
func containerPort(t *testing.T, c map[string]any, port any) int {
	t.Helper()
	if n, ok := port.(int); ok {
		return n
	}
	for _, p := range asList(t, c["ports"]) {
		p := asMap(t, p)
		if p["name"] == port {
			n, _ := p["containerPort"].(int)
			return n
		}
	}
	t.Fatalf("container %v has no port %v", c["name"], port)
	return 0
}

func subset(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ---- shared helpers ----

// loadWithEnv loads the example config (as the images do) under exactly env.
func loadWithEnv(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	clearPGWEnv(t)
	for k, v := range env {
		if strings.HasPrefix(k, config.EnvPrefix) {
			t.Setenv(k, v)
		}
	}
	c, err := config.Load(exampleFile)
	if err != nil {
		t.Fatalf("config.Load with %v: %v", slices.Sorted(maps.Keys(env)), err)
	}
	clearPGWEnv(t)
	return c
}

func clearPGWEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix) {
			t.Setenv(k, "") // restores it after the test
			os.Unsetenv(k)
		}
	}
}

// normalize makes empty and nil slices compare equal.
func normalize(c *config.Config) {
	if len(c.Server.TrustProxy) == 0 {
		c.Server.TrustProxy = nil
	}
	if len(c.Redis.Addrs) == 0 {
		c.Redis.Addrs = nil
	}
}

func flattenNodes(n *yaml.Node, prefix string, out map[string]*yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			flattenNodes(v, prefix+k.Value+".", out)
			continue
		}
		out[prefix+k.Value] = k
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readYAML(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(readFile(t, name), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// get walks maps by string key and lists by int index, failing the test
// with the path when something is missing.
func get(t *testing.T, v any, keys ...any) any {
	t.Helper()
	if m, ok := v.(manifest); ok {
		v = map[string]any(m)
	}
	for i, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %v", keys[:i+1], keys[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("missing %v", keys[:i+1])
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("missing %v", keys[:i+1])
			}
			v = l[k]
		}
	}
	return v
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want a mapping, got %T %v", v, v)
	}
	return m
}

func asList(t *testing.T, v any) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("want a list, got %T %v", v, v)
	}
	return l
}

func asString(t *testing.T, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("want a string, got %T %v", v, v)
	}
	return s
}

func asStrings(t *testing.T, v any) []string {
	t.Helper()
	var out []string
	for _, e := range asList(t, v) {
		out = append(out, asString(t, e))
	}
	return out
}
