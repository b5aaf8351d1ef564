// Package config loads the one YAML file both binaries read, with every key
// overridable from the environment: PGW_ + the key path upper-cased, levels
// joined by "__" (server.integration_port → PGW_SERVER__INTEGRATION_PORT).
package config

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "PGW_"

// Config is the whole configuration. Keys follow Pangolin's where Pangolin
// has them (server.integration_port, flags.enable_integration_api,
// server.trust_proxy).
type Config struct {
	App      App      `koanf:"app"`
	Server   Server   `koanf:"server"`
	Flags    Flags    `koanf:"flags"`
	Core     Core     `koanf:"core"`
	Database Database `koanf:"database"`
	Redis    Redis    `koanf:"redis"`
	Cache    Cache    `koanf:"cache"`
	Log      Log      `koanf:"log"`
	// Domains are the server's domains, by key (Pangolin's `domains:`):
	// the core keeps them as config-managed domains, linked to every org,
	// which the API cannot delete. The key is the domain's id.
	Domains map[string]Domain `koanf:"domains"`
	// Metrics is the gateway's (and the embedded default's) Prometheus
	// listener.
	Metrics Metrics `koanf:"metrics"`
	// Audit is the API call log.
	Audit Audit `koanf:"audit"`
}

// Audit tunes the API call log.
type Audit struct {
	// Retention is how long the core keeps records (it prunes older ones
	// periodically).
	Retention time.Duration `koanf:"retention"`
	// BufferSize bounds the refusals a gateway holds for the core, which it
	// sends in batches off the requests' path; past it they are dropped,
	// counted (pangolin_gateway_audit_dropped_total) and logged.
	BufferSize int `koanf:"buffer_size"`
}

// Domain is a server domain of the config file.
type Domain struct {
	// BaseDomain is the host name resources are served under (example.com).
	BaseDomain string `koanf:"base_domain"`
	// CertResolver is the Traefik certificate resolver of its resources.
	CertResolver string `koanf:"cert_resolver"`
	// PreferWildcardCert asks for one wildcard certificate for the domain.
	PreferWildcardCert bool `koanf:"prefer_wildcard_cert"`
}

// DomainFields are the keys of each entry of domains.
var DomainFields = []string{"base_domain", "cert_resolver", "prefer_wildcard_cert"}

// App is Pangolin's app section.
type App struct {
	// DashboardURL is Pangolin's dashboard: invite links and identity
	// provider redirect URLs point there (the core builds them).
	DashboardURL string `koanf:"dashboard_url"`
}

