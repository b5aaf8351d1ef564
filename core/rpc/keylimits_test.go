package rpc

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// The core applies a key's allow list to every call, from the address the
// gateway sends, whatever any gateway cached: another address, or none, is
// a 403 naming it. A call that passes counts as the key's use, written by
// the core off the call's path.
func TestCoreAppliesAllowList(t *testing.T) {
	c := serve(t, backends[0])
	root := c.rootKey(t)
	c.org(t, root, "acme")
	keys := corev1.NewApiKeyServiceClient(c.conn)
	key, err := keys.CreateOrgKey(as(root), &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "listed", AllowedIps: []string{"203.0.113.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	from := func(addr string) context.Context {
		ctx := as(key.GetApiKeyId())
		if addr != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, corev1.MetadataClientAddress, addr)
		}
		return ctx
	}
	me := func(addr string) error {
		_, err := keys.GetCallerKey(from(addr), &corev1.GetCallerKeyRequest{})
		return err
	}
	wantStatus(t, "another address", me("198.51.100.7"), codes.PermissionDenied, "Key not allowed from 198.51.100.7")
	wantStatus(t, "no address", me(""), codes.PermissionDenied, "Key not allowed from an unknown address")
	if err := me("203.0.113.7"); err != nil {
		t.Fatalf("an address on the list: %v", err)
	}

	// The use shows once the core has written it (every few seconds).
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := keys.GetCallerKey(from("203.0.113.7"), &corev1.GetCallerKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lastUsedAt never set")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
