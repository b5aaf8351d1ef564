package sqlstore

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// The tables of resource auth, access and tokens declare columns the
// schema has, and every field of the messages they store is a column or
// computed.
func testAccessTablesMatchSchema(t *testing.T, b backend) {
	s := openStore(t, b)
	for _, tb := range []*table{whitelist, roles, users, accessTokens} {
		rows, err := s.reader.Query(`SELECT ` + strings.Join(tb.columns, ", ") + ` FROM ` + tb.name + ` LIMIT 0`)
		if err != nil {
			t.Errorf("table %s: %v", tb.name, err)
			continue
		}
		rows.Close()
	}
	for tb, msg := range map[*table]proto.Message{
		whitelist: &corev1.WhitelistEntry{}, roles: &corev1.ResourceRole{}, users: &corev1.ResourceUser{},
		accessTokens: &corev1.AccessTokenListItem{},
	} {
		fields := msg.ProtoReflect().Descriptor().Fields()
		for i := range fields.Len() {
			name := fields.Get(i).Name()
			if _, computed := tb.computed[string(name)]; !computed && !tb.hasColumn(name) {
				t.Errorf("%s.%s is no column of %s", msg.ProtoReflect().Descriptor().Name(), name, tb.name)
			}
		}
	}
	for _, c := range accessTokens.columns {
		if c == "token_hash" {
			t.Errorf("token_hash is a column a read could return")
		}
	}
}

func testAccessTokens(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	site := mkSite(t, s, "acme", "edge", nil)
	onSite := httpResource("acme", "web", "web.example.com")
	onSite.SiteId = proto.Int64(site.GetSiteId())
	web := mkResource(t, s, onSite)
	api := mkResource(t, s, httpResource("acme", "api", "api.example.com"))
	foreign := mkResource(t, s, httpResource("globex", "web", "web.globex.com"))
	const now = 1_800_000_000_000
	mk := func(id string, r *corev1.Resource, created int64, expires *int64) *corev1.AccessToken {
		t.Helper()
		in := &corev1.AccessToken{AccessTokenId: id, OrgId: "ignored", ResourceId: r.GetResourceId(), ExpiresAt: expires,
			SessionLength: 3600000, Title: proto.String("t " + id), CreatedAt: created}
		got, err := s.CreateAccessToken(ctx, proto.Clone(in).(*corev1.AccessToken), "hash-"+id)
		must(t, err)
		in.OrgId = r.GetOrgId()
		wantMsg(t, "created "+id, got, in)
		return got
	}
	mk("aaaaaaaa", web, now-3000, nil)
	mk("bbbbbbbb", api, now-2000, proto.Int64(now+1))
	mk("expired1", web, now-1000, proto.Int64(now)) // expires at now: gone
	mk("cccccccc", web, now, proto.Int64(now+5000))
	mk("globex01", foreign, now, nil)
	if n := rowCount(t, s, `SELECT COUNT(*) FROM resource_access_tokens WHERE token_hash = 'hash-aaaaaaaa'`); n != 1 {
		t.Fatalf("token hash not stored")
	}

	list, total, err := s.ListOrgAccessTokens(ctx, "acme", now, nil)
	must(t, err)
	if total != 3 || len(list) != 3 {
		t.Fatalf("org list: total %d, %v", total, list)
	}
	wantMsg(t, "first", list[0], &corev1.AccessTokenListItem{AccessTokenId: "aaaaaaaa", OrgId: "acme", ResourceId: web.GetResourceId(),
		SessionLength: 3600000, Title: proto.String("t aaaaaaaa"), CreatedAt: now - 3000, ResourceName: web.GetName(),
		SiteName: proto.String(site.GetName())})
	if list[1].GetAccessTokenId() != "bbbbbbbb" || list[1].SiteName != nil || list[1].GetResourceName() != api.GetName() ||
		list[2].GetAccessTokenId() != "cccccccc" {
		t.Fatalf("org list order or names: %v", list)
	}
	page2, total, err := s.ListOrgAccessTokens(ctx, "acme", now, page(1, 1))
	must(t, err)
	if total != 3 || len(page2) != 1 || page2[0].GetAccessTokenId() != "bbbbbbbb" {
		t.Fatalf("page 2: total %d, %v", total, page2)
	}
	list, total, err = s.ListResourceAccessTokens(ctx, web.GetResourceId(), now, nil)
	must(t, err)
	if total != 2 || len(list) != 2 || list[0].GetAccessTokenId() != "aaaaaaaa" || list[1].GetAccessTokenId() != "cccccccc" {
		t.Fatalf("resource list: total %d, %v", total, list)
	}
	// Earlier, the expired token was not expired yet.
	if _, total, _ := s.ListResourceAccessTokens(ctx, web.GetResourceId(), now-1, nil); total != 3 {
		t.Fatalf("before expiry: total %d", total)
	}

	orgID, err := s.AccessTokenOrg(ctx, "globex01")
	must(t, err)
	if orgID != "globex" {
		t.Fatalf("token org %q", orgID)
	}
	_, err = s.AccessTokenOrg(ctx, "missing1")
	wantErr(t, err, core.CodeNotFound, "Access token with ID missing1 not found")
	_, err = s.CreateAccessToken(ctx, &corev1.AccessToken{AccessTokenId: "aaaaaaaa", ResourceId: api.GetResourceId(),
		SessionLength: 1, CreatedAt: now}, "h")
	wantErr(t, err, core.CodeConflict, "Access token with ID aaaaaaaa already exists")
	_, err = s.CreateAccessToken(ctx, &corev1.AccessToken{AccessTokenId: "dddddddd", ResourceId: 999999,
		SessionLength: 1, CreatedAt: now}, "h")
	wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")

	must(t, s.DeleteAccessToken(ctx, "expired1")) // expired tokens can be deleted
	must(t, s.DeleteAccessToken(ctx, "aaaaaaaa"))
	wantErr(t, s.DeleteAccessToken(ctx, "aaaaaaaa"), core.CodeNotFound, "Access token with ID aaaaaaaa not found")
	if _, total, _ := s.ListOrgAccessTokens(ctx, "acme", now, nil); total != 2 {
		t.Fatalf("after delete: total %d", total)
	}
	// Tokens go with their resource.
	exec(t, s, `DELETE FROM resources WHERE resource_id = $1`, web.GetResourceId())
	if _, total, _ := s.ListOrgAccessTokens(ctx, "acme", now, nil); total != 1 {
		t.Fatalf("after deleting the resource: total %d", total)
	}
}
