package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/rpc"
	"pangolin-gateway/core/sqlstore"
	"pangolin-gateway/gateway"
)

// stack is core and gateway in this process, wired as the embedded default
// is: a SQLite store, the core's gRPC server on a loopback port, and a
// gateway (real HTTP server) dialing it. Faster than processes, same code
// path: used for the per-route tables and the benchmarks.
type stack struct {
	url     string
	svc     *core.Service
	gateway *gateway.Gateway
	root    string
}

func newStack(t testing.TB, redisURL string, mutate ...func(*config.Config)) *stack {
	t.Helper()
	cfg := config.Default()
	cfg.Flags.EnableIntegrationAPI = true
	cfg.Core.Token = testCoreToken
	cfg.Redis.URL = redisURL
	cfg.Server.Secret = "stack-server-secret-0123456789abcdef0123"
	// The server domain make run ships.
	cfg.Domains = map[string]config.Domain{"example": {BaseDomain: "example.com"}}
	for _, m := range mutate {
		m(&cfg)
	}
	svc, root, addr := startInProcessCore(t, cfg.Core)
	if err := svc.Configure(context.Background(), rpc.Settings(cfg)); err != nil {
		t.Fatal(err)
	}
	cfg.Core.Address = addr
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := gateway.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	go g.Authenticator().Watch(watchCtx, g.KeyClient())
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(func() {
		srv.Close()
		stopWatch()
		g.Close()
	})
	return &stack{url: srv.URL, svc: svc, gateway: g, root: root.Token()}
}

// startInProcessCore serves a core on a SQLite store in a temp dir, on a
// loopback port, with a root key holding every action; it stops when the
// test ends (after what the test registered later, such as a gateway).
func startInProcessCore(t testing.TB, cfg config.Core) (*core.Service, core.CreatedKey, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := core.NewService(store, 0, log)
	root, err := svc.CreateRootKey(ctx, "root", core.Actions)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rpc.Serve(ctx, lis, svc, cfg, time.Second, log)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		store.Close()
	})
	return svc, root, lis.Addr().String()
}
