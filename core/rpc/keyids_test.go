package rpc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ListKeyIds lists the keys that exist, deleted ones not; both calls need
// the link token.
func TestListKeyIds(t *testing.T) {
	tc := serve(t, backends[0])
	svc := tc.svc
	keys := corev1.NewApiKeyServiceClient(tc.conn)
	bg := context.Background()
	a, _ := svc.CreateRootKey(bg, "a", nil)
	b, _ := svc.CreateRootKey(bg, "b", nil)
	if err := svc.DeleteKey(bg, b.GetApiKeyId()); err != nil {
		t.Fatal(err)
	}
	res, err := keys.ListKeyIds(withToken(bg, token, ""), &corev1.ListKeyIdsRequest{})
	if err != nil || !slices.Equal(res.GetApiKeyIds(), []string{a.GetApiKeyId()}) {
		t.Fatalf("ListKeyIds = %v, %v; want [%s]", res.GetApiKeyIds(), err, a.GetApiKeyId())
	}
	if _, err := keys.ListKeyIds(bg, &corev1.ListKeyIdsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListKeyIds without the link token: %v", err)
	}
	if _, err := keys.KeyChangePosition(bg, &corev1.KeyChangePositionRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("KeyChangePosition without the link token: %v", err)
	}
}

// KeyChangePosition is the newest change in the log, and the core's
// streams deliver up to it at once, not at the next poll of the log.
func TestKeyChangePosition(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	store, err := sqlstore.Open(ctx, "", dir)
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
		// A poll interval no test waits out: only the position call can
		// make the stream send a change written behind the feed's back.
		Serve(ctx, lis, svc, config.Core{Token: token, ChangePollInterval: time.Hour}, time.Second, log)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cancel(); <-done; store.Close() })
	keys := corev1.NewApiKeyServiceClient(conn)
	call := withToken(ctx, token, "")

	stream, err := keys.WatchKeyChanges(call, &corev1.WatchKeyChangesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// Another process (an admin command) writes the key: this core's feed
	// hears of it only at its next poll, an hour away.
	other, err := sqlstore.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	created, err := core.NewService(other, 1, log).CreateRootKey(ctx, "behind the feed's back", nil)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := keys.KeyChangePosition(call, &corev1.KeyChangePositionRequest{})
	if err != nil || pos.GetSeq() <= first.GetSeq() {
		t.Fatalf("KeyChangePosition = %v, %v; want past %d", pos, err, first.GetSeq())
	}
	got := make(chan *corev1.KeyChange, 1)
	go func() {
		ev, _ := stream.Recv()
		got <- ev
	}()
	select {
	case ev := <-got:
		if ev.GetApiKeyId() != created.GetApiKeyId() || ev.GetSeq() != pos.GetSeq() {
			t.Fatalf("event = %v, want %s at %d", ev, created.GetApiKeyId(), pos.GetSeq())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not send the change the position call announced")
	}
}
