package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
)

// defaultFeedInterval is how often the core looks for key changes written
// by others (admin commands, other core replicas) when core.change_poll_interval
// is unset; local writes, and on PostgreSQL every NOTIFY, poke the feed at
// once. It keeps revocations well inside the one-second promise, and bounds
// how long the core's own caller cache may serve a key's old scope.
const defaultFeedInterval = 200 * time.Millisecond

// keyUseFlush is how often the core writes the keys' last uses it noted: a
// key's lastUsedAt lags its use by at most this (and is kept to the
// minute, core.KeyUseInterval).
const keyUseFlush = 5 * time.Second

// Flow-control windows of the gateway–core link, on both sides (the
// gateway's DialCore sets the same): a call's message fits the stream
// window (MaxRecvMsgSize is 4 MiB), and the connection carries several at
// once.
const (
	linkStreamWindow = 4 << 20
	linkConnWindow   = 16 << 20
)

// Serve runs the core's gRPC server on lis until ctx ends, then stops
// gracefully (bounded by grace).
func Serve(ctx context.Context, lis net.Listener, svc *core.Service, cfg config.Core, grace time.Duration, log *slog.Logger) error {
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(4 << 20),
		// Serve calls on long-lived goroutines. By default every call gets
		// a new one, whose stack then grows, by copying, to the depth of
		// the store (SQLite's C-translated code runs deep): copystack was
		// 11% of the embedded default's CPU on GET /v1/org/{id}. Calls
		// beyond the workers still get their own goroutine.
		grpc.NumStreamWorkers(uint32(max(32, 8*runtime.GOMAXPROCS(0)))),
		// Fixed flow-control windows, as large as the largest message: with
		// the default dynamic window, gRPC measures the link's bandwidth by
		// answering data with a PING, which on our small calls meant about
		// one PING and its ACK per call (frames, syscalls and wake-ups on
		// both sides). Setting the windows turns the estimator off.
		grpc.InitialWindowSize(linkStreamWindow),
		grpc.InitialConnWindowSize(linkConnWindow),
	}
	if cfg.TLS.Enabled() {
		tlsCfg, err := serverTLS(cfg.TLS)
		if err != nil {
			return err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	interval := cfg.ChangePollInterval
	if interval <= 0 {
		interval = defaultFeedInterval
	}
	feed := NewFeed(svc.Store(), interval, log)
	aud := newAuditor(svc.Audit, log)
	srv, err := newServer(svc, cfg.Token, feed, aud, log, opts...)
	if err != nil {
		return err
	}
	feedCtx, stopFeed := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFeed()
	go feed.Run(feedCtx)
	usesCtx, stopUses := context.WithCancel(context.WithoutCancel(ctx))
	usesDone := make(chan struct{})
	go func() { svc.KeyUses.Run(usesCtx, keyUseFlush); close(usesDone) }()
	// After the calls: the uses they noted are written before Serve returns.
	defer func() { stopUses(); <-usesDone }()
	// The audit log's flusher and pruner outlive the server's graceful
	// stop, so the refusals of the last calls are stored too.
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	audited := make(chan struct{})
	go func() { aud.run(auditCtx); close(audited) }()
	defer func() { stopAudit(); <-audited }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("core: serving gRPC", "addr", lis.Addr().String(), "tls", cfg.TLS.Enabled())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("core: shutting down")
	stopFeed() // ends the key change streams so the graceful stop can finish
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grace):
		srv.Stop()
	}
	return nil
}

func serverTLS(cfg config.TLS) (*tls.Config, error) {
	if cfg.CertFile == "" {
		return nil, fmt.Errorf("core.tls.cert_file: the core needs a certificate to serve TLS")
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("core.tls.cert_file: %w", err)
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.CAFile != "" {
		// With a CA, gateways must present a certificate it signed (mTLS).
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("core.tls.ca_file: %w", err)
		}
		t.ClientCAs = x509.NewCertPool()
		if !t.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("core.tls.ca_file: no certificate in %s", cfg.CAFile)
		}
		t.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return t, nil
}
