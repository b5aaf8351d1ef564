package rpc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
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
	"pangolin-gateway/internal/testenv"
	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

const token = "rpc-test-token-0123456789abcdef0123456789"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// backend gives the Open arguments of a fresh database: the core's store
// opens it, and a test can open it again as another process would.
type backend struct {
	name  string
	newDB func(t *testing.T) (url, dir string)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (string, string) { return "", t.TempDir() }},
	{"postgres", func(t *testing.T) (string, string) { return testenv.PostgresURL(t), "" }},
}

// eachBackend runs fn against a core on each backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// countingStore counts the core's reads of a caller's scope, to tell a call
// served from the core's cache from one that read the store.
type countingStore struct {
	*sqlstore.Store
	principalReads atomic.Int64
}

func (s *countingStore) Principal(ctx context.Context, id string) (*corev1.Principal, error) {
	s.principalReads.Add(1)
	return s.Store.Principal(ctx, id)
}

// testCore is the real core serving gRPC on a loopback port.
type testCore struct {
	conn     *grpc.ClientConn // no token attached
	svc      *core.Service
	store    *countingStore
	url, dir string // the database, for "another process"
}

func serve(t *testing.T, b backend) *testCore {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	url, dir := b.newDB(t)
	store, err := sqlstore.Open(ctx, url, dir)
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingStore{Store: store}
	svc := core.NewService(counting, 1, quiet)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := Serve(ctx, lis, svc, config.Core{Token: token}, time.Second, quiet); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cancel(); <-done; store.Close() })
	return &testCore{conn: conn, svc: svc, store: counting, url: url, dir: dir}
}

// as returns a context calling the core for keyID ("" for no key).
func as(keyID string) context.Context {
	return withToken(context.Background(), token, keyID)
}

