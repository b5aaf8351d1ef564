// Command pangolin-core is the core Pangolin server: it owns the data and
// serves it over gRPC to the gateways. Its subcommands are the server
// admin's tools (root keys), run on the core host.
//
//	pangolin-core [--config FILE] [serve]
//	pangolin-core [--config FILE] keys create-root --name NAME [--actions all|id,id]
//	    [--expires-in 30d | --expires-at TIME] [--allowed-ips CIDR,…] [--rate-limit N/S]
//	pangolin-core [--config FILE] keys list
//	pangolin-core [--config FILE] keys roll KEY_ID [--grace 1h]
//	pangolin-core [--config FILE] keys revoke KEY_ID
//	pangolin-core [--config FILE] healthcheck
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/rpc"
	"pangolin-gateway/core/sqlstore"
	"pangolin-gateway/internal/metrics"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pangolin-core:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, args, err := config.FromArgs("pangolin-core", args)
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(cfg)
	case "keys":
		return keys(cfg, args)
	case "healthcheck":
		return healthcheck(cfg)
	default:
		return fmt.Errorf("unknown command %q (serve, keys, healthcheck)", cmd)
	}
}

func serve(cfg config.Config) error {
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
	lis, err := net.Listen("tcp", cfg.Core.ListenAddress)
	if err != nil {
		return fmt.Errorf("core.listen_address: %w", err)
	}
	mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMetrics()
	if err := metrics.Start(mctx, "core.metrics_address", cfg.Core.MetricsAddress, cfg.Metrics.Pprof, log); err != nil {
		return err
	}
	svc := core.NewService(store, cfg.Core.HashConcurrency, log, core.WithHashWait(cfg.Core.HashWait))
	if err := svc.Configure(ctx, rpc.Settings(cfg)); err != nil {
		return err
	}
	return rpc.Serve(ctx, lis, svc, cfg.Core, 20*time.Second, log)
}

// healthcheck asks the local core's gRPC health service (for container
// health checks; the image has no shell or curl).
func healthcheck(cfg config.Config) error {
	_, port, err := net.SplitHostPort(cfg.Core.ListenAddress)
	if err != nil {
		return fmt.Errorf("core.listen_address: %w", err)
	}
	if cfg.Core.TLS.Enabled() {
		// The health service answers over the same listener; with TLS a
		// TCP connect is the check we can make without client material.
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), 3*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
	conn, err := grpc.NewClient(net.JoinHostPort("127.0.0.1", port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("core is %s", res.GetStatus())
	}
	return nil
}
