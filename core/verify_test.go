package core_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// A verification of a key id that does not exist computes no hash and
// takes no place in the Hasher's line: while wrong secrets for a real key
// keep that key's line full (others are refused with 429), unknown ids
// still get the 401 at once.
func TestVerifyUnknownKeyTakesNoSlot(t *testing.T) {
	svc := newService(t) // 2 hashing slots
	ctx := context.Background()
	key, err := svc.CreateRootKey(ctx, "real", nil)
	if err != nil {
		t.Fatal(err)
	}

	floodCtx, stop := context.WithCancel(ctx)
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() {
			for floodCtx.Err() == nil {
				if _, err := svc.Keys.Verify(floodCtx, &corev1.VerifyRequest{ApiKeyId: key.GetApiKeyId(), Secret: core.NewKeySecret()}); code(err) == core.CodeExhausted {
					refused.Add(1)
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the wrong secrets never filled the key's line")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 20 {
		if _, err := svc.Keys.Verify(ctx, &corev1.VerifyRequest{ApiKeyId: core.RandomID(15), Secret: core.NewKeySecret()}); code(err) != core.CodeUnauthenticated || err.Error() != "Invalid API key" {
			t.Fatalf("unknown key id %d with the queue full: %v, want the one 401 answer", i, err)
		}
	}
	stop()
	wg.Wait()

	// No argon2id either: one hash allocates its 19 MiB; ten unknown ids
	// together allocate far less than one.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := svc.Keys.Verify(ctx, &corev1.VerifyRequest{ApiKeyId: core.RandomID(15), Secret: core.NewKeySecret()}); code(err) != core.CodeUnauthenticated {
			t.Fatalf("unknown key id: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Fatalf("ten unknown key ids allocated %d MiB: a hash was computed", n>>20)
	}
}
