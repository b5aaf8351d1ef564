package auth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

var testSecretKey = []byte("test-hmac-secret-of-at-least-32-bytes!")

func testAuth(t testing.TB, client corev1.ApiKeyServiceClient, rdb redis.UniversalClient, prefix string) *Authenticator {
	t.Helper()
	return New(Options{
		Verifier:    CoreVerifier{Client: client},
		Redis:       rdb,
		RedisPrefix: prefix,
		Secret:      testSecretKey,
		TTL:         time.Minute,
		Size:        100,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
}

// startWatch runs a.Watch until the test ends and waits for its stream.
func startWatch(t *testing.T, a *Authenticator, client corev1.ApiKeyServiceClient) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Watch(ctx, client)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-a.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("watch stream never opened")
	}
}

func mustAuth(t *testing.T, a *Authenticator, header string) *Principal {
	t.Helper()
	p, err := a.Authenticate(context.Background(), header)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p == nil {
		t.Fatal("Authenticate: nil principal without error")
	}
	return p
}

func wantErr(t *testing.T, a *Authenticator, header string, want error) {
	t.Helper()
	p, err := a.Authenticate(context.Background(), header)
	if !errors.Is(err, want) || p != nil {
		t.Fatalf("Authenticate = %v, %v; want nil, %v", p, err, want)
	}
}

