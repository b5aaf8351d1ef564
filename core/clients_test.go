package core_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Concurrent creates of clients, each allocated an address, and of sites
// with addresses, on each store: every address is handed out once and
// lies in the org subnet; clients racing for one requested address leave
// exactly one winner and 409s.
func TestConcurrentClientCreates(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			// Waits for a hashing slot as long as it takes: the test is
			// about addresses, and a loaded machine must not turn it into
			// one about the hashing bound.
			svc := core.NewService(open(t), 2, nil, core.WithHashWait(time.Minute))
			ctx := as(core.Admin)
			if _, err := svc.Orgs.CreateOrg(ctx, &corev1.CreateOrgRequest{OrgId: "acme", Name: "acme", Subnet: "100.90.128.0/26"}); err != nil {
				t.Fatal(err)
			}
			const n = 24
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				addrs []string
			)
			for i := range n {
				wg.Go(func() {
					c, err := svc.Clients.CreateClient(ctx, &corev1.CreateClientRequest{OrgId: "acme", Name: fmt.Sprintf("c%d", i)})
					if err != nil {
						t.Errorf("client %d: %v", i, err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					addrs = append(addrs, c.GetClient().GetSubnet())
				})
				if i%3 == 0 {
					wg.Go(func() {
						s, err := svc.Sites.CreateSite(ctx, &corev1.CreateSiteRequest{OrgId: "acme", Name: "s", Type: core.SiteLocal,
							Address: proto.String(fmt.Sprintf("100.90.128.%d", 60-i))})
						if err != nil {
							t.Errorf("site %d: %v", i, err)
							return
						}
						mu.Lock()
						defer mu.Unlock()
						addrs = append(addrs, s.GetSite().GetAddress())
					})
				}
			}
			wg.Wait()
			subnet := netip.MustParsePrefix("100.90.128.0/26")
			slices.Sort(addrs)
			for i, a := range addrs {
				p, err := netip.ParsePrefix(a)
				if err != nil || !subnet.Contains(p.Addr()) || p.Bits() != 26 || i > 0 && addrs[i-1] == a {
					t.Fatalf("address %q (of %v): not a distinct address of %s", a, addrs, subnet)
				}
			}
			if len(addrs) != n+n/3 {
				t.Fatalf("%d addresses, want %d", len(addrs), n+n/3)
			}
			won := 0
			for i := range 8 {
				wg.Go(func() {
					_, err := svc.Clients.CreateClient(ctx, &corev1.CreateClientRequest{OrgId: "acme", Name: "r", Subnet: proto.String("100.90.128.50"),
						OlmId: proto.String(fmt.Sprintf("olm-race-%d", i)), Secret: proto.String("secret-for-the-race")})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case core.ErrorCode(err) != core.CodeConflict || err.Error() != "Subnet 100.90.128.50/26 already exists in clients":
						t.Errorf("race: %v", err)
					}
				})
			}
			wg.Wait()
			if won != 1 {
				t.Fatalf("%d creates won the address, want 1", won)
			}
		})
	}
}

// A generated OLM secret is answered once; a sent one never is. Bad
// input names its field.
func TestCreateClientRules(t *testing.T) {
	svc := newService(t)
	mkOrg(t, svc, "acme")
	ctx := as(core.Admin)
	c, err := svc.Clients.CreateClient(ctx, &corev1.CreateClientRequest{OrgId: "acme", Name: "laptop"})
	if err != nil || len(c.GetSecret()) != 48 || len(c.GetClient().GetOlmId()) != 15 || c.GetClient().GetSubnet() != "100.90.128.1/24" {
		t.Fatalf("created %v, %v", c, err)
	}
	c, err = svc.Clients.CreateClient(ctx, &corev1.CreateClientRequest{OrgId: "acme", Name: "box", OlmId: proto.String("olm-box"),
		Secret: proto.String("a-secret-of-mine"), Subnet: proto.String("100.90.128.7")})
	if err != nil || c.Secret != nil || c.GetClient().GetOlmId() != "olm-box" || c.GetClient().GetSubnet() != "100.90.128.7/24" {
		t.Fatalf("created with credentials %v, %v", c, err)
	}
	for req, want := range map[*corev1.CreateClientRequest]string{
		{OrgId: "acme", Name: ""}:                                            "name",
		{OrgId: "acme", Name: "x", Type: proto.String("wg")}:                 `"type"`,
		{OrgId: "acme", Name: "x", Subnet: proto.String("100.90.128.0/24")}:  `"subnet"`,
		{OrgId: "acme", Name: "x", Subnet: proto.String("10.0.0.1")}:         "not in the organization subnet",
		{OrgId: "acme", Name: "x", OlmId: proto.String("a b")}:               "olmId",
		{OrgId: "acme", Name: "x", Secret: proto.String("short")}:            "secret",
		{OrgId: "acme", Name: "x", NiceId: proto.String("no spaces please")}: "niceId",
	} {
		if _, err := svc.Clients.CreateClient(ctx, req); core.ErrorCode(err) != core.CodeInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want 400 naming %s", req, err, want)
		}
	}
	if _, err := svc.Clients.CreateClient(ctx, &corev1.CreateClientRequest{OrgId: "acme", Name: "x", Subnet: proto.String("100.90.128.7")}); core.ErrorCode(err) != core.CodeConflict {
		t.Errorf("taken subnet: %v", err)
	}
}
