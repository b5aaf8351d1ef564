// Package rpc serves the core over gRPC: it authenticates the gateway
// link, enforces each method's access rule from the contract (access.go)
// with the calling key resolved once per call (callers.go), records the
// calls in the audit log (audit.go), maps core errors to status codes
// once, and streams key changes (feed.go).
package rpc

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// grpcHealth is the standard gRPC health service: container health checks
// call it without the link token, and it is no part of the contract.
const grpcHealth = "/grpc.health.v1.Health/"

// newServer returns the core's gRPC server with every service registered
// and its guards installed, and the feed it needs running (see Serve).
func newServer(svc *core.Service, token string, feed *Feed, aud *auditor, log *slog.Logger, opts ...grpc.ServerOption) (*grpc.Server, error) {
	acc, err := newAccess(newCallers(svc.Store(), feed, svc.KeyUses), svc.Objects(), log)
	if err != nil {
		return nil, err
	}
	link := linkToken{token: token, log: log}
	opts = append(opts,
		grpc.ChainUnaryInterceptor(observeCalls, link.unary, aud.unary, acc.unary),
		grpc.ChainStreamInterceptor(link.stream, acc.stream),
	)
	srv := grpc.NewServer(opts...)
	corev1.RegisterApiKeyServiceServer(srv, apiKeys{svc.Keys, feed})
	corev1.RegisterOrgServiceServer(srv, svc.Orgs)
	corev1.RegisterSiteServiceServer(srv, svc.Sites)
	corev1.RegisterResourceServiceServer(srv, svc.Resources)
	corev1.RegisterDomainServiceServer(srv, svc.Domains)
	corev1.RegisterTargetServiceServer(srv, svc.Targets)
	corev1.RegisterRuleServiceServer(srv, svc.Rules)
	corev1.RegisterResourceAuthServiceServer(srv, svc.ResourceAuth)
	corev1.RegisterResourceAccessServiceServer(srv, svc.ResourceAccess)
	corev1.RegisterAccessTokenServiceServer(srv, svc.AccessTokens)
	corev1.RegisterClientServiceServer(srv, svc.Clients)
	corev1.RegisterPrivateResourceServiceServer(srv, svc.PrivateResources)
	corev1.RegisterRoleServiceServer(srv, svc.Roles)
	corev1.RegisterUserServiceServer(srv, svc.Users)
	corev1.RegisterInvitationServiceServer(srv, svc.Invitations)
	corev1.RegisterIdpServiceServer(srv, svc.Idps)
	corev1.RegisterAuditServiceServer(srv, svc.Audit)
	corev1.RegisterIdempotencyServiceServer(srv, svc.Idempotency)
	corev1.RegisterHealthServiceServer(srv, svc.Health)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	return srv, nil
}

// apiKeys is the ApiKeyService: the core's keys, and the change stream
// served from the feed.
type apiKeys struct {
	*core.Keys
	feed *Feed
}

func (s apiKeys) WatchKeyChanges(req *corev1.WatchKeyChangesRequest, stream corev1.ApiKeyService_WatchKeyChangesServer) error {
	err := s.feed.Stream(stream.Context(), req.GetAfterSeq(), req.GetResume(), stream.Send)
	if err != nil && stream.Context().Err() == nil {
		return core.Errorf(core.CodeUnavailable, "key change feed interrupted")
	}
	return nil
}

// linkToken checks the gateway's link token on every call but the gRPC
// health check.
type linkToken struct {
	token string
	log   *slog.Logger
}

func (l linkToken) check(ctx context.Context, method string) error {
	if strings.HasPrefix(method, grpcHealth) {
		return nil
	}
	got := strings.TrimPrefix(firstIncoming(ctx, corev1.MetadataToken), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(l.token)) != 1 {
		l.log.Warn("core: call with a bad link token refused", "method", method)
		return status.Error(codes.Unauthenticated, "bad core token")
	}
	return nil
}

func (l linkToken) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := l.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

func (l linkToken) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if err := l.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return next(srv, ss)
}

// firstIncoming is the call's first metadata value under key. It reads
// the one key: metadata.FromIncomingContext copies the whole map, twice a
// call (the link token, then the key id).
func firstIncoming(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
