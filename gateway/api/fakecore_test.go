package api

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	"pangolin-gateway/gateway/auth"
	"pangolin-gateway/proto/contract"
)

// fakeCore is a gRPC server on 127.0.0.1 that serves every method of the
// contract from answers the test sets, and records each call. The gateway's
// tests cannot use the real core: gateway/ never imports core/ (the
// boundary); the end-to-end tests (e2e/) run the two together.
type fakeCore struct {
	mu      sync.Mutex
	answers map[string]func(proto.Message) (proto.Message, error)
	calls   []coreCall
	// quiet: record no calls (benchmarks).
	quiet bool
}

type coreCall struct {
	method string
	req    proto.Message
	md     metadata.MD
}

func startFakeCore(t testing.TB) (*fakeCore, *grpc.ClientConn) {
	t.Helper()
	f := &fakeCore{answers: map[string]func(proto.Message) (proto.Message, error){}}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(f.serve))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return f, conn
}

func (f *fakeCore) serve(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	op := contract.ByFullMethod(method)
	if op == nil {
		return status.Error(codes.Unimplemented, method)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(op.Method.Input().FullName())
	if err != nil {
		return err
	}
	req := mt.New().Interface()
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	f.mu.Lock()
	if !f.quiet {
		f.calls = append(f.calls, coreCall{method: method, req: req, md: md})
	}
	answer := f.answers[method]
	f.mu.Unlock()
	if answer == nil {
		return status.Error(codes.Unimplemented, "no answer set for "+method)
	}
	resp, err := answer(req)
	if err != nil {
		return err
	}
	return stream.SendMsg(resp)
}

// answer sets what method (the RPC's name, "GetSite") answers.
func (f *fakeCore) answer(method string, fn func(proto.Message) (proto.Message, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[fullMethod(method)] = fn
}

// reply sets a fixed answer.
func (f *fakeCore) reply(method string, resp proto.Message) {
	f.answer(method, func(proto.Message) (proto.Message, error) { return resp, nil })
}

// lastCall is the last call the core received; it fails the test if none.
func (f *fakeCore) lastCall(t *testing.T) coreCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("the core was not called")
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeCore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func fullMethod(name string) string {
	for _, op := range contract.Operations() {
		if string(op.Method.Name()) == name {
			return op.FullMethod
		}
	}
	panic("no RPC " + name)
}

// keys is an Authenticator over fixed tokens: "root" (every action),
// "acme" (org acme, the actions the test gives), anything else invalid.
type keys map[string]*auth.Principal

func (k keys) Authenticate(_ context.Context, header string) (*auth.Principal, error) {
	if header == "" {
		return nil, auth.ErrMissingKey
	}
	if p := k[strings.TrimPrefix(header, "Bearer ")]; p != nil {
		return p, nil
	}
	return nil, auth.ErrInvalidKey
}

func allActions() []string {
	var out []string
	for _, op := range contract.Operations() {
		if a := op.Access.GetAction(); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// testAPI is the API mounted on a real HTTP server, calling a fake core
// over real gRPC.
type testAPI struct {
	url  string
	core *fakeCore
	keys keys
}

func newTestAPI(t testing.TB) *testAPI {
	t.Helper()
	core, conn := startFakeCore(t)
	k := keys{
		"root": auth.NewPrincipal("rootkey00000000", true, nil, allActions()),
		"acme": auth.NewPrincipal("acmekey00000000", false, []string{"acme"}, allActions()),
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.NoRoute(NotFound)
	if err := Mount(e.Group("/v1"), conn, k, Options{MaxBodyBytes: 100 << 10, CoreTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testAPI{url: srv.URL, core: core, keys: k}
}

// response is one HTTP answer, its envelope decoded.
type response struct {
	status int
	header http.Header
	body   string
	env    struct {
		Data    json.RawMessage `json:"data"`
		Success bool            `json:"success"`
		Error   bool            `json:"error"`
		Message string          `json:"message"`
		Status  int             `json:"status"`
	}
}

// do sends a request with key ("" for none) and a JSON body ("" for none).
func (a *testAPI) do(t *testing.T, method, path, key, body string) response {
	t.Helper()
	h := http.Header{}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	return a.send(t, method, path, key, body, h)
}

func (a *testAPI) send(t *testing.T, method, path, key, body string, h http.Header) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, body: string(raw)}
	if err := json.Unmarshal(raw, &r.env); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %s", method, path, res.StatusCode, raw)
	}
	return r
}

// want fails unless the answer has the status, is the envelope with that
// status, and its message contains msg.
func (r response) want(t *testing.T, status int, msg string) response {
	t.Helper()
	if r.status != status || r.env.Status != status || !strings.Contains(r.env.Message, msg) {
		t.Fatalf("want %d %q, got %d: %s", status, msg, r.status, r.body)
	}
	if status >= 400 && (r.env.Success || !r.env.Error || string(r.env.Data) != "null") {
		t.Fatalf("error answer is not the error envelope: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if got := r.header.Values("WWW-Authenticate"); status == http.StatusUnauthorized && (len(got) != 1 || got[0] != "Bearer") {
		t.Fatalf("a 401 with WWW-Authenticate %q, want Bearer", got)
	}
	return r
}

func authPrincipal(id string, root bool, orgs, actions []string) *auth.Principal {
	return auth.NewPrincipal(id, root, orgs, actions)
}