func withToken(ctx context.Context, tok, keyID string) context.Context {
	md := metadata.Pairs(corev1.MetadataToken, "Bearer "+tok)
	if keyID != "" {
		md.Append(corev1.MetadataKeyID, keyID)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// rootKey creates a root key holding actions (every action when none).
func (c *testCore) rootKey(t *testing.T, actions ...string) string {
	t.Helper()
	if len(actions) == 0 {
		actions = core.Actions
	}
	key, err := c.svc.CreateRootKey(context.Background(), "root", actions)
	if err != nil {
		t.Fatal(err)
	}
	return key.GetApiKeyId()
}

// orgKey creates a key of orgID holding actions, through the API.
func (c *testCore) orgKey(t *testing.T, root, orgID string, actions ...string) string {
	t.Helper()
	keys := corev1.NewApiKeyServiceClient(c.conn)
	key, err := keys.CreateOrgKey(as(root), &corev1.CreateOrgKeyRequest{OrgId: orgID, Name: "org key"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = keys.SetKeyActions(as(root), &corev1.SetKeyActionsRequest{OrgId: orgID, ApiKeyId: key.GetApiKeyId(), ActionIds: actions})
	if err != nil {
		t.Fatal(err)
	}
	return key.GetApiKeyId()
}

func (c *testCore) org(t *testing.T, root, id string) {
	t.Helper()
	_, err := corev1.NewOrgServiceClient(c.conn).CreateOrg(as(root), &corev1.CreateOrgRequest{OrgId: id, Name: id, Subnet: "100.90.128.0/24"})
	if err != nil {
		t.Fatal(err)
	}
}

// wantStatus fails unless err has that code and message.
func wantStatus(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	if s := status.Convert(err); s.Code() != code || s.Message() != msg {
		t.Errorf("%s: %v %q, want %v %q", what, s.Code(), s.Message(), code, msg)
	}
}

// Every method the core serves has an access rule in the contract, and
// every operation of the contract is served: a new RPC without the option
// fails here (the gRPC health service is the one service not ours).
func TestEveryRPCHasAnAccessRule(t *testing.T) {
	store, err := sqlstore.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := core.NewService(store, 1, quiet)
	srv, err := newServer(svc, token, NewFeed(store, time.Hour, quiet), newAuditor(svc.Audit, quiet), quiet)
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			method := "/" + name + "/" + m.Name
			served[method] = true
			if strings.HasPrefix(method, grpcHealth) {
				continue
			}
			if op := contract.ByFullMethod(method); op == nil || op.Access.GetScope() == apiv1.Scope_SCOPE_UNSPECIFIED {
				t.Errorf("%s is served without an access rule", method)
			}
		}
	}
	for _, op := range contract.Operations() {
		if !served[op.FullMethod] {
			t.Errorf("%s is in the contract but not served", op.FullMethod)
		}
	}
}

// A method the contract has no rule for is refused before it runs,
// whatever key calls it.
func TestMethodWithoutRuleIsRefused(t *testing.T) {
	store, err := sqlstore.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := core.NewService(store, 1, quiet)
	root, err := svc.CreateRootKey(context.Background(), "root", core.Actions)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := newAccess(newCallers(store, NewFeed(store, time.Hour, quiet), nil), svc.Objects(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(corev1.MetadataKeyID, root.GetApiKeyId()))
	ran := false
	_, err = acc.unary(ctx, &corev1.NoData{}, &grpc.UnaryServerInfo{FullMethod: "/pangolin.core.v1.OrgService/Undeclared"},
		func(context.Context, any) (any, error) { ran = true; return &corev1.NoData{}, nil })
	wantStatus(t, "undeclared method", err, codes.PermissionDenied, "Method has no access rule")
	if ran {
		t.Fatal("the method ran")
	}
	// The contract's own kinds of object all have a resolver; one without
	// keeps the core from starting.
	if _, err := newAccess(nil, map[string]core.Reach{}, quiet); err == nil {
		t.Fatal("a core without the site resolver started")
	}
}

func TestLinkTokenIsRequired(t *testing.T) {
	c := serve(t, backends[0])
	root := c.rootKey(t)
	orgs := corev1.NewOrgServiceClient(c.conn)
	for name, ctx := range map[string]context.Context{
		"no token":    context.Background(),
		"wrong token": withToken(context.Background(), token+"x", root),
	} {
		wantStatus(t, name, func() error { _, err := orgs.ListOrgs(ctx, &corev1.ListOrgsRequest{}); return err }(),
			codes.Unauthenticated, "bad core token")
	}
	if _, err := orgs.ListOrgs(as(root), &corev1.ListOrgsRequest{}); err != nil {
		t.Fatalf("good call refused: %v", err)
	}
	// Container health checks carry no token.
	res, err := healthpb.NewHealthClient(c.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", res, err)
	}
	// The contract's health is public: the link token, no key.
	h, err := corev1.NewHealthServiceClient(c.conn).Health(as(""), &corev1.NoData{})
	if err != nil || h.GetMessage() != "Healthy" {
		t.Fatalf("Health = %v, %v", h, err)
	}
}

func TestErrorsMapToStatusCodes(t *testing.T) {
	c := serve(t, backends[0])
	root := c.rootKey(t)
	orgs := corev1.NewOrgServiceClient(c.conn)
	sites := corev1.NewSiteServiceClient(c.conn)
	c.org(t, root, "acme")
	for name, got := range map[string]struct {
		err  error
		want codes.Code
	}{
		"invalid": {func() error {
			_, err := orgs.CreateOrg(as(root), &corev1.CreateOrgRequest{OrgId: "b", Name: "B", Subnet: "x"})
			return err
		}(), codes.InvalidArgument},
		"conflict": {func() error {
			_, err := orgs.CreateOrg(as(root), &corev1.CreateOrgRequest{OrgId: "acme", Name: "A", Subnet: "10.0.0.0/24"})
			return err
		}(), codes.AlreadyExists},
		"missing": {func() error { _, err := sites.GetSite(as(root), &corev1.SiteIdRequest{SiteId: 42}); return err }(), codes.NotFound},
	} {
		if status.Code(got.err) != got.want {
			t.Errorf("%s: %v, want %s", name, got.err, got.want)
		}
	}
}

// The core applies each method's rule itself: scope, then action, with the
// gateway's messages; an org key never learns whether another org exists.
func TestAccessRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := serve(t, b)
		root := c.rootKey(t)
		c.org(t, root, "acme")
		c.org(t, root, "globex")
		acme := c.orgKey(t, root, "acme", "getOrg", "listSites", "createSite")
		orgs := corev1.NewOrgServiceClient(c.conn)
		sites := corev1.NewSiteServiceClient(c.conn)
		getOrg := func(key, id string) error {
			_, err := orgs.GetOrg(as(key), &corev1.OrgIdRequest{OrgId: id})
			return err
		}

		if err := getOrg(acme, "acme"); err != nil {
			t.Fatalf("own org: %v", err)
		}
		wantStatus(t, "no key", getOrg("", "acme"), codes.Unauthenticated, "API key required")
		wantStatus(t, "unknown key", getOrg("nosuchkey000000", "acme"), codes.Unauthenticated, "Invalid API key")
		wantStatus(t, "root scope", func() error { _, err := orgs.ListOrgs(as(acme), &corev1.ListOrgsRequest{}); return err }(),
			codes.PermissionDenied, "Key does not have root access")
		wantStatus(t, "other org", getOrg(acme, "globex"), codes.PermissionDenied, "Key does not have access to organization globex")
		wantStatus(t, "missing org, org key", getOrg(acme, "nope"), codes.PermissionDenied, "Key does not have access to organization nope")
		wantStatus(t, "missing org, root key", getOrg(root, "nope"), codes.NotFound, "Organization with ID nope not found")
		wantStatus(t, "action", func() error {
			_, err := orgs.UpdateOrg(as(acme), &corev1.UpdateOrgRequest{OrgId: "acme", Name: ptr("x")})
			return err
		}(), codes.PermissionDenied, "Key does not have permission to perform this action: updateOrg")
		// Scope before action: a key lacking both learns of the scope only.
		wantStatus(t, "scope first", func() error {
			_, err := sites.PickSiteDefaults(as(acme), &corev1.OrgSitesRequest{OrgId: "globex"})
			return err
		}(), codes.PermissionDenied, "Key does not have access to organization globex")
		// Root keys need each action too.
		narrowRoot := c.rootKey(t, "listOrgs")
		wantStatus(t, "root without the action", getOrg(narrowRoot, "acme"),
			codes.PermissionDenied, "Key does not have permission to perform this action: getOrg")

		// checkId says an existing org exists.
		for id, want := range map[string]bool{"acme": true, "free": false} {
			res, err := orgs.CheckOrgId(as(root), &corev1.CheckOrgIdRequest{OrgId: id})
			if err != nil || res.GetExists() != want {
				t.Errorf("CheckOrgId(%s) = %v, %v; want %v", id, res, err, want)
			}
		}
	})
}

