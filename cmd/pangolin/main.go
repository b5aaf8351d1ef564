// Command pangolin is the embedded default (`make run`): core and gateway in
// one process, on SQLite under ./data, with the in-process key cache in
// place of Redis. They still talk gRPC, over loopback, so the code path is
// the one of a split deployment. On an empty database it creates a root key
// with every action and prints it once. Without domains in the config it
// serves example.com (domainId "example"), so that resources can be
// created at once.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/rpc"
	"pangolin-gateway/core/sqlstore"
	"pangolin-gateway/gateway"
	"pangolin-gateway/internal/metrics"
)

// The server domain of the embedded default when the config declares none.
const (
	exampleDomainKey = "example"
	exampleDomain    = "example.com"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pangolin:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, _, err := config.FromArgs("pangolin", args)
	if err != nil {
		return err
	}
	// What makes it embedded: the API on, no Redis, a per-process link
	// token, the core on a loopback port of its own choosing, and no drain
	// delay on Ctrl-C (no load balancer to leave).
	cfg.Flags.EnableIntegrationAPI = true
	cfg.Redis = config.Redis{}
	cfg.Server.ShutdownDelay = 0
	token := make([]byte, 32)
	rand.Read(token)
	cfg.Core.Token = hex.EncodeToString(token)
	cfg.Core.TLS = config.TLS{}
	// A server domain out of the box, so that an HTTP resource can be
	// created at once; set domains: in the config file for yours.
	if len(cfg.Domains) == 0 {
		cfg.Domains = map[string]config.Domain{exampleDomainKey: {BaseDomain: exampleDomain}}
	}
	if err := cfg.ValidateCore(); err != nil {
		return err
	}
	log := cfg.Log.Logger(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	store, err := sqlstore.Open(ctx, cfg.Database.URL, cfg.Database.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := core.NewService(store, cfg.Core.HashConcurrency, log, core.WithHashWait(cfg.Core.HashWait))
	if err := svc.Configure(ctx, rpc.Settings(cfg)); err != nil {
		return err
	}
	if key, created, err := svc.EnsureRootKey(ctx, "root"); err != nil {
		return err
	} else if created {
		fmt.Printf("Root API key (shown once): %s\n", key.Token())
	}

	coreLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cfg.Core.Address = coreLis.Addr().String()
	if err := cfg.ValidateGateway(); err != nil {
		return err
	}
	// One process, one registry: core and gateway series on each address
	// set (either key works).
	mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMetrics()
	if err := metrics.Start(mctx, "metrics.listen_address", cfg.Metrics.ListenAddress, cfg.Metrics.Pprof, log); err != nil {
		return err
	}
	if a := cfg.Core.MetricsAddress; a != cfg.Metrics.ListenAddress {
		if err := metrics.Start(mctx, "core.metrics_address", a, cfg.Metrics.Pprof, log); err != nil {
			return err
		}
	}
	coreDone := make(chan error, 1)
	go func() { coreDone <- rpc.Serve(ctx, coreLis, svc, cfg.Core, 5*time.Second, log) }()

	g, err := gateway.New(cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()
	host := cfg.Server.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	fmt.Printf("API docs: http://%s/v1/docs/\n", net.JoinHostPort(host, strconv.Itoa(cfg.Server.IntegrationPort)))
	err = g.Run(ctx)
	stop()
	if cerr := <-coreDone; err == nil {
		err = cerr
	}
	return err
}
