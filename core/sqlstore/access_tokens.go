package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// accessTokens holds corev1.AccessToken; lists read
// corev1.AccessTokenListItem with the names of the token's resource and of
// the resource's site. token_hash is written beside the message and is no
// column here, so no read can return it.
var accessTokens = &table{
	name: "resource_access_tokens", alias: "t",
	columns: []string{
		"access_token_id", "org_id", "resource_id", "session_length", "expires_at", "title", "description",
		"created_at", "path",
	},
	computed: map[string]string{
		"resource_name": `(SELECT r.name FROM resources r WHERE r.resource_id = t.resource_id)`,
		"site_name": `(SELECT si.name FROM resources r JOIN sites si ON si.site_id = r.site_id
			WHERE r.resource_id = t.resource_id)`,
	},
}

func getAccessToken(ctx context.Context, q querier, id string) (*corev1.AccessToken, error) {
	t := &corev1.AccessToken{}
	err := getRow(ctx, q, accessTokens, t, `WHERE t.access_token_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.AccessTokenNotFound(id)
	}
	return t, err
}

// CreateAccessToken stores t in its resource's org with the token's hash
// and returns it as stored.
func (s *Store) CreateAccessToken(ctx context.Context, t *corev1.AccessToken, tokenHash string) (*corev1.AccessToken, error) {
	var stored *corev1.AccessToken
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := s.lockResource(ctx, tx, t.GetResourceId())
		if err != nil {
			return err
		}
		t.OrgId = orgID
		_, err = insert(ctx, tx, accessTokens, t, column{"token_hash", tokenHash})
		if _, ok := uniqueViolation(err); ok {
			return core.Errorf(core.CodeConflict, "Access token with ID %s already exists", t.GetAccessTokenId())
		}
		if err != nil {
			return err
		}
		stored, err = getAccessToken(ctx, tx, t.GetAccessTokenId())
		return err
	})
	return stored, internal("create access token", err)
}

// unexpired keeps the tokens that have no expiry or expire after $2.
const unexpired = `(t.expires_at IS NULL OR t.expires_at > $2)`

func (s *Store) listAccessTokens(ctx context.Context, where string, owner any, now int64, page *corev1.Page) ([]*corev1.AccessTokenListItem, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.AccessTokenListItem](ctx, s.reader, accessTokens,
		`WHERE `+where+` AND `+unexpired+` ORDER BY t.created_at, t.access_token_id LIMIT $3 OFFSET $4`,
		owner, now, limit, offset)
	if err != nil {
		return nil, 0, internal("list access tokens", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM resource_access_tokens t WHERE `+where+` AND `+unexpired, owner, now)
	return list, total, internal("count access tokens", err)
}

// ListOrgAccessTokens returns a page of the org's tokens unexpired at now
// (epoch ms), oldest first, and how many there are.
func (s *Store) ListOrgAccessTokens(ctx context.Context, orgID string, now int64, page *corev1.Page) ([]*corev1.AccessTokenListItem, int32, error) {
	return s.listAccessTokens(ctx, `t.org_id = $1`, orgID, now, page)
}

// ListResourceAccessTokens returns a page of the resource's tokens
// unexpired at now (epoch ms), oldest first, and how many there are.
func (s *Store) ListResourceAccessTokens(ctx context.Context, resourceID, now int64, page *corev1.Page) ([]*corev1.AccessTokenListItem, int32, error) {
	return s.listAccessTokens(ctx, `t.resource_id = $1`, resourceID, now, page)
}

// AccessTokenOrg returns the org of the token.
func (s *Store) AccessTokenOrg(ctx context.Context, id string) (string, error) {
	return objectOrg(ctx, s.reader, "access token org", `SELECT org_id FROM resource_access_tokens WHERE access_token_id = $1`, id, core.AccessTokenNotFound)
}

// DeleteAccessToken deletes the token.
func (s *Store) DeleteAccessToken(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM resource_access_tokens WHERE access_token_id = $1`, id)
		if err != nil {
			return err
		}
		return deletedOne(res, core.AccessTokenNotFound(id))
	})
	return internal("delete access token", err)
}