// Server is the gateway's HTTP listener.
type Server struct {
	// IntegrationPort is the port of the /v1 API.
	IntegrationPort int `koanf:"integration_port"`
	// Host is the address the API listens on; empty means all interfaces.
	Host string `koanf:"host"`
	// TrustProxy lists the proxies (IPs or CIDRs) whose X-Forwarded-For is
	// believed; from anyone else the header is ignored. Pangolin's hop count
	// form (trust_proxy: 1) is refused with a message: counting hops trusts
	// whoever reaches the port directly, an address list does not.
	TrustProxy []string `koanf:"trust_proxy"`
	// Secret keys the HMAC digests cached in Redis. Every gateway replica
	// sharing a Redis must use the same one.
	Secret string `koanf:"secret"`
	// MaxBodyBytes bounds request bodies (Pangolin: 100 kB).
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// ShutdownDelay is how long the gateway keeps serving after SIGTERM
	// while its health route answers 503, so that load balancers (Traefik's
	// health check, Kubernetes endpoints) stop sending it requests before it
	// stops accepting them. 0 skips it.
	ShutdownDelay time.Duration `koanf:"shutdown_delay"`
	// ShutdownTimeout bounds the drain of in-flight requests on SIGTERM,
	// after ShutdownDelay.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// Flags are Pangolin's feature switches.
type Flags struct {
	// EnableIntegrationAPI must be true for the gateway to serve.
	EnableIntegrationAPI bool `koanf:"enable_integration_api"`
	// AllowRawResources lets resources be raw TCP/UDP ports of the server
	// (http: false); without it only HTTP resources are created.
	AllowRawResources bool `koanf:"allow_raw_resources"`
}

// Core is the gRPC link between gateway and core.
type Core struct {
	// Address is where gateways dial the core: host:port, or dns:///host:port
	// to balance over every address the name resolves to.
	Address string `koanf:"address"`
	// ListenAddress is where the core serves gRPC.
	ListenAddress string `koanf:"listen_address"`
	// Token authenticates gateways to the core; both sides must share it.
	Token string `koanf:"token"`
	// TLS is optional; without it the link is plaintext (use it on a trusted
	// network only).
	TLS TLS `koanf:"tls"`
	// Timeout bounds each call from the gateway.
	Timeout time.Duration `koanf:"timeout"`
	// HashConcurrency bounds the argon2id hashes the core computes at once,
	// all of them together (key verification and creation, newt secrets,
	// visitor passwords, …): each holds 19 MiB and a CPU while it runs. 0
	// means half the CPUs, between 1 and 4.
	HashConcurrency int `koanf:"hash_concurrency"`
	// HashWait is how long a request waits for a hashing slot before it is
	// answered 429; keep it below Timeout.
	HashWait time.Duration `koanf:"hash_wait"`
	// MetricsAddress is where pangolin-core serves Prometheus metrics
	// (/metrics), host:port; empty means no metrics listener. Keep it off
	// the public network.
	MetricsAddress string `koanf:"metrics_address"`
	// ChangePollInterval is how often the core reads the key change log for
	// changes written by others (other core replicas, the admin commands).
	// On PostgreSQL the core also LISTENs for them and wakes at once; the
	// poll is the backstop for a lost listening connection.
	ChangePollInterval time.Duration `koanf:"change_poll_interval"`
}

// TLS files for the core link.
type TLS struct {
	CertFile   string `koanf:"cert_file"`
	KeyFile    string `koanf:"key_file"`
	CAFile     string `koanf:"ca_file"`
	ServerName string `koanf:"server_name"`
}

// Enabled reports whether the link uses TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.CAFile != "" }

// Database is the core's store.
type Database struct {
	// URL selects PostgreSQL (postgres://…); empty means SQLite in DataDir.
	URL string `koanf:"url"`
	// DataDir holds the SQLite file.
	DataDir string `koanf:"data_dir"`
}

// Redis is the shared key cache of the gateways. Set URL for one node, or
// Addrs for Sentinel (with MasterName) or Cluster (without); neither means
// no Redis: each gateway caches in process only.
type Redis struct {
	// URL is one node: redis://[user:password@]host:port/db, rediss:// for
	// TLS. Credentials and db go in the URL.
	URL string `koanf:"url"`
	// Addrs are the Sentinel addresses (with MasterName) or the Cluster seed
	// nodes (without), host:port each.
	Addrs []string `koanf:"addrs"`
	// MasterName selects Sentinel: the name the sentinels monitor.
	MasterName string `koanf:"master_name"`
	// Username and Password authenticate to the data nodes (Addrs only).
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// SentinelPassword authenticates to the sentinels, when they require it.
	SentinelPassword string `koanf:"sentinel_password"`
	// DB is the database number (Sentinel only; a cluster has only 0).
	DB int `koanf:"db"`
	// TLS connects to Addrs over TLS (system roots).
	TLS bool `koanf:"tls"`
	// Timeout bounds every Redis operation (dial, command, and the
	// Sentinel and Cluster lookups behind it): past it a cache lookup counts
	// as a miss and the core answers instead.
	Timeout time.Duration `koanf:"timeout"`
}

// Redis modes, see Redis.Mode.
const (
	RedisNone     = ""
	RedisSingle   = "single"
	RedisSentinel = "sentinel"
	RedisCluster  = "cluster"
)

// Mode says which kind of Redis the keys describe.
func (r Redis) Mode() string {
	switch {
	case r.URL != "":
		return RedisSingle
	case len(r.Addrs) > 0 && r.MasterName != "":
		return RedisSentinel
	case len(r.Addrs) > 0:
		return RedisCluster
	}
	return RedisNone
}

// Enabled reports whether the gateways share a Redis.
func (r Redis) Enabled() bool { return r.Mode() != RedisNone }

// Cache tunes the key cache.
type Cache struct {
	// TTL bounds how long a cached key is trusted without news from the core.
	TTL time.Duration `koanf:"ttl"`
	// Size bounds the in-process cache (entries).
	Size int `koanf:"size"`
}

// Log sets the log output.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// Metrics are the operators' view of a running process, served on a
// listener of its own (not the API's port).
type Metrics struct {
	// ListenAddress is where pangolin-gateway (and the embedded default)
	// serves Prometheus metrics (/metrics), host:port; empty means no
	// metrics listener. The core's is core.metrics_address.
	ListenAddress string `koanf:"listen_address"`
	// Pprof also serves net/http/pprof (/debug/pprof/) on the metrics
	// listener of either binary (nothing without one). Profiles show
	// internals: keep the listener private.
	Pprof bool `koanf:"pprof"`
}

// Default returns the configuration used for keys that are not set.
func Default() Config {
	return Config{
		App: App{DashboardURL: "http://localhost:3002"},
		Server: Server{
			IntegrationPort: 3003,
			MaxBodyBytes:    100 << 10,
			ShutdownDelay:   5 * time.Second,
			ShutdownTimeout: 20 * time.Second,
		},
		Flags: Flags{EnableIntegrationAPI: false},
		Core: Core{
			Address:            "127.0.0.1:3004",
			ListenAddress:      ":3004",
			Timeout:            10 * time.Second,
			HashWait:           5 * time.Second,
			ChangePollInterval: 200 * time.Millisecond,
		},
		Database: Database{DataDir: "./data"},
		Redis:    Redis{Timeout: 100 * time.Millisecond},
		Cache:    Cache{TTL: 5 * time.Minute, Size: 10000},
		Log:      Log{Level: "info", Format: "text"},
		Domains:  map[string]Domain{},
		Audit:    Audit{Retention: 90 * 24 * time.Hour, BufferSize: 10000},
	}
}

// Load reads path (may be empty) and the environment over Default.
func Load(path string) (Config, error) {
	return load(path, os.Environ)
}

func load(path string, environ func() []string) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return Config{}, err
	}
	known := k.All()
	if path != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
		if err := checkKnown(fk.Keys(), known, path); err != nil {
			return Config{}, err
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, err
		}
	}
	ek := koanf.New(".")
	if err := ek.Load(env.Provider(".", env.Opt{
		Prefix:        EnvPrefix,
		EnvironFunc:   environ,
		TransformFunc: envKey,
	}), nil); err != nil {
		return Config{}, err
	}
	if err := checkKnown(ek.Keys(), known, "environment"); err != nil {
		return Config{}, err
	}
	if err := k.Merge(ek); err != nil {
		return Config{}, err
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// envKey maps PGW_SERVER__INTEGRATION_PORT to server.integration_port. List
// keys take comma-separated values.
func envKey(name, value string) (string, any) {
	key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, EnvPrefix), "__", "."))
	if listKeys[key] {
		var items []string
		for _, item := range strings.Split(value, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		return key, items
	}
	return key, value
}

