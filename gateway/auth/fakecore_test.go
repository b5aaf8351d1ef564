package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/argon2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"pangolin-gateway/internal/testenv"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// argonParams are argon2id costs. Tests use light ones to stay quick under
// -race; the benchmark uses the production ones (m=19456 KiB, t=2, p=1).
type argonParams struct {
	memoryKiB uint32
	time      uint32
	threads   uint8
}

var (
	testArgon = argonParams{memoryKiB: 1024, time: 1, threads: 1}
	realArgon = argonParams{memoryKiB: 19456, time: 2, threads: 1}
)

type fakeKey struct {
	salt, hash []byte
	principal  *corev1.Principal
}

// fakeCore stands in for the core's ApiKeyService: Verify checks argon2id
// hashes, WatchKeyChanges serves a change log the test appends to.
type fakeCore struct {
	corev1.UnimplementedApiKeyServiceServer
	argon argonParams

	verifyCalls atomic.Int64
	// beforeVerify, when set, runs in each Verify after the key is read
	// (tests block in it to hold a fill in flight).
	beforeVerify atomic.Pointer[func()]
	// failCode, when not OK, is what Verify answers.
	failCode atomic.Uint32

	mu          sync.Mutex
	keys        map[string]fakeKey
	log         []*corev1.KeyChange // log[i].Seq == i+1
	subs        map[*fakeSub]struct{}
	watchCalls  []int64 // after_seq of each accepted WatchKeyChanges
	refuseWatch bool
	refused     int
	// oldCore makes ListKeyIds and KeyChangePosition unimplemented, as on
	// a core that predates them.
	oldCore bool
	// holdEvents, when set, stops the streams from sending (the log still
	// grows and KeyChangePosition still sees it): a stream lagging behind.
	holdEvents bool
	handlers   sync.WaitGroup

	listCalls, positionCalls int
}

type fakeSub struct {
	notify chan struct{}
	end    chan struct{}
}

func newFakeCore(p argonParams) *fakeCore {
	return &fakeCore{argon: p, keys: map[string]fakeKey{}, subs: map[*fakeSub]struct{}{}}
}

// addKey creates a key and returns its bearer header value. Like the
// core, it logs the creation as a change.
func (f *fakeCore) addKey(t testing.TB, isRoot bool, orgs, actions []string) (keyID, secret, header string) {
	t.Helper()
	keyID, secret = newKeyID(), newSecret()
	salt := make([]byte, 16)
	rand.Read(salt)
	k := fakeKey{
		salt: salt,
		hash: argon2.IDKey([]byte(secret), salt, f.argon.time, f.argon.memoryKiB, f.argon.threads, 32),
		principal: &corev1.Principal{
			ApiKeyId: keyID, IsRoot: isRoot, OrgIds: orgs, ActionIds: actions,
		},
	}
	f.mu.Lock()
	f.keys[keyID] = k
	f.mu.Unlock()
	f.publish(keyID, false)
	return keyID, secret, "Bearer " + keyID + "." + secret
}

func (f *fakeCore) ListKeyIds(context.Context, *corev1.ListKeyIdsRequest) (*corev1.ListKeyIdsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.oldCore {
		return nil, status.Error(codes.Unimplemented, "unknown method")
	}
	f.listCalls++
	res := &corev1.ListKeyIdsResponse{}
	for id := range f.keys {
		res.ApiKeyIds = append(res.ApiKeyIds, id)
	}
	return res, nil
}

func (f *fakeCore) KeyChangePosition(context.Context, *corev1.KeyChangePositionRequest) (*corev1.KeyChangePositionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.oldCore {
		return nil, status.Error(codes.Unimplemented, "unknown method")
	}
	f.positionCalls++
	return &corev1.KeyChangePositionResponse{Seq: int64(len(f.log))}, nil
}