// A site of another org answers exactly like a site that does not exist:
// same code, same message, so ids and org names of other tenants cannot be
// probed. The site is left untouched.
func TestSiteOfAnotherOrgIsNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := serve(t, b)
		root := c.rootKey(t)
		c.org(t, root, "acme")
		c.org(t, root, "globex")
		sites := corev1.NewSiteServiceClient(c.conn)
		created, err := sites.CreateSite(as(root), &corev1.CreateSiteRequest{OrgId: "globex", Name: "g", Type: "local"})
		if err != nil {
			t.Fatal(err)
		}
		theirs := created.GetSite().GetSiteId()
		missing := theirs + 1000
		acme := c.orgKey(t, root, "acme", "getSite", "updateSite", "deleteSite")

		for _, id := range []int64{theirs, missing} {
			want := fmt.Sprintf("Site with ID %d not found", id)
			_, err := sites.GetSite(as(acme), &corev1.SiteIdRequest{SiteId: id})
			wantStatus(t, fmt.Sprintf("get %d", id), err, codes.NotFound, want)
			_, err = sites.UpdateSite(as(acme), &corev1.UpdateSiteRequest{SiteId: id, Name: ptr("pwned")})
			wantStatus(t, fmt.Sprintf("update %d", id), err, codes.NotFound, want)
			_, err = sites.DeleteSite(as(acme), &corev1.SiteIdRequest{SiteId: id})
			wantStatus(t, fmt.Sprintf("delete %d", id), err, codes.NotFound, want)
		}
		got, err := sites.GetSite(as(root), &corev1.SiteIdRequest{SiteId: theirs})
		if err != nil || got.GetName() != "g" {
			t.Fatalf("globex site after the attempts: %v, %v", got, err)
		}
		// Its own org's site it reaches; the action still applies.
		own, err := sites.CreateSite(as(root), &corev1.CreateSiteRequest{OrgId: "acme", Name: "a", Type: "local"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sites.GetSite(as(acme), &corev1.SiteIdRequest{SiteId: own.GetSite().GetSiteId()}); err != nil {
			t.Fatalf("own site: %v", err)
		}
		reader := c.orgKey(t, root, "acme", "getSite")
		_, err = sites.DeleteSite(as(reader), &corev1.SiteIdRequest{SiteId: own.GetSite().GetSiteId()})
		wantStatus(t, "delete without the action", err, codes.PermissionDenied, "Key does not have permission to perform this action: deleteSite")
	})
}