var listKeys = func() map[string]bool {
	m := map[string]bool{}
	walkKeys(reflect.TypeOf(Config{}), "", func(key string, t reflect.Type) {
		if t.Kind() == reflect.Slice {
			m[key] = true
		}
	})
	return m
}()

// Keys lists every configuration key, for docs and tests.
func Keys() []string {
	var keys []string
	walkKeys(reflect.TypeOf(Config{}), "", func(key string, _ reflect.Type) { keys = append(keys, key) })
	return keys
}

// IsEnvName reports whether an environment variable sets a key: the name
// of a key (EnvName), or a field of a server domain
// (PGW_DOMAINS__<KEY>__BASE_DOMAIN).
func IsEnvName(name string) bool {
	if !strings.HasPrefix(name, EnvPrefix) {
		return false
	}
	key, _ := envKey(name, "")
	known := map[string]any{}
	for _, k := range Keys() {
		known[k] = nil
	}
	return checkKnown([]string{key}, known, "") == nil
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

func walkKeys(t reflect.Type, prefix string, visit func(string, reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("koanf")
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			walkKeys(f.Type, key+".", visit)
			continue
		}
		visit(key, f.Type)
	}
}

func checkKnown(keys []string, known map[string]any, source string) error {
	for _, key := range keys {
		if to, ok := renamed[key]; ok {
			return fmt.Errorf("config: key %q in %s was renamed: set %s (%s) instead", key, source, to, EnvName(to))
		}
		if rest, ok := strings.CutPrefix(key, "domains."); ok {
			// domains.<key>.<field>: the keys are the operator's.
			name, field, _ := strings.Cut(rest, ".")
			if name == "" || !slices.Contains(DomainFields, field) {
				return fmt.Errorf("config: unknown key %q in %s (a server domain is domains.<key>.{%s})", key, source, strings.Join(DomainFields, ","))
			}
			continue
		}
		if _, ok := known[key]; !ok {
			return fmt.Errorf("config: unknown key %q in %s (known keys: %s)", key, source, strings.Join(Keys(), ", "))
		}
	}
	return nil
}

