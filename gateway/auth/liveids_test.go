package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Key ids that do not exist are refused from the live id set: no core
// Verify, no Redis lookup, and a flood of them shares a few position reads.
func TestUnknownKeyIDsNeedNoVerify(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	_, _, header := core.addKey(t, false, nil, nil)
	a := testAuth(t, client, rdb, prefix)
	startWatch(t, a, client)

	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := a.Authenticate(context.Background(), "Bearer "+newKeyID()+"."+newSecret())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("unknown key id: %v, want ErrInvalidKey", err)
		}
	}
	if c := core.verifyCalls.Load(); c != 0 {
		t.Fatalf("the core verified %d unknown key ids, want none", c)
	}
	if s := a.Stats(); s.Unknown != n || s.Misses != 0 {
		t.Fatalf("stats = %+v, want %d refused as unknown", s, n)
	}
	if _, positions := core.counts(); positions > n/10 {
		t.Fatalf("%d position reads for %d unknown ids: they should share a few", positions, n)
	}
	mustAuth(t, a, header) // a real key still goes to the core
	if c := core.verifyCalls.Load(); c != 1 {
		t.Fatalf("core calls = %d, want 1", c)
	}
}

// A key created a moment ago, whose change has not reached this gateway's
// stream yet, is not refused: the gateway waits for its stream to reach the
// core's position first.
func TestJustCreatedKeyIsNotRefused(t *testing.T) {
	core := newFakeCore(testArgon)
	client := serve(t, core)
	a := testAuth(t, client, nil, "")
	startWatch(t, a, client)

	core.set(func(f *fakeCore) { f.holdEvents = true })
	_, _, header := core.addKey(t, false, nil, nil) // its change is held back
	result := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), header)
		result <- err
	}()
	eventually(t, "the gateway asked where the log stands", func() bool {
		_, positions := core.counts()
		return positions > 0
	})
	core.releaseEvents()
	if err := <-result; err != nil {
		t.Fatalf("a key created a moment ago: %v", err)
	}
	if s := a.Stats(); s.Unknown != 0 || s.Misses != 1 {
		t.Fatalf("stats = %+v, want one verification", s)
	}
}

// Without a synced set (a core without ListKeyIds, or the stream lost)
// every key id goes to the core, as before.
func TestUnsyncedSetAsksTheCore(t *testing.T) {
	t.Run("old core", func(t *testing.T) {
		core := newFakeCore(testArgon)
		core.set(func(f *fakeCore) { f.oldCore = true })
		client := serve(t, core)
		_, _, header := core.addKey(t, false, nil, nil)
		a := testAuth(t, client, nil, "")
		startWatch(t, a, client)
		wantErr(t, a, "Bearer "+newKeyID()+"."+newSecret(), ErrInvalidKey)
		mustAuth(t, a, header)
		if c := core.verifyCalls.Load(); c != 2 {
			t.Fatalf("core calls = %d, want 2 (both ids asked)", c)
		}
	})
	t.Run("stream lost", func(t *testing.T) {
		core := newFakeCore(testArgon)
		client := serve(t, core)
		a := testAuth(t, client, nil, "")
		startWatch(t, a, client)
		core.setRefuseWatch(true)
		core.endStreams()
		eventually(t, "a refused reconnect attempt", func() bool { return core.refusedWatches() > 0 })
		// Keys created now are not in the set, and no event will say so.
		_, _, header := core.addKey(t, false, nil, nil)
		mustAuth(t, a, header)
		wantErr(t, a, "Bearer "+newKeyID()+"."+newSecret(), ErrInvalidKey)
		if c := core.verifyCalls.Load(); c != 2 {
			t.Fatalf("core calls = %d, want 2 (both ids asked)", c)
		}
	})
}

// After a reconnect the set is listed again: keys created while the stream
// was down are known, and unknown ids are refused without the core again.
func TestLiveIDsRelistedOnReconnect(t *testing.T) {
	core := newFakeCore(testArgon)
	client := serve(t, core)
	a := testAuth(t, client, nil, "")
	startWatch(t, a, client)
	core.setRefuseWatch(true)
	core.endStreams()
	eventually(t, "a refused reconnect attempt", func() bool { return core.refusedWatches() > 0 })
	keyID, _, header := core.addKey(t, false, nil, nil)
	core.setRefuseWatch(false)
	eventually(t, "listed again", func() bool {
		lists, _ := core.counts()
		found, synced := a.live.has(keyID)
		return lists == 2 && found && synced
	})
	calls := core.verifyCalls.Load()
	mustAuth(t, a, header)
	wantErr(t, a, "Bearer "+newKeyID()+"."+newSecret(), ErrInvalidKey)
	if c := core.verifyCalls.Load(); c != calls+1 {
		t.Fatalf("core calls = %d, want %d (the unknown id refused locally)", c, calls+1)
	}
}

// A revoked key's id stays in the set (the event does not say whether the
// key still exists), so it goes to the core, which refuses it.
func TestRevokedKeyIsRefused(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, nil, nil)
	a := testAuth(t, client, rdb, prefix)
	startWatch(t, a, client)
	mustAuth(t, a, header)
	core.deleteKey(keyID)
	seq := core.publish(keyID, false)
	eventually(t, "the deletion applied", func() bool { return a.LastSeq() == seq })
	wantErr(t, a, header, ErrInvalidKey)
}