func l2Exists(t *testing.T, rdb redis.UniversalClient, prefix, keyID string) bool {
	t.Helper()
	n, err := rdb.Exists(context.Background(), prefix+keyID).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestParseBearer(t *testing.T) {
	id := "abcdefghij12345"
	sec := "abcdefghijklmnopqrstuvwxyz23456723456723" // 40 chars of base32
	tests := []struct {
		name, header   string
		wantID, wantSk string
		wantErr        error
	}{
		{"good", "Bearer " + id + "." + sec, id, sec, nil},
		{"short secret still parses", "Bearer " + id + ".x", id, "x", nil},
		{"64-char secret", "Bearer " + id + "." + strings.Repeat("a", 64), id, strings.Repeat("a", 64), nil},
		{"absent", "", "", "", ErrMissingKey},
		{"non-Bearer", "Basic dXNlcjpwYXNz", "", "", ErrMissingKey},
		{"lower-case bearer", "bearer " + id + "." + sec, "", "", ErrMissingKey},
		{"Bearer without token", "Bearer ", "", "", ErrMissingKey},
		{"Bearer without space", "Bearer", "", "", ErrMissingKey},
		{"no dot", "Bearer " + id + sec, "", "", ErrInvalidKey},
		{"empty secret", "Bearer " + id + ".", "", "", ErrInvalidKey},
		{"empty key id", "Bearer ." + sec, "", "", ErrInvalidKey},
		{"key id too short", "Bearer " + id[1:] + "." + sec, "", "", ErrInvalidKey},
		{"key id too long", "Bearer " + id + "a." + sec, "", "", ErrInvalidKey},
		{"upper-case key id", "Bearer ABCDEFGHIJ12345." + sec, "", "", ErrInvalidKey},
		{"bad char in secret", "Bearer " + id + "." + sec[:39] + "!", "", "", ErrInvalidKey},
		{"second dot", "Bearer " + id + "." + sec[:20] + "." + sec[20:], "", "", ErrInvalidKey},
		{"secret too long", "Bearer " + id + "." + strings.Repeat("a", 65), "", "", ErrInvalidKey},
		{"huge header", "Bearer " + strings.Repeat("a", 10000), "", "", ErrInvalidKey},
		{"space inside", "Bearer " + id + ". " + sec, "", "", ErrInvalidKey},
		{"trailing newline", "Bearer " + id + "." + sec + "\n", "", "", ErrInvalidKey},
		{"double space", "Bearer  " + id + "." + sec, "", "", ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, sk, err := ParseBearer(tt.header)
			if !errors.Is(err, tt.wantErr) || id != tt.wantID || sk != tt.wantSk {
				t.Fatalf("ParseBearer(%q) = %q, %q, %v; want %q, %q, %v", tt.header, id, sk, err, tt.wantID, tt.wantSk, tt.wantErr)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	for err, want := range map[error]string{
		ErrMissingKey:  "API key required: send Authorization: Bearer <apiKeyId>.<secret>",
		ErrInvalidKey:  "Invalid API key",
		ErrUnavailable: "Authentication service unavailable",
		ErrBusy:        "Too many authentication attempts, retry later",
	} {
		if err.Error() != want {
			t.Errorf("got %q, want %q", err.Error(), want)
		}
	}
}

func TestPrincipalSets(t *testing.T) {
	for _, p := range []*Principal{
		NewPrincipal("k", false, []string{"org1", "org2"}, []string{"listSites", "createSite"}),
		{KeyID: "k", OrgIDs: []string{"org1", "org2"}, Actions: []string{"listSites", "createSite"}}, // literal: no sets
	} {
		if !p.HasOrg("org2") || p.HasOrg("org3") || !p.HasAction("createSite") || p.HasAction("deleteSite") {
			t.Errorf("wrong answers for %+v", p)
		}
	}
	root := NewPrincipal("r", true, nil, nil)
	if root.HasOrg("org1") || root.HasAction("x") {
		t.Error("HasOrg/HasAction must not be implied by IsRoot")
	}
	var none *Principal
	if none.HasOrg("org1") || none.HasAction("x") {
		t.Error("nil principal has nothing")
	}
}

func TestMalformedHeaderDoesNoIO(t *testing.T) {
	a := New(Options{Verifier: verifierFunc(func(context.Context, string, string) (*Principal, error) {
		t.Fatal("verifier called for a malformed header")
		return nil, nil
	}), Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})})
	wantErr(t, a, "", ErrMissingKey)
	wantErr(t, a, "Bearer abc", ErrInvalidKey)
	if s := a.Stats(); s != (Stats{}) {
		t.Fatalf("stats moved: %+v", s)
	}
}

type verifierFunc func(ctx context.Context, keyID, secret string) (*Principal, error)

func (f verifierFunc) Verify(ctx context.Context, keyID, secret string) (*Principal, error) {
	return f(ctx, keyID, secret)
}

func TestColdThenL1(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, []string{"org1"}, []string{"listSites"})
	a := testAuth(t, client, rdb, prefix)

	p := mustAuth(t, a, header)
	if p.KeyID != keyID || p.IsRoot || !p.HasOrg("org1") || !p.HasAction("listSites") || p.HasAction("createSite") {
		t.Fatalf("principal = %+v", p)
	}
	if n := core.verifyCalls.Load(); n != 1 {
		t.Fatalf("core calls = %d, want 1", n)
	}
	if !l2Exists(t, rdb, prefix, keyID) {
		t.Fatal("cold auth did not fill L2")
	}
	mustAuth(t, a, header)
	mustAuth(t, a, header)
	if n := core.verifyCalls.Load(); n != 1 {
		t.Fatalf("core calls = %d after L1 hits, want 1", n)
	}
	if s := a.Stats(); s != (Stats{L1Hits: 2, Misses: 1}) {
		t.Fatalf("stats = %+v", s)
	}
}

func TestSecondReplicaHitsL2(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	_, _, header := core.addKey(t, true, []string{"org1"}, []string{"createOrg"})
	a1 := testAuth(t, client, rdb, prefix)
	a2 := testAuth(t, client, rdb, prefix)

	mustAuth(t, a1, header)
	p := mustAuth(t, a2, header)
	if !p.IsRoot || !p.HasAction("createOrg") || !p.HasOrg("org1") {
		t.Fatalf("principal from L2 = %+v", p)
	}
	if n := core.verifyCalls.Load(); n != 1 {
		t.Fatalf("core calls = %d, want 1 (second replica should hit L2)", n)
	}
	if s := a2.Stats(); s != (Stats{L2Hits: 1}) {
		t.Fatalf("replica 2 stats = %+v", s)
	}
	mustAuth(t, a2, header) // now from its L1
	if s := a2.Stats(); s.L1Hits != 1 {
		t.Fatalf("replica 2 stats = %+v, want an L1 hit after the L2 fill", s)
	}
}

func TestWrongSecretForCachedKeyNeedsNoCore(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, nil, nil)
	a1 := testAuth(t, client, rdb, prefix)
	a2 := testAuth(t, client, rdb, prefix)
	mustAuth(t, a1, header)

	wrong := "Bearer " + keyID + "." + newSecret()
	wantErr(t, a1, wrong, ErrInvalidKey) // from L1
	wantErr(t, a2, wrong, ErrInvalidKey) // from L2
	wantErr(t, a2, wrong, ErrInvalidKey) // from L2-filled L1
	if n := core.verifyCalls.Load(); n != 1 {
		t.Fatalf("core calls = %d, want 1", n)
	}
	mustAuth(t, a2, header) // the right secret still works
}