// renamed maps keys that no longer exist to their new name, so that a file
// still using one is refused with a message that says what to write.
var renamed = map[string]string{
	// It bounded key verification only; the bound now covers every hash.
	"core.verify_concurrency": "core.hash_concurrency",
}

// ValidateGateway checks what the gateway needs; errors name the key.
func (c Config) ValidateGateway() error {
	var errs []error
	if !c.Flags.EnableIntegrationAPI {
		errs = append(errs, errors.New("flags.enable_integration_api is false: set it to true (PGW_FLAGS__ENABLE_INTEGRATION_API=true) to serve the Integration API"))
	}
	if p := c.Server.IntegrationPort; p < 1 || p > 65535 {
		errs = append(errs, fmt.Errorf("server.integration_port: %d is not a port (1-65535)", p))
	}
	if c.Server.MaxBodyBytes < 1 {
		errs = append(errs, errors.New("server.max_body_bytes: must be positive"))
	}
	errs = append(errs, validateTrustProxy(c.Server.TrustProxy)...)
	if c.Server.ShutdownDelay < 0 {
		errs = append(errs, errors.New("server.shutdown_delay: must not be negative"))
	}
	if c.Server.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("server.shutdown_timeout: must be positive"))
	}
	errs = append(errs, c.Redis.validate()...)
	if c.Redis.Enabled() && len(c.Server.Secret) < 32 {
		errs = append(errs, errors.New("server.secret: must be at least 32 characters when redis.url or redis.addrs is set (replicas share cached digests keyed by it)"))
	}
	if c.Core.Address == "" {
		errs = append(errs, errors.New("core.address: must be set"))
	}
	if c.Core.Token == "" {
		errs = append(errs, errors.New("core.token: must be set (the shared token of the gateway-core link)"))
	}
	errs = append(errs, validateListenAddress("metrics.listen_address", c.Metrics.ListenAddress)...)
	if c.Audit.BufferSize < 1 {
		errs = append(errs, errors.New("audit.buffer_size: must be at least 1"))
	}
	errs = append(errs, c.validateCommon()...)
	return errors.Join(errs...)
}