// An action removed in the store is refused by the core even though it had
// cached the caller: the change log reaches the core's cache within the
// feed's delay, whatever any gateway's cache still says. The change is made
// by another process (a second store on the database), so nothing in the
// core's own process hears of it but the log.
func TestRemovedActionIsRefusedDespiteTheCache(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := serve(t, b)
		root := c.rootKey(t)
		c.org(t, root, "acme")
		key := c.orgKey(t, root, "acme", "getOrg", "updateOrg")
		orgs := corev1.NewOrgServiceClient(c.conn)
		update := func() error {
			_, err := orgs.UpdateOrg(as(key), &corev1.UpdateOrgRequest{OrgId: "acme", Name: ptr("renamed")})
			return err
		}

		// Until a call is served without reading the store: cached.
		for deadline := time.Now().Add(10 * time.Second); ; {
			before := c.store.principalReads.Load()
			if err := update(); err != nil {
				t.Fatal(err)
			}
			if c.store.principalReads.Load() == before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the core never served the key from its cache")
			}
			time.Sleep(10 * time.Millisecond)
		}

		other, err := sqlstore.Open(context.Background(), c.url, c.dir)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if err := other.SetKeyActions(context.Background(), key, []string{"getOrg"}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			err := update()
			if status.Code(err) == codes.PermissionDenied {
				wantStatus(t, "after removal", err, codes.PermissionDenied, "Key does not have permission to perform this action: updateOrg")
				break
			}
			if err != nil {
				t.Fatalf("before the removal reached the core: %v", err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the core kept honouring a removed action")
			}
		}
		// What the key still holds it may still do.
		if _, err := orgs.GetOrg(as(key), &corev1.OrgIdRequest{OrgId: "acme"}); err != nil {
			t.Fatalf("remaining action: %v", err)
		}
	})
}

// A key can grant only the actions it holds itself: a root key holding only
// createApiKey and setApiKeyActions cannot mint a key with deleteSite.
func TestGrantOnlyWhatYouHold(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := serve(t, b)
		c.org(t, c.rootKey(t), "acme")
		granter := c.rootKey(t, "createApiKey", "setApiKeyActions", "listApiKeyActions")
		keys := corev1.NewApiKeyServiceClient(c.conn)
		minted, err := keys.CreateOrgKey(as(granter), &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "minted"})
		if err != nil {
			t.Fatal(err)
		}
		set := func(ids ...string) error {
			_, err := keys.SetKeyActions(as(granter), &corev1.SetKeyActionsRequest{OrgId: "acme", ApiKeyId: minted.GetApiKeyId(), ActionIds: ids})
			return err
		}
		wantStatus(t, "an action not held", set("createApiKey", "deleteSite"), codes.PermissionDenied,
			"Key cannot grant an action it does not hold: deleteSite")
		wantStatus(t, "an unknown action", set("noSuchAction"), codes.InvalidArgument, "One or more actions do not exist")
		if err := set("createApiKey"); err != nil {
			t.Fatalf("an action held: %v", err)
		}
		list, err := keys.ListKeyActions(as(granter), &corev1.ListKeyActionsRequest{OrgId: "acme", ApiKeyId: minted.GetApiKeyId()})
		if err != nil || list.GetTotal() != 1 || list.GetActions()[0].GetActionId() != "createApiKey" {
			t.Fatalf("minted key's actions: %v, %v", list, err)
		}
	})
}

// The change stream starts with the current position, then carries every
// key change; a resume replays what was missed.
func TestWatchKeyChanges(t *testing.T) {
	c := serve(t, backends[0])
	ctx, cancel := context.WithCancel(as(""))
	defer cancel()
	keys := corev1.NewApiKeyServiceClient(c.conn)
	c.rootKey(t)
	stream, err := keys.WatchKeyChanges(ctx, &corev1.WatchKeyChangesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pos, err := stream.Recv()
	if err != nil || pos.GetApiKeyId() != "" || pos.GetReset_() || pos.GetSeq() < 1 {
		t.Fatalf("first event = %v, %v; want the position", pos, err)
	}
	second := c.rootKey(t)
	ev, err := stream.Recv()
	if err != nil || ev.GetApiKeyId() != second || ev.GetSeq() <= pos.GetSeq() {
		t.Fatalf("event = %v, %v; want %s", ev, err, second)
	}
	cancel()

	// Away from the stream: a delete; resuming from the position replays both.
	if err := c.svc.DeleteKey(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(as(""))
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
	if got[0] != "" || got[1] != second || got[2] != second {
		t.Fatalf("replay = %q, want [position, create, delete]", got)
	}

	// A position the log never reached (the database was replaced): reset.
	ctx3, cancel3 := context.WithCancel(as(""))
	defer cancel3()
	future, err := keys.WatchKeyChanges(ctx3, &corev1.WatchKeyChangesRequest{AfterSeq: 1 << 40, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := future.Recv(); err != nil || !ev.GetReset_() {
		t.Fatalf("want a reset, got %v, %v", ev, err)
	}
}

func ptr(s string) *string { return &s }
