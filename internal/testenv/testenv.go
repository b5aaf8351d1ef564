// Package testenv gives tests the real services they need: a fresh
// PostgreSQL database and the Redis at REDIS_URL. When a service is
// unreachable the test is skipped with a line saying so, except under
// CI=true, where that is a failure.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"
)

// Defaults: the local services of a development machine.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// Unavailable skips the test, or fails it under CI=true.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

var admin struct {
	once sync.Once
	db   *sql.DB
	base *url.URL
	err  error
}

// PostgresURL creates an empty database on the server at DATABASE_URL and
// returns its URL; the database is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin.once.Do(func() {
		raw := os.Getenv("DATABASE_URL")
		if raw == "" {
			raw = DefaultDatabaseURL
		}
		if admin.base, admin.err = url.Parse(raw); admin.err != nil {
			return
		}
		if admin.db, admin.err = sql.Open("pgx", raw); admin.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		admin.err = admin.db.PingContext(ctx)
	})
	if admin.err != nil {
		Unavailable(t, "PostgreSQL at DATABASE_URL unreachable: %v", admin.err)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "pgw_test_" + hex.EncodeToString(b[:])
	if _, err := admin.db.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.db.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u := *admin.base
	u.Path = "/" + name
	return u.String()
}

var redisProbe struct {
	once sync.Once
	url  string
	err  error
}

// RedisURL returns the URL of a reachable Redis (REDIS_URL or the default).
// Reachability is probed once per test binary.
func RedisURL(t testing.TB) string {
	t.Helper()
	redisProbe.once.Do(func() {
		redisProbe.url = os.Getenv("REDIS_URL")
		if redisProbe.url == "" {
			redisProbe.url = DefaultRedisURL
		}
		opts, err := redis.ParseURL(redisProbe.url)
		if err != nil {
			redisProbe.err = err
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		redisProbe.err = c.Ping(ctx).Err()
	})
	if redisProbe.err != nil {
		Unavailable(t, "Redis at REDIS_URL unreachable: %v", redisProbe.err)
	}
	return redisProbe.url
}
