// Command pangolin-gateway serves the Pangolin Integration API (/v1): it
// authenticates API keys, checks each route's guards and turns the call
// into a gRPC call on pangolin-core.
//
//	pangolin-gateway [--config FILE]
//	pangolin-gateway [--config FILE] healthcheck
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"pangolin-gateway/config"
	"pangolin-gateway/gateway"
	"pangolin-gateway/internal/metrics"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pangolin-gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, args, err := config.FromArgs("pangolin-gateway", args)
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
	case "healthcheck":
		return healthcheck(cfg)
	default:
		return fmt.Errorf("unknown command %q (serve, healthcheck)", cmd)
	}
	if err := cfg.ValidateGateway(); err != nil {
		return err
	}
	log := cfg.Log.Logger(os.Stderr)
	g, err := gateway.New(cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Metrics outlive the drain: the listener closes when run returns.
	mctx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMetrics()
	if err := metrics.Start(mctx, "metrics.listen_address", cfg.Metrics.ListenAddress, cfg.Metrics.Pprof, log); err != nil {
		return err
	}
	// The first signal starts the graceful drain; a second one kills.
	context.AfterFunc(ctx, stop)
	return g.Run(ctx)
}

// healthcheck asks the local gateway's health route (for container health
// checks; the image has no shell or curl).
func healthcheck(cfg config.Config) error {
	client := http.Client{Timeout: 3 * time.Second}
	res, err := client.Get("http://127.0.0.1:" + strconv.Itoa(cfg.Server.IntegrationPort) + "/v1/")
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("health route answered %d", res.StatusCode)
	}
	return nil
}
