package rpc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

const token = "rpc-test-token-0123456789abcdef0123456789"

// serve starts the core on a loopback port and returns a client connection
// (no token attached) and the service.
func serve(t *testing.T) (*grpc.ClientConn, *core.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := sqlstore.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := core.NewService(store, 1, log)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(ctx, lis, svc, config.Core{Token: token}, time.Second, log)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cancel(); <-done; store.Close() })
	return conn, svc
}

func withToken(ctx context.Context, tok, keyID string) context.Context {
	md := metadata.Pairs(corev1.MetadataToken, "Bearer "+tok)
	if keyID != "" {
		md.Append(corev1.MetadataKeyID, keyID)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

func TestLinkTokenIsRequired(t *testing.T) {
	conn, svc := serve(t)
	ctx := context.Background()
	root, err := svc.CreateRootKey(ctx, "root", core.Actions)
	if err != nil {
		t.Fatal(err)
	}
	orgs := corev1.NewOrgServiceClient(conn)
	for name, c := range map[string]context.Context{
		"no token":    ctx,
		"wrong token": withToken(ctx, token+"x", root.ID),
		"no key id":   withToken(ctx, token, ""),
		"unknown key": withToken(ctx, token, "nosuchkey000000"),
	} {
		if _, err := orgs.ListOrgs(c, &corev1.ListOrgsRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: %v, want Unauthenticated", name, err)
		}
	}
	if _, err := orgs.ListOrgs(withToken(ctx, token, root.ID), &corev1.ListOrgsRequest{}); err != nil {
		t.Fatalf("good call refused: %v", err)
	}
	// Container health checks carry no token.
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", res, err)
	}
}

func TestErrorsMapToStatusCodes(t *testing.T) {
	conn, svc := serve(t)
	ctx := context.Background()
	root, _ := svc.CreateRootKey(ctx, "root", core.Actions)
	c := withToken(ctx, token, root.ID)
	orgs := corev1.NewOrgServiceClient(conn)
	sites := corev1.NewSiteServiceClient(conn)
	if _, err := orgs.CreateOrg(c, &corev1.CreateOrgRequest{OrgId: "acme", Name: "A", Subnet: "10.0.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]struct {
		err  error
		want codes.Code
	}{
		"invalid": {func() error {
			_, err := orgs.CreateOrg(c, &corev1.CreateOrgRequest{OrgId: "b", Name: "B", Subnet: "x"})
			return err
		}(), codes.InvalidArgument},
		"conflict": {func() error {
			_, err := orgs.CreateOrg(c, &corev1.CreateOrgRequest{OrgId: "acme", Name: "A", Subnet: "10.0.0.0/24"})
			return err
		}(), codes.AlreadyExists},
		"missing": {func() error { _, err := sites.GetSite(c, &corev1.SiteIdRequest{SiteId: 42}); return err }(), codes.NotFound},
	} {
		if status.Code(got.err) != got.want {
			t.Errorf("%s: %v, want %s", name, got.err, got.want)
		}
	}
}

// The change stream starts with the current position, then carries every
// key change; a resume replays what was missed.
func TestWatchKeyChanges(t *testing.T) {
	conn, svc := serve(t)
	ctx, cancel := context.WithCancel(withToken(context.Background(), token, ""))
	defer cancel()
	keys := corev1.NewApiKeyServiceClient(conn)
	if _, err := svc.CreateRootKey(context.Background(), "first", nil); err != nil {
		t.Fatal(err)
	}
	stream, err := keys.WatchKeyChanges(ctx, &corev1.WatchKeyChangesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pos, err := stream.Recv()
	if err != nil || pos.GetApiKeyId() != "" || pos.GetReset_() || pos.GetSeq() < 1 {
		t.Fatalf("first event = %v, %v; want the position", pos, err)
	}
	second, _ := svc.CreateRootKey(context.Background(), "second", nil)
	ev, err := stream.Recv()
	if err != nil || ev.GetApiKeyId() != second.ID || ev.GetSeq() <= pos.GetSeq() {
		t.Fatalf("event = %v, %v; want %s", ev, err, second.ID)
	}
	cancel()

	// Away from the stream: a delete; resuming from the position replays both.
	if err := svc.DeleteKey(context.Background(), second.ID); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(withToken(context.Background(), token, ""))
	defer cancel2()
	resumed, err := keys.WatchKeyChanges(ctx2, &corev1.WatchKeyChangesRequest{AfterSeq: pos.GetSeq(), Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		ev, err := resumed.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.GetApiKeyId())
	}
	if got[0] != "" || got[1] != second.ID || got[2] != second.ID {
		t.Fatalf("replay = %q, want [position, create, delete]", got)
	}

	// A position the log never reached (the database was replaced): reset.
	ctx3, cancel3 := context.WithCancel(withToken(context.Background(), token, ""))
	defer cancel3()
	future, err := keys.WatchKeyChanges(ctx3, &corev1.WatchKeyChangesRequest{AfterSeq: 1 << 40, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := future.Recv(); err != nil || !ev.GetReset_() {
		t.Fatalf("want a reset, got %v, %v", ev, err)
	}
}