// releaseEvents lets held events flow again.
func (f *fakeCore) releaseEvents() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holdEvents = false
	for s := range f.subs {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

func (f *fakeCore) set(fn func(f *fakeCore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeCore) counts() (lists, positions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listCalls, f.positionCalls
}

func (f *fakeCore) deleteKey(keyID string) {
	f.mu.Lock()
	delete(f.keys, keyID)
	f.mu.Unlock()
}

func (f *fakeCore) Verify(ctx context.Context, req *corev1.VerifyRequest) (*corev1.Principal, error) {
	f.verifyCalls.Add(1)
	// Read the state first, as a core would, so that a hook blocking below
	// holds an answer that a concurrent change makes stale.
	f.mu.Lock()
	k, ok := f.keys[req.GetApiKeyId()]
	f.mu.Unlock()
	if hook := f.beforeVerify.Load(); hook != nil {
		(*hook)()
	}
	if c := codes.Code(f.failCode.Load()); c != codes.OK {
		return nil, status.Error(c, "injected failure")
	}
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "invalid API key")
	}
	got := argon2.IDKey([]byte(req.GetSecret()), k.salt, f.argon.time, f.argon.memoryKiB, f.argon.threads, 32)
	if subtle.ConstantTimeCompare(got, k.hash) != 1 {
		return nil, status.Error(codes.Unauthenticated, "invalid API key")
	}
	return k.principal, nil
}

// publish appends a change to the log and wakes the streams; it returns
// the change's seq.
func (f *fakeCore) publish(keyID string, reset bool) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq := int64(len(f.log) + 1)
	f.log = append(f.log, &corev1.KeyChange{Seq: seq, ApiKeyId: keyID, Reset_: reset})
	for s := range f.subs {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return seq
}

func (f *fakeCore) WatchKeyChanges(req *corev1.WatchKeyChangesRequest, stream grpc.ServerStreamingServer[corev1.KeyChange]) error {
	f.mu.Lock()
	if f.refuseWatch {
		f.refused++
		f.mu.Unlock()
		return status.Error(codes.Unavailable, "refusing watches")
	}
	f.handlers.Add(1)
	defer f.handlers.Done()
	// Like the real core: without resume, start from now and tell the
	// subscriber where that is; with resume, replay after after_seq.
	next := int(req.GetAfterSeq()) // index into log of the next change to send
	var position *corev1.KeyChange
	if !req.GetResume() {
		next = len(f.log)
		position = &corev1.KeyChange{Seq: int64(next)}
	}
	sub := &fakeSub{notify: make(chan struct{}, 1), end: make(chan struct{})}
	f.subs[sub] = struct{}{}
	f.watchCalls = append(f.watchCalls, req.GetAfterSeq())
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, sub)
		f.mu.Unlock()
	}()
	if position != nil {
		if err := stream.Send(position); err != nil {
			return err
		}
	}
	for {
		f.mu.Lock()
		pending := f.log[min(next, len(f.log)):]
		if f.holdEvents {
			pending = nil
		}
		f.mu.Unlock()
		for _, c := range pending {
			if err := stream.Send(c); err != nil {
				return err
			}
			next++
		}
		select {
		case <-sub.notify:
		case <-sub.end:
			return nil
		case <-stream.Context().Done():
			return nil
		}
	}
}

// endStreams ends every open stream from the server side and waits for the
// handlers to return.
func (f *fakeCore) endStreams() {
	f.mu.Lock()
	for s := range f.subs {
		close(s.end)
		delete(f.subs, s)
	}
	f.mu.Unlock()
	f.handlers.Wait()
}

func (f *fakeCore) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *fakeCore) watchAfterSeqs() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.watchCalls...)
}

func (f *fakeCore) refusedWatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *fakeCore) setRefuseWatch(v bool) {
	f.mu.Lock()
	f.refuseWatch = v
	f.mu.Unlock()
}

// serve starts f on a real gRPC server on loopback and returns a client
// over a real connection.
func serve(t testing.TB, f *fakeCore) corev1.ApiKeyServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	corev1.RegisterApiKeyServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return dial(t, lis.Addr().String())
}

func dial(t testing.TB, addr string) corev1.ApiKeyServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return corev1.NewApiKeyServiceClient(conn)
}

// testRedis connects to the Redis of internal/testenv (REDIS_URL):
// unreachable, the test skips, or fails under CI=true.
func testRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a fresh L2 prefix and deletes its keys at the end.
func testPrefix(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := fmt.Sprintf("pgwtest:%x:", b)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return prefix
}

func newKeyID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 15)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func newSecret() string {
	b := make([]byte, 25)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// eventually polls cond until it holds, failing after a generous bound.
// It bounds waiting; it asserts nothing about time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
