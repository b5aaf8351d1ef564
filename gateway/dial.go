package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"pangolin-gateway/config"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// DialCore returns a connection to the core. A dns:/// address balances
// round robin over every core replica the name resolves to.
func DialCore(cfg config.Core) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if cfg.TLS.Enabled() {
		tlsCfg, err := clientTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(tlsCfg)
	}
	conn, err := grpc.NewClient(cfg.Address,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(linkToken{token: cfg.Token, tls: cfg.TLS.Enabled()}),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithUnaryInterceptor(observeCoreCalls),
		// Fixed windows turn off gRPC's bandwidth estimator, which sent a
		// PING (and read its ACK) for about every answer of our small
		// calls; the core sets the same. 4 MiB is the largest message.
		grpc.WithInitialWindowSize(4<<20),
		grpc.WithInitialConnWindowSize(16<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("core.address: %w", err)
	}
	return conn, nil
}

func clientTLS(cfg config.TLS) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("core.tls.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("core.tls.ca_file: no certificate in %s", cfg.CAFile)
		}
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("core.tls.cert_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// linkToken authenticates every call to the core.
type linkToken struct {
	token string
	tls   bool
}

func (l linkToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{corev1.MetadataToken: "Bearer " + l.token}, nil
}

func (l linkToken) RequireTransportSecurity() bool { return l.tls }
