package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// gatewayConfig is a gateway configuration that validates.
func gatewayConfig() Config {
	c := Default()
	c.Flags.EnableIntegrationAPI = true
	c.Core.Token = strings.Repeat("t", 40)
	c.Server.Secret = strings.Repeat("s", 40)
	return c
}

func loadYAML(t *testing.T, doc string, env ...string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return load(path, func() []string { return env })
}

// Pangolin's config says trust_proxy: 1 (a hop count). The gateway refuses
// it, whatever way it is written, with an error naming the key and saying
// what to write instead; addresses and CIDRs load as a list.
func TestTrustProxyHopCountIsRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		doc string
		env []string
	}{
		"yaml integer": {doc: "server:\n  trust_proxy: 1\n"},
		"yaml boolean": {doc: "server:\n  trust_proxy: true\n"},
		"yaml list":    {doc: "server:\n  trust_proxy: [2]\n"},
		"environment":  {doc: "", env: []string{"PGW_SERVER__TRUST_PROXY=1"}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := loadYAML(t, tc.doc, tc.env...)
			if err != nil {
				// Refusing at load time is fine too, if it names the key.
				if !strings.Contains(err.Error(), "server.trust_proxy") {
					t.Fatalf("load error does not name server.trust_proxy: %v", err)
				}
				return
			}
			g := gatewayConfig()
			g.Server.TrustProxy = c.Server.TrustProxy
			err = g.ValidateGateway()
			if err == nil || !strings.Contains(err.Error(), "server.trust_proxy") || !strings.Contains(err.Error(), "hop-count") {
				t.Fatalf("trust_proxy %q: want an error naming server.trust_proxy and the hop count, got %v", c.Server.TrustProxy, err)
			}
		})
	}

	c, err := loadYAML(t, "server:\n  trust_proxy: [127.0.0.1, 172.18.0.0/16, \"::1\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	g := gatewayConfig()
	g.Server.TrustProxy = c.Server.TrustProxy
	if err := g.ValidateGateway(); err != nil {
		t.Fatalf("addresses and CIDRs: %v", err)
	}
	if want := []string{"127.0.0.1", "172.18.0.0/16", "::1"}; !slices.Equal(c.Server.TrustProxy, want) {
		t.Fatalf("trust_proxy loaded as %q, want %q", c.Server.TrustProxy, want)
	}
	g.Server.TrustProxy = []string{"traefik"}
	if err := g.ValidateGateway(); err == nil || !strings.Contains(err.Error(), `server.trust_proxy: "traefik" is neither`) {
		t.Fatalf("a host name: got %v", err)
	}
}

func TestShutdownKeys(t *testing.T) {
	c, err := loadYAML(t, "", "PGW_SERVER__SHUTDOWN_DELAY=250ms")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ShutdownDelay != 250*time.Millisecond {
		t.Fatalf("shutdown_delay = %v", c.Server.ShutdownDelay)
	}
	g := gatewayConfig()
	g.Server.ShutdownDelay = -time.Second
	g.Server.ShutdownTimeout = 0
	err = g.ValidateGateway()
	for _, key := range []string{"server.shutdown_delay", "server.shutdown_timeout"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("want an error naming %s, got %v", key, err)
		}
	}
	core := Default()
	core.Core.Token = strings.Repeat("t", 40)
	core.Core.ChangePollInterval = 0
	if err := core.ValidateCore(); err == nil || !strings.Contains(err.Error(), "core.change_poll_interval") {
		t.Errorf("want an error naming core.change_poll_interval, got %v", err)
	}
}