// ValidateCore checks what the core needs; errors name the key.
func (c Config) ValidateCore() error {
	var errs []error
	if c.Core.ListenAddress == "" {
		errs = append(errs, errors.New("core.listen_address: must be set"))
	}
	if c.Core.Token == "" {
		errs = append(errs, errors.New("core.token: must be set (the shared token of the gateway-core link)"))
	} else if len(c.Core.Token) < 32 {
		errs = append(errs, errors.New("core.token: must be at least 32 characters"))
	}
	if c.Core.HashConcurrency < 0 {
		errs = append(errs, errors.New("core.hash_concurrency: must not be negative"))
	}
	if c.Core.HashWait <= 0 {
		errs = append(errs, errors.New("core.hash_wait: must be positive"))
	} else if c.Core.HashWait >= c.Core.Timeout {
		errs = append(errs, fmt.Errorf("core.hash_wait: %v must be below core.timeout (%v), so that a busy core answers 429 before the gateway gives up on the call", c.Core.HashWait, c.Core.Timeout))
	}
	if c.Core.ChangePollInterval <= 0 {
		errs = append(errs, errors.New("core.change_poll_interval: must be positive"))
	}
	if u := c.Database.URL; u != "" && !slices.Contains([]string{"postgres", "postgresql"}, scheme(u)) {
		errs = append(errs, fmt.Errorf("database.url: %q is not a postgres:// URL (leave it empty for SQLite in database.data_dir)", redact(u)))
	}
	if c.Database.URL == "" && c.Database.DataDir == "" {
		errs = append(errs, errors.New("database.data_dir: must be set when database.url is empty"))
	}
	errs = append(errs, validateListenAddress("core.metrics_address", c.Core.MetricsAddress)...)
	if u, err := url.Parse(c.App.DashboardURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("app.dashboard_url: %q is not an http(s) URL such as https://pangolin.example.com", c.App.DashboardURL))
	}
	if c.Audit.Retention <= 0 {
		errs = append(errs, errors.New("audit.retention: must be positive (e.g. 2160h for 90 days)"))
	}
	errs = append(errs, c.validateCommon()...)
	return errors.Join(errs...)
}

// validateListenAddress checks an optional host:port listen address.
func validateListenAddress(key, addr string) []error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return []error{fmt.Errorf("%s: %q is not host:port (e.g. 127.0.0.1:9090 or :9090)", key, addr)}
	}
	return nil
}

// ValidateAdmin checks what the core's admin subcommands need.
func (c Config) ValidateAdmin() error {
	if c.Database.URL == "" && c.Database.DataDir == "" {
		return errors.New("database.data_dir: must be set when database.url is empty")
	}
	return nil
}

func (c Config) validateCommon() []error {
	var errs []error
	if c.Core.Timeout <= 0 {
		errs = append(errs, errors.New("core.timeout: must be positive"))
	}
	if c.Cache.TTL <= 0 {
		errs = append(errs, errors.New("cache.ttl: must be positive"))
	}
	if c.Cache.Size < 1 {
		errs = append(errs, errors.New("cache.size: must be at least 1"))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if t := c.Core.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("core.tls.cert_file and core.tls.key_file: set both or neither"))
	}
	return append(errs, c.validateDomains()...)
}

var (
	domainKeyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	hostnamePattern  = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// validateDomains checks the server domains: keys usable as ids, base
// domains that are host names, each base domain once.
func (c Config) validateDomains() []error {
	var errs []error
	seen := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(c.Domains)) {
		d := c.Domains[key]
		if !domainKeyPattern.MatchString(key) {
			errs = append(errs, fmt.Errorf("domains.%s: the key must be 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit", key))
		}
		base := strings.ToLower(d.BaseDomain)
		switch {
		case d.BaseDomain == "":
			errs = append(errs, fmt.Errorf("domains.%s.base_domain: must be set (e.g. example.com)", key))
		case len(base) > 253 || !hostnamePattern.MatchString(base):
			errs = append(errs, fmt.Errorf("domains.%s.base_domain: %q is not a host name like example.com", key, d.BaseDomain))
		case seen[base] != "":
			errs = append(errs, fmt.Errorf("domains.%s.base_domain: %s is already domains.%s", key, base, seen[base]))
		default:
			seen[base] = key
		}
	}
	return errs
}

