package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

func testTargets(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	site := mkSite(t, s, "acme", "site-one", nil)
	other := mkSite(t, s, "acme", "site-two", nil)
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))

	in := &corev1.Target{
		ResourceId: r.GetResourceId(), SiteId: site.GetSiteId(), Ip: "10.0.0.5", Method: proto.String("http"), Port: 8080,
		InternalPort: proto.Int32(41000), Enabled: true, Path: proto.String("/api"), PathMatchType: proto.String("prefix"),
		Priority: 100, Mode: proto.String("http"), HcEnabled: true, HcHostname: proto.String("10.0.0.5"), HcPort: proto.Int32(8080),
		HcHeaders: []*corev1.Header{{Name: "Host", Value: "app"}}, HcFollowRedirects: proto.Bool(true), HcHealth: "unhealthy",
	}
	created, err := s.CreateTarget(ctx, proto.Clone(in).(*corev1.Target))
	must(t, err)
	in.TargetId = created.GetTargetId()
	wantMsg(t, "created", created, in)
	got, err := s.GetTarget(ctx, created.GetTargetId())
	must(t, err)
	wantMsg(t, "read", got, in)
	orgID, err := s.TargetOrg(ctx, created.GetTargetId())
	must(t, err)
	if orgID != "acme" {
		t.Fatalf("target org %q", orgID)
	}
	second, err := s.CreateTarget(ctx, &corev1.Target{ResourceId: r.GetResourceId(), SiteId: other.GetSiteId(), Ip: "h", Port: 1,
		Priority: 5, HcHealth: "unknown"})
	must(t, err)
	_, err = s.CreateTarget(ctx, &corev1.Target{ResourceId: 999999, SiteId: site.GetSiteId(), Ip: "h", Port: 1, Priority: 1, HcHealth: "unknown"})
	wantErr(t, err, core.CodeNotFound, "The target's resource or site no longer exists")

	list, total, err := s.ListTargets(ctx, r.GetResourceId(), nil)
	must(t, err)
	if total != 2 || len(list) != 2 || list[0].GetTargetId() != created.GetTargetId() || list[0].GetSiteName() != "site site-one" ||
		list[0].GetSiteType() != core.SiteNewt || len(list[0].HcHeaders) != 1 || list[1].GetSiteName() != "site site-two" {
		t.Fatalf("list %v total %d", list, total)
	}
	list, total, err = s.ListTargets(ctx, r.GetResourceId(), page(1, 1))
	must(t, err)
	if total != 2 || len(list) != 1 || list[0].GetTargetId() != second.GetTargetId() {
		t.Fatalf("page 2: %v total %d", list, total)
	}
	ports, err := s.SiteInternalPorts(ctx, site.GetSiteId())
	must(t, err)
	if !slices.Equal(ports, []int32{41000}) {
		t.Fatalf("internal ports %v", ports)
	}

	updated, err := s.UpdateTarget(ctx, created.GetTargetId(), func(cur *corev1.Target) error {
		wantMsg(t, "current", cur, in)
		cur.Ip, cur.Path, cur.HcHeaders, cur.SiteId = "10.0.0.6", nil, nil, other.GetSiteId()
		cur.ResourceId = 42 // ignored
		return nil
	})
	must(t, err)
	want := proto.Clone(in).(*corev1.Target)
	want.Ip, want.Path, want.HcHeaders, want.SiteId = "10.0.0.6", nil, nil, other.GetSiteId()
	wantMsg(t, "updated", updated, want)
	_, err = s.UpdateTarget(ctx, created.GetTargetId(), func(cur *corev1.Target) error {
		cur.Ip = "changed before refusing"
		return core.Errorf(core.CodeInvalid, "no")
	})
	wantErr(t, err, core.CodeInvalid, "no")
	_, err = s.UpdateTarget(ctx, created.GetTargetId(), func(cur *corev1.Target) error {
		cur.SiteId = 999999
		return nil
	})
	wantErr(t, err, core.CodeNotFound, "Site with ID 999999 not found")
	got, err = s.GetTarget(ctx, created.GetTargetId())
	must(t, err)
	wantMsg(t, "after refusals", got, want)
	_, err = s.UpdateTarget(ctx, 999999, func(*corev1.Target) error { return nil })
	wantErr(t, err, core.CodeNotFound, "Target with ID 999999 not found")

	must(t, s.DeleteTarget(ctx, created.GetTargetId()))
	_, err = s.GetTarget(ctx, created.GetTargetId())
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Target with ID %d not found", created.GetTargetId()))
	wantErr(t, s.DeleteTarget(ctx, created.GetTargetId()), core.CodeNotFound, fmt.Sprintf("Target with ID %d not found", created.GetTargetId()))
	_, err = s.TargetOrg(ctx, created.GetTargetId())
	wantErr(t, err, core.CodeNotFound, fmt.Sprintf("Target with ID %d not found", created.GetTargetId()))
}
