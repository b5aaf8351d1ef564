package core_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// A token is Pangolin's: an 8-character id, 26 characters of base32,
// stored as its hex SHA-256, times in epoch milliseconds.
func TestGenerateAccessToken(t *testing.T) {
	f := newAccessFixture(t)
	ctx, tokens, id := as(core.Admin), f.svc.AccessTokens, f.resourceID
	before := time.Now().UnixMilli()
	got, err := tokens.GenerateAccessToken(ctx, &corev1.GenerateAccessTokenRequest{ResourceId: id, ValidForSeconds: proto.Int64(3600),
		Title: proto.String("tok"), Description: proto.String("")})
	if err != nil {
		t.Fatal(err)
	}
	tok := got.GetToken()
	if !regexp.MustCompile(`^[a-z0-9]{8}$`).MatchString(tok.GetAccessTokenId()) ||
		!regexp.MustCompile(`^[a-z2-7]{26}$`).MatchString(got.GetAccessToken()) ||
		tok.GetOrgId() != "acme" || tok.GetResourceId() != id || tok.GetSessionLength() != 3600000 ||
		tok.GetCreatedAt() < before || tok.GetCreatedAt() > time.Now().UnixMilli() ||
		tok.GetExpiresAt() != tok.GetCreatedAt()+3600000 || tok.GetTitle() != "tok" || tok.Description != nil {
		t.Fatalf("generated %v", got)
	}
	sum := sha256.Sum256([]byte(got.GetAccessToken()))
	var hash string
	if err := f.db.QueryRow(`SELECT token_hash FROM resource_access_tokens WHERE access_token_id = $1`, tok.GetAccessTokenId()).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %q, want the hex SHA-256 of the token", hash)
	}
	forever, err := tokens.GenerateAccessToken(ctx, &corev1.GenerateAccessTokenRequest{ResourceId: id, Title: proto.String("")})
	if err != nil {
		t.Fatal(err)
	}
	if forever.GetToken().ExpiresAt != nil || forever.GetToken().GetSessionLength() != 720*3600*1000 || forever.GetToken().Title != nil ||
		forever.GetAccessToken() == got.GetAccessToken() || forever.GetToken().GetAccessTokenId() == tok.GetAccessTokenId() {
		t.Fatalf("without validForSeconds: %v", forever)
	}
	for _, v := range []int64{0, -1, 3155760001, 1 << 62} {
		_, err := tokens.GenerateAccessToken(ctx, &corev1.GenerateAccessTokenRequest{ResourceId: id, ValidForSeconds: &v})
		wantCode(t, fmt.Sprint("validForSeconds ", v), err, core.CodeInvalid, "validForSeconds must be a positive integer of at most 3155760000")
	}
	list, err := tokens.ListOrgAccessTokens(ctx, &corev1.ListOrgAccessTokensRequest{OrgId: "acme"})
	if err != nil || list.GetTotal() != 2 || len(list.GetAccessTokens()) != 2 {
		t.Fatalf("list: %v, %v", list, err)
	}
	_, err = tokens.ListOrgAccessTokens(ctx, &corev1.ListOrgAccessTokensRequest{OrgId: "nope"})
	wantCode(t, "unknown org", err, core.CodeNotFound, "Organization with ID nope not found")
}
