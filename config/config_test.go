package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvOverridesFileOverDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(path, []byte("server:\n  integration_port: 4000\n  trust_proxy: [10.0.0.1]\ncache:\n  ttl: 30s\n"), 0o600)
	c, err := load(path, func() []string {
		return []string{"PGW_SERVER__INTEGRATION_PORT=3103", "PGW_SERVER__TRUST_PROXY=10.0.0.0/8, 192.168.1.1", "PGW_FLAGS__ENABLE_INTEGRATION_API=true", "OTHER=1"}
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.IntegrationPort != 3103 || !c.Flags.EnableIntegrationAPI || c.Cache.TTL != 30*time.Second {
		t.Fatalf("got %+v", c)
	}
	if strings.Join(c.Server.TrustProxy, "|") != "10.0.0.0/8|192.168.1.1" {
		t.Fatalf("trust_proxy = %q", c.Server.TrustProxy)
	}
	if c.Core.ListenAddress != ":3004" {
		t.Fatalf("defaults lost: %+v", c.Core)
	}
}

func TestUnknownKeysAreNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yml")
	os.WriteFile(path, []byte("server:\n  integration_prot: 1\n"), 0o600)
	if _, err := load(path, os.Environ); err == nil || !strings.Contains(err.Error(), "server.integration_prot") {
		t.Fatalf("err = %v", err)
	}
	if _, err := load("", func() []string { return []string{"PGW_REDIS__URI=x"} }); err == nil || !strings.Contains(err.Error(), "redis.uri") {
		t.Fatalf("err = %v", err)
	}
	if _, err := load("", func() []string { return []string{"PGW_SERVER__INTEGRATION_PORT=abc"} }); err == nil {
		t.Fatal("a non-numeric port was accepted")
	}
}

func TestValidationNamesTheKey(t *testing.T) {
	c := Default()
	err := c.ValidateGateway()
	for _, key := range []string{"flags.enable_integration_api", "core.token"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("ValidateGateway() = %v, want it to name %s", err, key)
		}
	}
	c.Flags.EnableIntegrationAPI = true
	c.Core.Token = strings.Repeat("t", 32)
	c.Redis.URL = "redis://127.0.0.1:6379/0"
	if err := c.ValidateGateway(); err == nil || !strings.Contains(err.Error(), "server.secret") {
		t.Fatalf("redis without a secret: %v", err)
	}
	c.Server.Secret = strings.Repeat("s", 32)
	if err := c.ValidateGateway(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	c.Server.TrustProxy = []string{"not-an-ip"}
	if err := c.ValidateGateway(); err == nil || !strings.Contains(err.Error(), "server.trust_proxy") {
		t.Fatalf("bad proxy: %v", err)
	}
	c = Default()
	c.Core.Token = strings.Repeat("t", 32)
	c.Database.URL = "mysql://u:hunter2@db/x"
	err = c.ValidateCore()
	if err == nil || !strings.Contains(err.Error(), "database.url") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("ValidateCore() = %v: want database.url named and the password hidden", err)
	}
}

// The README's configuration reference lists every key with its
// environment name.
func TestReadmeListsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		row := "| `" + key + "` |"
		if !strings.Contains(string(readme), row) || !strings.Contains(string(readme), "`"+EnvName(key)+"`") {
			t.Errorf("README.md: no configuration row for %s (%s)", key, EnvName(key))
		}
	}
}