// validateTrustProxy accepts IPs and CIDRs. A bare number is Pangolin's
// (Express's) hop count: refused with a message saying what to write,
// because "trust the nearest N hops" believes a forged X-Forwarded-For from
// anyone who reaches the gateway's port without passing the proxy.
func validateTrustProxy(list []string) []error {
	var errs []error
	for _, p := range list {
		if _, _, err := net.ParseCIDR(p); err == nil || net.ParseIP(p) != nil {
			continue
		}
		if n, err := strconv.Atoi(p); err == nil && n >= 0 || p == "true" || p == "false" {
			errs = append(errs, fmt.Errorf("server.trust_proxy: %q is Pangolin's hop-count form (trust_proxy: %s); this gateway needs the addresses of the proxies in front of it instead: list Traefik's IP or network as IPs/CIDRs (e.g. [172.18.0.0/16]), or leave it empty to trust no proxy", p, p))
			continue
		}
		errs = append(errs, fmt.Errorf("server.trust_proxy: %q is neither an IP nor a CIDR", p))
	}
	return errs
}

// validate checks the redis.* keys; errors name the key and never show a
// password.
func (r Redis) validate() []error {
	var errs []error
	if r.Enabled() && r.Timeout <= 0 {
		errs = append(errs, errors.New("redis.timeout: must be positive"))
	}
	if r.URL != "" {
		if _, err := url.Parse(r.URL); err != nil || !slices.Contains([]string{"redis", "rediss", "unix"}, scheme(r.URL)) {
			errs = append(errs, fmt.Errorf("redis.url: %q is not a redis:// or rediss:// URL", redact(r.URL)))
		}
		if len(r.Addrs) > 0 {
			errs = append(errs, errors.New("redis.url and redis.addrs: set one (url for one node, addrs for Sentinel or Cluster)"))
		}
		for _, key := range r.addrsOnlyKeys() {
			errs = append(errs, fmt.Errorf("%s: applies to redis.addrs only; with redis.url put credentials, db and TLS (rediss://) in the URL", key))
		}
		return errs
	}
	if len(r.Addrs) == 0 {
		for _, key := range r.addrsOnlyKeys() {
			errs = append(errs, fmt.Errorf("%s: is set but redis.addrs is empty (list the sentinels or cluster nodes there)", key))
		}
		return errs
	}
	for _, a := range r.Addrs {
		host, port, err := net.SplitHostPort(a)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("redis.addrs: %q is not host:port", a))
		}
	}
	if r.DB < 0 {
		errs = append(errs, errors.New("redis.db: must not be negative"))
	}
	if r.Mode() == RedisCluster {
		if r.DB != 0 {
			errs = append(errs, errors.New("redis.db: a Redis Cluster has only database 0 (set redis.master_name for Sentinel)"))
		}
		if r.SentinelPassword != "" {
			errs = append(errs, errors.New("redis.sentinel_password: set redis.master_name too (Sentinel), or remove it (Cluster)"))
		}
	}
	return errs
}

// addrsOnlyKeys names the keys set that only apply with redis.addrs.
func (r Redis) addrsOnlyKeys() []string {
	var keys []string
	for _, k := range []struct {
		key string
		set bool
	}{
		{"redis.master_name", r.MasterName != ""},
		{"redis.username", r.Username != ""},
		{"redis.password", r.Password != ""},
		{"redis.sentinel_password", r.SentinelPassword != ""},
		{"redis.db", r.DB != 0},
		{"redis.tls", r.TLS},
	} {
		if k.set {
			keys = append(keys, k.key)
		}
	}
	return keys
}

func scheme(u string) string {
	s, _, _ := strings.Cut(u, "://")
	return strings.ToLower(s)
}

// redact hides the password of a URL for error messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<unparsable URL>"
	}
	return p.Redacted()
}

// FromArgs parses the --config flag every binary takes, loads the
// configuration and returns the remaining arguments (the subcommand).
func FromArgs(name string, args []string) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "YAML config file (every key can also be set as "+EnvPrefix+"<KEY>)")
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	cfg, err := Load(*path)
	return cfg, fs.Args(), err
}