func TestUnknownKeyIsInvalid(t *testing.T) {
	core := newFakeCore(testArgon)
	a := testAuth(t, serve(t, core), nil, "")
	wantErr(t, a, "Bearer "+newKeyID()+"."+newSecret(), ErrInvalidKey)
	if n := core.verifyCalls.Load(); n != 1 {
		t.Fatalf("core calls = %d, want 1", n)
	}
}

func TestInvalidationEventReachesEveryReplica(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, []string{"org1"}, nil)
	a1 := testAuth(t, client, rdb, prefix)
	a2 := testAuth(t, client, rdb, prefix)
	startWatch(t, a1, client)
	startWatch(t, a2, client)
	eventually(t, "both replicas subscribed", func() bool { return core.subscribers() == 2 })
	mustAuth(t, a1, header)
	mustAuth(t, a2, header)
	calls := core.verifyCalls.Load()

	// The key is deleted in the core: one replica (the one serving the
	// DELETE, say) invalidates at once; the event then reaches both.
	core.deleteKey(keyID)
	if err := a1.Invalidate(context.Background(), keyID); err != nil {
		t.Fatal(err)
	}
	seq := core.publish(keyID, false)
	eventually(t, "both replicas applied the event", func() bool { return a1.LastSeq() == seq && a2.LastSeq() == seq })

	if l2Exists(t, rdb, prefix, keyID) {
		t.Fatal("L2 still holds the deleted key")
	}
	wantErr(t, a1, header, ErrInvalidKey)
	wantErr(t, a2, header, ErrInvalidKey)
	if n := core.verifyCalls.Load(); n != calls+2 {
		t.Fatalf("core calls = %d, want %d: each replica must ask the core again", n, calls+2)
	}
}

// An invalidation that arrives while a miss is being filled from the core
// must win: the fill must not store what it read before.
func TestInvalidationDuringCoreFillWins(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, nil, []string{"listSites"})
	a := testAuth(t, client, rdb, prefix)

	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func() { once.Do(func() { close(started); <-release }) }
	core.beforeVerify.Store(&hook)

	result := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), header)
		result <- err
	}()
	<-started // the core is answering with the old state
	core.deleteKey(keyID)
	if err := a.Invalidate(context.Background(), keyID); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-result; err != nil {
		t.Fatalf("in-flight request: %v (it began before the delete and may succeed)", err)
	}

	if _, ok := a.l1.Peek(keyID); ok {
		t.Fatal("stale entry in L1 after the invalidation")
	}
	if l2Exists(t, rdb, prefix, keyID) {
		t.Fatal("stale entry in L2 after the invalidation")
	}
	wantErr(t, a, header, ErrInvalidKey)
	if n := core.verifyCalls.Load(); n != 2 {
		t.Fatalf("core calls = %d, want 2", n)
	}
}

