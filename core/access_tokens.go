package core

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// AccessTokenStore is what access tokens need of storage. Lists leave out
// the tokens that expired at or before now (epoch ms) and count only what
// they list.
type AccessTokenStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	// CreateAccessToken stores t in its resource's org (which it sets)
	// with its token's hash, and returns it as stored. A taken id →
	// Conflict; a resource deleted meanwhile → ResourceNotFound.
	CreateAccessToken(ctx context.Context, t *corev1.AccessToken, tokenHash string) (*corev1.AccessToken, error)
	ListOrgAccessTokens(ctx context.Context, orgID string, now int64, page *corev1.Page) ([]*corev1.AccessTokenListItem, int32, error)
	ListResourceAccessTokens(ctx context.Context, resourceID, now int64, page *corev1.Page) ([]*corev1.AccessTokenListItem, int32, error)
	// AccessTokenOrg returns the org of a token; missing →
	// AccessTokenNotFound.
	AccessTokenOrg(ctx context.Context, id string) (string, error)
	// DeleteAccessToken: missing → AccessTokenNotFound.
	DeleteAccessToken(ctx context.Context, id string) error
}

// AccessTokenNotFound is the answer for a token id that does not exist or
// lies in an org the caller cannot reach.
func AccessTokenNotFound(id string) error {
	return Errorf(CodeNotFound, "Access token with ID %s not found", id)
}

// DefaultSessionLength is how long a session opened with a token without
// validForSeconds lasts: Pangolin's dashboard_session_length_hours
// default, 720 hours.
const DefaultSessionLength = 720 * time.Hour

// maxValidForSeconds bounds validForSeconds: 100 years, far from where
// the epoch-millisecond expiry would leave what clients can hold.
const maxValidForSeconds = 100 * 365.25 * 24 * 60 * 60

// accessTokenIDLength and accessTokenBytes are Pangolin's: an 8-character
// id and 16 random bytes of token (26 base32 characters).
const (
	accessTokenIDLength = 8
	accessTokenBytes    = 16
)

// AccessTokens is the AccessTokenService.
type AccessTokens struct {
	corev1.UnimplementedAccessTokenServiceServer
	store AccessTokenStore
	// now is the clock; tests set it.
	now func() time.Time
}

// Reach resolves an access token id (access scope OBJECT, object
// "access_token"): a token of an org the caller cannot reach is as
// missing as one that never existed.
func (s *AccessTokens) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	return reachObject(ctx, c, id.String(), s.store.AccessTokenOrg, AccessTokenNotFound)
}

// GenerateAccessToken creates a token for a resource and answers it as
// stored, with the token shown this once. The token has 128 random bits,
// so it is stored as its hex SHA-256, as Pangolin stores it: a slow hash
// adds nothing against guessing at that entropy, and Pangolin's own
// verifier reads the same column.
func (s *AccessTokens) GenerateAccessToken(ctx context.Context, req *corev1.GenerateAccessTokenRequest) (*corev1.GeneratedAccessToken, error) {
	now := s.now().UnixMilli()
	t := &corev1.AccessToken{
		ResourceId:    req.GetResourceId(),
		SessionLength: DefaultSessionLength.Milliseconds(),
		CreatedAt:     now,
	}
	if req.ValidForSeconds != nil {
		v := req.GetValidForSeconds()
		if v <= 0 || v > maxValidForSeconds {
			return nil, Errorf(CodeInvalid, "Validation error: validForSeconds must be a positive integer of at most %d (100 years)", int64(maxValidForSeconds))
		}
		t.SessionLength = v * 1000
		expires := now + v*1000
		t.ExpiresAt = &expires
	}
	// Empty text is no text, as in Pangolin.
	if req.GetTitle() != "" {
		t.Title = req.Title
	}
	if req.GetDescription() != "" {
		t.Description = req.Description
	}
	token := newAccessToken()
	// An id can be taken (36^8 of them); try a few.
	for range 5 {
		t.AccessTokenId = RandomID(accessTokenIDLength)
		stored, err := s.store.CreateAccessToken(ctx, t, HashAccessToken(token))
		if ErrorCode(err) == CodeConflict {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &corev1.GeneratedAccessToken{Token: stored, AccessToken: token}, nil
	}
	return nil, fmt.Errorf("no free access token id after 5 tries")
}

// ListOrgAccessTokens lists the unexpired tokens of an org.
func (s *AccessTokens) ListOrgAccessTokens(ctx context.Context, req *corev1.ListOrgAccessTokensRequest) (*corev1.ListAccessTokensResponse, error) {
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	list, total, err := s.store.ListOrgAccessTokens(ctx, req.GetOrgId(), s.now().UnixMilli(), req.GetPage())
	return &corev1.ListAccessTokensResponse{AccessTokens: list, Total: total}, err
}

// ListResourceAccessTokens lists the unexpired tokens of a resource.
func (s *AccessTokens) ListResourceAccessTokens(ctx context.Context, req *corev1.ListResourceAccessTokensRequest) (*corev1.ListAccessTokensResponse, error) {
	list, total, err := s.store.ListResourceAccessTokens(ctx, req.GetResourceId(), s.now().UnixMilli(), req.GetPage())
	return &corev1.ListAccessTokensResponse{AccessTokens: list, Total: total}, err
}

// DeleteAccessToken deletes a token, expired or not.
func (s *AccessTokens) DeleteAccessToken(ctx context.Context, req *corev1.AccessTokenIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteAccessToken(ctx, req.GetAccessTokenId())
}

// newAccessToken returns 16 random bytes as lowercase unpadded base32.
func newAccessToken() string {
	b := make([]byte, accessTokenBytes)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashAccessToken is how an access token is stored: its hex SHA-256.
func HashAccessToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
