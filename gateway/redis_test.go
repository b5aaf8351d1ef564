package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pangolin-gateway/config"
)

// Each mode of the redis.* keys builds the matching go-redis client (no
// server needed: clients connect lazily). The real Sentinel and Cluster are
// exercised end to end in e2e/redis_modes_test.go.
func TestNewRedisModes(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg   config.Redis
		check func(redis.UniversalClient) bool
	}{
		"single": {config.Redis{URL: "redis://:pw@127.0.0.1:6379/3"}, func(c redis.UniversalClient) bool {
			cl, ok := c.(*redis.Client)
			return ok && cl.Options().DB == 3 && cl.Options().Password == "pw"
		}},
		"sentinel": {config.Redis{Addrs: []string{"127.0.0.1:26379"}, MasterName: "mymaster", Password: "pw", DB: 2}, func(c redis.UniversalClient) bool {
			// A failover client is a *redis.Client whose dialer asks the sentinels.
			cl, ok := c.(*redis.Client)
			return ok && cl.Options().DB == 2 && strings.Contains(cl.String(), "FailoverClient")
		}},
		"cluster, one seed": {config.Redis{Addrs: []string{"127.0.0.1:7000"}, Password: "pw"}, func(c redis.UniversalClient) bool {
			cl, ok := c.(*redis.ClusterClient)
			return ok && cl.Options().Password == "pw" && len(cl.Options().Addrs) == 1
		}},
		"cluster, tls": {config.Redis{Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}, TLS: true}, func(c redis.UniversalClient) bool {
			cl, ok := c.(*redis.ClusterClient)
			return ok && cl.Options().TLSConfig != nil
		}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := newRedis(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !tc.check(c) {
				t.Fatalf("newRedis(%+v) built %T %v", tc.cfg, c, c)
			}
			if summary := fmt.Sprint(redisSummary(tc.cfg)...); strings.Contains(summary, "pw") {
				t.Fatalf("the start-up summary shows a password: %s", summary)
			}
		})
	}
	if c, err := newRedis(config.Redis{}); c != nil || err != nil {
		t.Fatalf("no redis: got %v %v", c, err)
	}
}

// Every mode honours the caller's deadline and bounds its own calls by
// redis.timeout (the stalled-Redis behaviour is tested end to end in
// e2e/redis_stall_test.go). A timeout the URL sets stands.
func TestNewRedisTimeouts(t *testing.T) {
	const d = 70 * time.Millisecond
	bounded := func(o *redis.Options) bool {
		return o.ContextTimeoutEnabled && o.DialTimeout == d && o.ReadTimeout == d && o.WriteTimeout == d && o.PoolTimeout == d
	}
	for name, tc := range map[string]struct {
		cfg   config.Redis
		check func(redis.UniversalClient) bool
	}{
		"single": {config.Redis{URL: "redis://127.0.0.1:6379/0", Timeout: d}, func(c redis.UniversalClient) bool {
			return bounded(c.(*redis.Client).Options())
		}},
		"single, URL read_timeout": {config.Redis{URL: "redis://127.0.0.1:6379/0?read_timeout=2s", Timeout: d}, func(c redis.UniversalClient) bool {
			o := c.(*redis.Client).Options()
			return o.ContextTimeoutEnabled && o.ReadTimeout == 2*time.Second && o.DialTimeout == d
		}},
		"sentinel": {config.Redis{Addrs: []string{"127.0.0.1:26379"}, MasterName: "m", Timeout: d}, func(c redis.UniversalClient) bool {
			return bounded(c.(*redis.Client).Options())
		}},
		"cluster": {config.Redis{Addrs: []string{"127.0.0.1:7000"}, Timeout: d}, func(c redis.UniversalClient) bool {
			o := c.(*redis.ClusterClient).Options()
			return o.ContextTimeoutEnabled && o.DialTimeout == d && o.ReadTimeout == d && o.WriteTimeout == d && o.PoolTimeout == d
		}},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := newRedis(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !tc.check(c) {
				t.Fatalf("newRedis(%+v): timeouts not applied", tc.cfg)
			}
		})
	}
}

func TestNewRedisErrorHidesPassword(t *testing.T) {
	_, err := newRedis(config.Redis{URL: "redis://user:hunter2@127.0.0.1:notaport/0"})
	if err == nil || !strings.Contains(err.Error(), "redis.url") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v, want an error naming redis.url without the password", err)
	}
}