// The same race on the L2 → L1 path: a replica reads an entry from Redis,
// the key is invalidated, then the replica would fill L1 from what it read.
func TestInvalidationDuringL2FillWins(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, nil, nil)
	a1 := testAuth(t, client, rdb, prefix)
	a2 := testAuth(t, client, rdb, prefix)
	mustAuth(t, a1, header)

	a2.testHookL2Read = func(id string) {
		core.deleteKey(id)
		if err := a2.Invalidate(context.Background(), id); err != nil {
			t.Error(err)
		}
	}
	mustAuth(t, a2, header) // read from L2 before the delete: may succeed
	a2.testHookL2Read = nil
	if _, ok := a2.l1.Peek(keyID); ok {
		t.Fatal("stale L2 entry was copied into L1 after the invalidation")
	}
	wantErr(t, a2, header, ErrInvalidKey)
}

// A request that reads L2 while an invalidation is between its L1 removal
// and its L2 DEL must not copy the stale value into L1 afterwards.
func TestReadDuringInvalidationDoesNotRefill(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, nil, nil)
	a := testAuth(t, client, rdb, prefix)
	mustAuth(t, a, header) // L1 and L2 filled

	readDone := make(chan struct{})
	result := make(chan error, 1)
	a.testHookL2Read = func(string) { close(readDone) }
	a.testHookInvalidating = func(id string) {
		// L1 is already empty, the L2 entry not yet deleted: a request now
		// reads the stale entry, then waits for the lock to fill L1.
		go func() {
			_, err := a.Authenticate(context.Background(), header)
			result <- err
		}()
		<-readDone
	}
	core.deleteKey(keyID)
	if err := a.Invalidate(context.Background(), keyID); err != nil {
		t.Fatal(err)
	}
	<-result // it read before the DEL finished: it may succeed
	a.testHookL2Read, a.testHookInvalidating = nil, nil
	if _, ok := a.l1.Peek(keyID); ok {
		t.Fatal("stale entry in L1 after the invalidation")
	}
	wantErr(t, a, header, ErrInvalidKey)
}

func TestSingleflightOneCoreCall(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	_, _, header := core.addKey(t, false, nil, nil)
	a := testAuth(t, client, rdb, prefix)

	const n = 50
	release := make(chan struct{})
	hook := func() { <-release }
	core.beforeVerify.Store(&hook)
	var joined sync.WaitGroup
	joined.Add(n)
	a.testHookJoined = joined.Done

	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := a.Authenticate(context.Background(), header)
			errs <- err
		}()
	}
	joined.Wait() // all 50 wait on one flight
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c := core.verifyCalls.Load(); c != 1 {
		t.Fatalf("core calls = %d, want 1", c)
	}
}

func TestRedisDownStillAuthenticates(t *testing.T) {
	core := newFakeCore(testArgon)
	client := serve(t, core)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	keyID, _, header := core.addKey(t, false, nil, nil)
	a := testAuth(t, client, down, "")

	mustAuth(t, a, header)
	mustAuth(t, a, header)
	if n := core.verifyCalls.Load(); n != 1 {
		t.Fatalf("core calls = %d, want 1 (second from L1)", n)
	}
	wantErr(t, a, "Bearer "+keyID+"."+newSecret(), ErrInvalidKey)
	if err := a.Invalidate(context.Background(), keyID); err == nil {
		t.Fatal("Invalidate hid the Redis failure")
	}
	if err := a.InvalidateAll(context.Background()); err == nil {
		t.Fatal("InvalidateAll hid the Redis failure")
	}
	mustAuth(t, a, header) // L1 was cleared anyway: back to the core
	if n := core.verifyCalls.Load(); n != 2 {
		t.Fatalf("core calls = %d, want 2", n)
	}
}

