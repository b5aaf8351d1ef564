// Package rpc serves the core over gRPC: it authenticates the gateway link,
// resolves the calling API key and maps core errors to status codes once.
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

// Register adds the core's services and the gRPC health service to srv.
func Register(srv *grpc.Server, svc *core.Service, feed *Feed) {
	corev1.RegisterApiKeyServiceServer(srv, &apiKeys{svc: svc, feed: feed})
	corev1.RegisterOrgServiceServer(srv, &orgs{svc: svc, feed: feed})
	corev1.RegisterSiteServiceServer(srv, &sites{svc: svc})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
}

// ServerOptions returns the interceptors that check the link token on
// every call but the health check, and log failures without secrets.
func ServerOptions(token string, log *slog.Logger) []grpc.ServerOption {
	check := func(ctx context.Context, method string) error {
		if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
			return nil
		}
		md, _ := metadata.FromIncomingContext(ctx)
		got := strings.TrimPrefix(first(md, corev1.MetadataToken), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			log.Warn("core: call with a bad link token refused", "method", method)
			return status.Error(codes.Unauthenticated, "bad core token")
		}
		return nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if err := check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			res, err := next(ctx, req)
			// One debug line per call: which replica served what (the
			// tests of dns:/// balancing read it); no request content.
			if log.Enabled(ctx, slog.LevelDebug) {
				log.Debug("core: call", "method", info.FullMethod, "code", status.Code(err).String())
			}
			return res, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			if err := check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return next(srv, ss)
		}),
	}
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// caller resolves the API key the gateway acts for.
func caller(ctx context.Context, svc *core.Service) (core.Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	id := first(md, corev1.MetadataKeyID)
	if id == "" {
		return core.Caller{}, status.Error(codes.Unauthenticated, "API key required")
	}
	c, err := svc.CallerFor(ctx, id)
	return c, toStatus(err)
}

// toStatus maps a core error to its gRPC status; messages of *core.Error
// are client-safe, anything else was already reduced to "An error occurred".
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	code := map[core.Code]codes.Code{
		core.CodeInvalid:         codes.InvalidArgument,
		core.CodeNotFound:        codes.NotFound,
		core.CodeConflict:        codes.AlreadyExists,
		core.CodeForbidden:       codes.PermissionDenied,
		core.CodeUnauthenticated: codes.Unauthenticated,
		core.CodeUnavailable:     codes.Unavailable,
		core.CodeExhausted:       codes.ResourceExhausted,
	}[core.ErrorCode(err)]
	if code == codes.OK {
		return status.Error(codes.Internal, "An error occurred")
	}
	return status.Error(code, err.Error())
}

func page(p *corev1.Page) core.Page {
	return core.Page{Limit: int(p.GetLimit()), Offset: int(p.GetOffset())}
}
