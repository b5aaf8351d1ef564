package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"pangolin-gateway/gateway/auth"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// BenchmarkServe measures the gateway's own cost on its hot path, the way
// e2e's BenchmarkRequest drives the whole stack: an authenticated read over
// real HTTP, one gRPC call on loopback (to a fake core that answers at
// once), the answer encoded. /org/acme is one small object; /org/acme/sites
// a page of 100 sites.
//
//	go test -run '^$' -bench Serve -benchmem ./gateway/api/
func BenchmarkServe(b *testing.B) {
	a := newTestAPI(b)
	a.core.reply("GetOrg", &corev1.GetOrgResponse{Org: &corev1.Org{
		OrgId: "acme", Name: "Acme", Subnet: ptr("100.90.128.0/24"), CreatedAt: "2026-01-02T03:04:05.678Z",
	}})
	list := &corev1.ListSitesResponse{Total: 100}
	for i := range 100 {
		list.Sites = append(list.Sites, &corev1.SiteListItem{
			SiteId: int64(i + 1), NiceId: fmt.Sprint("site-", i), Name: fmt.Sprint("Site ", i), Subnet: ptr("100.89.128.4/30"),
			MegabytesIn: 1234.5, MegabytesOut: 42, OrgName: "Acme", Type: "newt", Online: true, Address: ptr("100.90.128.2"),
			ExitNodeId: ptr(int64(1)), NewtVersion: ptr("1.4.0"),
		})
	}
	a.core.reply("ListSites", list)
	a.core.quiet = true
	for _, path := range []string{"/v1/org/acme", "/v1/org/acme/sites"} {
		b.Run(path, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", a.url+path, nil)
					req.Header.Set("Authorization", "Bearer root")
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
		})
	}
}

// BenchmarkEncode is the answer alone: a page of 100 sites into JSON.
func BenchmarkEncode(b *testing.B) {
	list := &corev1.ListSitesResponse{}
	for i := range 100 {
		list.Sites = append(list.Sites, &corev1.SiteListItem{SiteId: int64(i), Name: "Site <&>", Subnet: ptr("100.89.128.4/30"), MegabytesIn: 1234.5})
	}
	e, err := encoders{}.of(list.ProtoReflect().Descriptor())
	if err != nil {
		b.Fatal(err)
	}
	var m proto.Message = list
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.append(buf[:0], m.ProtoReflect(), nil)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkHandler is the gateway's own work per request, with the core
// call answered in memory: guards, binder, encoder and envelope, no
// network.
func BenchmarkHandler(b *testing.B) {
	conn := memConn{
		fullMethod("GetOrg"): &corev1.GetOrgResponse{Org: &corev1.Org{OrgId: "acme", Name: "Acme", Subnet: ptr("100.90.128.0/24"), CreatedAt: "2026-01-02T03:04:05.678Z"}},
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	k := keys{"root": auth.NewPrincipal("rootkey00000000", true, nil, allActions())}
	if err := Mount(e.Group("/v1"), conn, k, Options{MaxBodyBytes: 100 << 10, CoreTimeout: 5 * time.Second}); err != nil {
		b.Fatal(err)
	}
	benchHandler(b, e)
}

func benchHandler(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "/v1/org/acme", nil)
	req.Header.Set("Authorization", "Bearer root")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}

// memConn answers Invoke from canned messages, in memory: the gateway's
// own cost without the network.
type memConn map[string]proto.Message

func (m memConn) Invoke(_ context.Context, method string, _, reply any, _ ...grpc.CallOption) error {
	proto.Merge(reply.(proto.Message), m[method])
	return nil
}

func (memConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	panic("no streams")
}
