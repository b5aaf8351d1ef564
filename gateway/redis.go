package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"pangolin-gateway/config"
)

// newRedis builds the shared cache's client for the mode the redis.* keys
// describe: one node (redis.url), Sentinel (redis.addrs + master_name) or
// Cluster (redis.addrs alone). All three are a redis.UniversalClient; the
// auth package handles the cluster's per-node work itself.
//
// Every client honours the deadline of the caller's context: without
// ContextTimeoutEnabled go-redis ignores it and waits out its own socket
// timeouts (3 s reads, 5 s dials), so a stalled Redis held each cache miss
// and invalidation that long whatever bound the auth package set. Its own
// timeouts are redis.timeout too, for the calls it makes without a
// deadline (sentinel queries, cluster topology).
func newRedis(cfg config.Redis) (redis.UniversalClient, error) {
	switch cfg.Mode() {
	case config.RedisSingle:
		opts, err := redis.ParseURL(cfg.URL)
		if err != nil {
			// A *url.Error quotes the whole URL, password included.
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		// Timeouts the URL sets (dial_timeout=, read_timeout=, …) stand;
		// the context of each call bounds it by redis.timeout regardless.
		opts.DialTimeout = orDefault(opts.DialTimeout, cfg.Timeout)
		opts.ReadTimeout = orDefault(opts.ReadTimeout, cfg.Timeout)
		opts.WriteTimeout = orDefault(opts.WriteTimeout, cfg.Timeout)
		opts.PoolTimeout = orDefault(opts.PoolTimeout, cfg.Timeout)
		opts.ContextTimeoutEnabled = true
		return redis.NewClient(opts), nil
	case config.RedisSentinel, config.RedisCluster:
		opts := &redis.UniversalOptions{
			Addrs:            cfg.Addrs,
			MasterName:       cfg.MasterName,
			Username:         cfg.Username,
			Password:         cfg.Password,
			SentinelPassword: cfg.SentinelPassword,
			DB:               cfg.DB,
			// A single seed address still means a cluster: without this
			// go-redis would make a one-node client and fail on MOVED.
			IsClusterMode: cfg.Mode() == config.RedisCluster,
			// The sentinel queries and cluster topology reads behind a
			// command inherit these too.
			DialTimeout:           cfg.Timeout,
			ReadTimeout:           cfg.Timeout,
			WriteTimeout:          cfg.Timeout,
			PoolTimeout:           cfg.Timeout,
			ContextTimeoutEnabled: true,
		}
		if cfg.TLS {
			opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return redis.NewUniversalClient(opts), nil
	}
	return nil, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// redisSummary describes the Redis in use for the start-up log: the mode
// and addresses, never credentials.
func redisSummary(cfg config.Redis) []any {
	switch cfg.Mode() {
	case config.RedisSingle:
		opts, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return []any{"mode", cfg.Mode()}
		}
		return []any{"mode", cfg.Mode(), "addr", opts.Addr, "db", opts.DB, "tls", opts.TLSConfig != nil, "timeout", cfg.Timeout}
	case config.RedisSentinel:
		return []any{"mode", cfg.Mode(), "sentinels", cfg.Addrs, "master_name", cfg.MasterName, "db", cfg.DB, "tls", cfg.TLS, "timeout", cfg.Timeout}
	case config.RedisCluster:
		return []any{"mode", cfg.Mode(), "seeds", cfg.Addrs, "tls", cfg.TLS, "timeout", cfg.Timeout}
	}
	return []any{"mode", "none (in-process cache only)"}
}