func TestCoreDownNeverSucceeds(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	a := testAuth(t, dial(t, addr), nil, "")
	header := "Bearer " + newKeyID() + "." + newSecret()
	for range 2 {
		wantErr(t, a, header, ErrUnavailable)
	}
	if s := a.Stats(); s.Misses != 2 {
		t.Fatalf("stats = %+v: a failure must not be cached", s)
	}
}

func TestCoreErrorMapping(t *testing.T) {
	core := newFakeCore(testArgon)
	a := testAuth(t, serve(t, core), nil, "")
	_, _, header := core.addKey(t, false, nil, nil)
	for code, want := range map[codes.Code]error{
		codes.Unauthenticated:   ErrInvalidKey,
		codes.NotFound:          ErrInvalidKey,
		codes.Unavailable:       ErrUnavailable,
		codes.DeadlineExceeded:  ErrUnavailable,
		codes.Internal:          ErrUnavailable,
		codes.PermissionDenied:  ErrUnavailable,
		codes.ResourceExhausted: ErrBusy,
	} {
		core.failCode.Store(uint32(code))
		wantErr(t, a, header, want)
	}
	core.failCode.Store(uint32(codes.OK))
	mustAuth(t, a, header)
}

func TestVerifierAnswersAreContained(t *testing.T) {
	header := "Bearer " + newKeyID() + "." + newSecret()
	a := New(Options{Verifier: verifierFunc(func(context.Context, string, string) (*Principal, error) {
		return nil, errors.New("some driver error")
	})})
	wantErr(t, a, header, ErrUnavailable)
	a = New(Options{Verifier: verifierFunc(func(context.Context, string, string) (*Principal, error) {
		return nil, nil
	})})
	wantErr(t, a, header, ErrUnavailable)
}

func TestCallerCancelWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	a := New(Options{Verifier: verifierFunc(func(ctx context.Context, keyID, _ string) (*Principal, error) {
		<-release
		return NewPrincipal(keyID, false, nil, nil), nil
	})})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	header := "Bearer " + newKeyID() + "." + newSecret()
	if p, err := a.Authenticate(ctx, header); !errors.Is(err, ErrUnavailable) || p != nil {
		t.Fatalf("Authenticate = %v, %v; want ErrUnavailable", p, err)
	}
	close(release)
	// The detached verification completes and fills the cache for others.
	eventually(t, "fill after caller gave up", func() bool {
		_, err := a.Authenticate(context.Background(), header)
		return err == nil && a.Stats().L1Hits > 0
	})
}

func TestTamperedL2EntryIsIgnored(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	keyID, _, header := core.addKey(t, false, []string{"org1"}, nil)
	a1 := testAuth(t, client, rdb, prefix)
	mustAuth(t, a1, header)

	// Someone with Redis access widens the key to root.
	ctx := context.Background()
	val, err := rdb.Get(ctx, prefix+keyID).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(val), `"d":`, `"r":true,"d":`, 1)
	if err := rdb.Set(ctx, prefix+keyID, forged, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	a2 := testAuth(t, client, rdb, prefix)
	if p := mustAuth(t, a2, header); p.IsRoot {
		t.Fatal("forged L2 entry was trusted")
	}
	if s := a2.Stats(); s.L2Hits != 0 || s.Misses != 1 {
		t.Fatalf("stats = %+v: forged entry must count as a miss", s)
	}

	// A replica with another secret cannot use the entries either.
	other := New(Options{Verifier: CoreVerifier{Client: client}, Redis: rdb, RedisPrefix: prefix, Secret: []byte("another-secret-another-secret-xx")})
	mustAuth(t, other, header)
	if s := other.Stats(); s.L2Hits != 0 {
		t.Fatalf("stats = %+v: entry under another secret must not verify", s)
	}
}