func TestRedisModes(t *testing.T) {
	c, err := loadYAML(t, "redis:\n  addrs: [10.0.0.1:26379, 10.0.0.2:26379]\n  master_name: mymaster\n  db: 2\n",
		"PGW_REDIS__PASSWORD=pw", "PGW_REDIS__SENTINEL_PASSWORD=spw")
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Mode() != RedisSentinel || c.Redis.DB != 2 || c.Redis.Password != "pw" || c.Redis.SentinelPassword != "spw" ||
		!slices.Equal(c.Redis.Addrs, []string{"10.0.0.1:26379", "10.0.0.2:26379"}) {
		t.Fatalf("sentinel config loaded as %+v (mode %q)", c.Redis, c.Redis.Mode())
	}
	c, err = loadYAML(t, "", "PGW_REDIS__ADDRS=10.0.0.1:6379, 10.0.0.2:6379,10.0.0.3:6379")
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Mode() != RedisCluster || len(c.Redis.Addrs) != 3 {
		t.Fatalf("cluster config loaded as %+v (mode %q)", c.Redis, c.Redis.Mode())
	}
	if m := (Redis{URL: "redis://r:6379/0"}).Mode(); m != RedisSingle {
		t.Fatalf("url mode %q", m)
	}
	if m := (Redis{}).Mode(); m != RedisNone {
		t.Fatalf("empty mode %q", m)
	}

	for name, tc := range map[string]struct {
		redis Redis
		want  []string // substrings of the error; none: valid
	}{
		"single":            {redis: Redis{URL: "redis://:pw@r:6379/1"}},
		"sentinel":          {redis: Redis{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m", Password: "pw", SentinelPassword: "spw", DB: 1}},
		"cluster":           {redis: Redis{Addrs: []string{"n1:6379"}, Username: "u", Password: "pw", TLS: true}},
		"url and addrs":     {redis: Redis{URL: "redis://r:6379", Addrs: []string{"s:1"}}, want: []string{"redis.url and redis.addrs"}},
		"url with password": {redis: Redis{URL: "redis://r:6379", Password: "hunter2"}, want: []string{"redis.password: applies to redis.addrs only"}},
		"url not redis":     {redis: Redis{URL: "http://u:hunter2@r:6379"}, want: []string{"redis.url:", "not a redis://"}},
		"master, no addrs":  {redis: Redis{MasterName: "m"}, want: []string{"redis.master_name: is set but redis.addrs is empty"}},
		"bad addr":          {redis: Redis{Addrs: []string{"r"}}, want: []string{`redis.addrs: "r" is not host:port`}},
		"cluster db":        {redis: Redis{Addrs: []string{"r:6379"}, DB: 3}, want: []string{"redis.db: a Redis Cluster has only database 0"}},
		"cluster sentinel password": {redis: Redis{Addrs: []string{"r:6379"}, SentinelPassword: "x"},
			want: []string{"redis.sentinel_password"}},
		"no timeout": {redis: Redis{URL: "redis://r:6379", Timeout: -time.Second}, want: []string{"redis.timeout: must be positive"}},
	} {
		t.Run(name, func(t *testing.T) {
			g := gatewayConfig()
			if tc.redis.Timeout == 0 {
				tc.redis.Timeout = Default().Redis.Timeout
			}
			g.Redis = tc.redis
			err := g.ValidateGateway()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error with %q, got none", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}

	// Any Redis mode needs the shared digest secret.
	g := gatewayConfig()
	g.Server.Secret = ""
	g.Redis = Redis{Addrs: []string{"n1:6379"}}
	if err := g.ValidateGateway(); err == nil || !strings.Contains(err.Error(), "server.secret") {
		t.Fatalf("cluster without server.secret: got %v", err)
	}
}

// Server domains come from the file (Pangolin's `domains:`) and the
// environment (PGW_DOMAINS__<KEY>__<FIELD>); each is validated naming its
// key.
func TestDomains(t *testing.T) {
	c, err := loadYAML(t, "domains:\n  home:\n    base_domain: Example.COM\n    cert_resolver: letsencrypt\n",
		"PGW_DOMAINS__HOME__PREFER_WILDCARD_CERT=true", "PGW_DOMAINS__LAB__BASE_DOMAIN=lab.example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Domain{
		"home": {BaseDomain: "Example.COM", CertResolver: "letsencrypt", PreferWildcardCert: true},
		"lab":  {BaseDomain: "lab.example.org"},
	}
	if len(c.Domains) != 2 || c.Domains["home"] != want["home"] || c.Domains["lab"] != want["lab"] {
		t.Fatalf("domains %+v, want %+v", c.Domains, want)
	}
	g := gatewayConfig()
	g.Domains = c.Domains
	if err := g.ValidateGateway(); err != nil {
		t.Fatal(err)
	}
	if !IsEnvName("PGW_DOMAINS__HOME__BASE_DOMAIN") || IsEnvName("PGW_DOMAINS__HOME__COLOR") || IsEnvName("PGW_NOPE") {
		t.Fatal("IsEnvName misjudges domain variables")
	}

	for doc, msg := range map[string]string{
		"domains:\n  home:\n    base_domain: example.com\n    color: blue\n": `unknown key "domains.home.color"`,
		"domains:\n  home: example.com\n":                                    `unknown key "domains.home"`,
	} {
		if _, err := loadYAML(t, doc); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: got %v, want %q", doc, err, msg)
		}
	}
	for name, tc := range map[string]struct {
		domains map[string]Domain
		msg     string
	}{
		"no base":    {map[string]Domain{"home": {}}, "domains.home.base_domain: must be set"},
		"not a host": {map[string]Domain{"home": {BaseDomain: "https://example.com"}}, "domains.home.base_domain: \"https://example.com\" is not a host name"},
		"bare label": {map[string]Domain{"home": {BaseDomain: "localhost"}}, "is not a host name"},
		"bad key":    {map[string]Domain{"Home Domain": {BaseDomain: "example.com"}}, "domains.Home Domain: the key must be"},
		"twice":      {map[string]Domain{"a": {BaseDomain: "example.com"}, "b": {BaseDomain: "EXAMPLE.com"}}, "domains.b.base_domain: example.com is already domains.a"},
	} {
		c := gatewayConfig()
		c.Domains = tc.domains
		if err := c.ValidateGateway(); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", name, err, tc.msg)
		}
	}
}

// The metrics listeners are off by default, set from the file or the
// environment, and an address that is not host:port names its key.
func TestMetricsKeys(t *testing.T) {
	if d := Default(); d.Metrics.ListenAddress != "" || d.Core.MetricsAddress != "" || d.Metrics.Pprof {
		t.Fatalf("metrics on by default: %+v %q", d.Metrics, d.Core.MetricsAddress)
	}
	c, err := loadYAML(t, "metrics:\n  listen_address: 127.0.0.1:9090\n",
		"PGW_CORE__METRICS_ADDRESS=:9091", "PGW_METRICS__PPROF=true")
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.ListenAddress != "127.0.0.1:9090" || c.Core.MetricsAddress != ":9091" || !c.Metrics.Pprof {
		t.Fatalf("got %+v, core.metrics_address %q", c.Metrics, c.Core.MetricsAddress)
	}
	g := gatewayConfig()
	g.Metrics = c.Metrics
	if err := g.ValidateGateway(); err != nil {
		t.Fatalf("gateway: %v", err)
	}
	core := gatewayConfig()
	core.Core.MetricsAddress = c.Core.MetricsAddress
	if err := core.ValidateCore(); err != nil {
		t.Fatalf("core: %v", err)
	}
	g.Metrics.ListenAddress = "9090"
	if err := g.ValidateGateway(); err == nil || !strings.Contains(err.Error(), "metrics.listen_address") {
		t.Fatalf("gateway with metrics.listen_address 9090: %v", err)
	}
	core.Core.MetricsAddress = "localhost:http"
	if err := core.ValidateCore(); err == nil || !strings.Contains(err.Error(), "core.metrics_address") {
		t.Fatalf("core with core.metrics_address localhost:http: %v", err)
	}
}

// core.verify_concurrency bounded key verification only; its successor
// core.hash_concurrency bounds every hash. A file or environment still
// using the old name is refused with the new one.
func TestHashKeys(t *testing.T) {
	for _, tc := range []struct{ doc, env string }{
		{doc: "core:\n  verify_concurrency: 2\n"},
		{env: "PGW_CORE__VERIFY_CONCURRENCY=2"},
	} {
		_, err := loadYAML(t, tc.doc, tc.env)
		if err == nil || !strings.Contains(err.Error(), "core.hash_concurrency (PGW_CORE__HASH_CONCURRENCY)") {
			t.Fatalf("%q %q: %v; want the new key named", tc.doc, tc.env, err)
		}
	}
	c, err := loadYAML(t, "core:\n  hash_concurrency: 3\n  hash_wait: 2s\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Core.HashConcurrency != 3 || c.Core.HashWait != 2*time.Second {
		t.Fatalf("loaded %+v", c.Core)
	}
	core := func(mutate func(*Config)) error {
		c := Default()
		c.Core.Token = strings.Repeat("t", 40)
		mutate(&c)
		return c.ValidateCore()
	}
	if err := core(func(*Config) {}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for want, mutate := range map[string]func(*Config){
		"core.hash_concurrency: must not be negative": func(c *Config) { c.Core.HashConcurrency = -1 },
		"core.hash_wait: must be positive":            func(c *Config) { c.Core.HashWait = 0 },
		"core.hash_wait: 10s must be below core.timeout (10s)": func(c *Config) {
			c.Core.HashWait = c.Core.Timeout
		},
	} {
		if err := core(mutate); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}