func TestResetEventPurgesBothLevels(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	// Something else in the same Redis must survive the purge.
	ctx := context.Background()
	if err := rdb.Set(ctx, prefix[:len(prefix)-1]+"-other", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Del(context.Background(), prefix[:len(prefix)-1]+"-other") })

	a := testAuth(t, client, rdb, prefix)
	startWatch(t, a, client)
	eventually(t, "subscribed", func() bool { return core.subscribers() == 1 })
	var headers []string
	for range 3 {
		_, _, h := core.addKey(t, false, nil, nil)
		headers = append(headers, h)
		mustAuth(t, a, h)
	}
	if n, _ := rdb.Keys(ctx, prefix+"*").Result(); len(n) != 3 {
		t.Fatalf("L2 holds %d keys, want 3", len(n))
	}

	seq := core.publish("", true)
	eventually(t, "reset applied", func() bool { return a.LastSeq() == seq })
	if a.l1.Len() != 0 {
		t.Fatalf("L1 holds %d entries after reset", a.l1.Len())
	}
	if n, _ := rdb.Keys(ctx, prefix+"*").Result(); len(n) != 0 {
		t.Fatalf("L2 holds %v after reset", n)
	}
	if v, _ := rdb.Get(ctx, prefix[:len(prefix)-1]+"-other").Result(); v != "x" {
		t.Fatal("reset deleted a key outside the prefix")
	}
	calls := core.verifyCalls.Load()
	mustAuth(t, a, headers[0])
	if n := core.verifyCalls.Load(); n != calls+1 {
		t.Fatalf("core calls = %d, want %d after reset", n, calls+1)
	}
}

func TestWatchReconnectsAndResumes(t *testing.T) {
	rdb := testRedis(t)
	core := newFakeCore(testArgon)
	client := serve(t, core)
	prefix := testPrefix(t, rdb)
	key1, _, h1 := core.addKey(t, false, nil, nil)
	key2, _, h2 := core.addKey(t, false, nil, nil)
	a := testAuth(t, client, rdb, prefix)
	startWatch(t, a, client)
	eventually(t, "subscribed", func() bool { return core.subscribers() == 1 })

	mustAuth(t, a, h1)
	mustAuth(t, a, h2)
	seq1 := core.publish(key1, false)
	eventually(t, "first event", func() bool { return a.LastSeq() == seq1 })

	// The core ends the stream and refuses new ones for a while; meanwhile
	// key2 is deleted. The change must arrive by replay after reconnecting.
	core.setRefuseWatch(true)
	core.endStreams()
	core.deleteKey(key2)
	seq2 := core.publish(key2, false)
	eventually(t, "a refused reconnect attempt", func() bool { return core.refusedWatches() > 0 })
	core.setRefuseWatch(false)

	eventually(t, "replayed event", func() bool { return a.LastSeq() == seq2 })
	if afters := core.watchAfterSeqs(); !slices.Equal(afters, []int64{0, seq1}) {
		t.Fatalf("after_seq of the streams = %v, want [0 %d]", afters, seq1)
	}
	wantErr(t, a, h2, ErrInvalidKey)
	mustAuth(t, a, h1)
}

// Even when no key ever changed, the first stream tells the gateway where
// the log stands, so a change made while the stream is down is replayed on
// reconnect and the cached key is dropped.
func TestWatchResumesFromFirstPosition(t *testing.T) {
	core := newFakeCore(testArgon)
	client := serve(t, core)
	keyID, _, header := core.addKey(t, false, nil, nil)
	a := testAuth(t, client, nil, "")
	startWatch(t, a, client)
	eventually(t, "subscribed", func() bool { return core.subscribers() == 1 })
	mustAuth(t, a, header)
	core.setRefuseWatch(true)
	core.endStreams()
	core.deleteKey(keyID)
	seq := core.publish(keyID, false)
	eventually(t, "a refused reconnect attempt", func() bool { return core.refusedWatches() > 0 })
	core.setRefuseWatch(false)
	eventually(t, "replayed event", func() bool { return a.LastSeq() == seq })
	wantErr(t, a, header, ErrInvalidKey)
}
