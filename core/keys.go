package core

import (
	"context"
	"slices"
	"strings"
)

// Verify checks keyID's secret and returns the key with its scope.
// Unknown key and wrong secret give the same Unauthenticated error.
//
// An id that does not exist is refused before the verification queue and
// without computing a hash, so a flood of made-up ids costs one indexed
// read each and cannot starve real keys of verification slots. Its answer
// comes sooner than a wrong secret's, which tells a caller whether a key id
// exists: ids are not secrets, the 40-character secret is what protects a
// key (README, "How a request is authenticated").
func (s *Service) Verify(ctx context.Context, keyID, secret string) (APIKey, error) {
	invalid := Errorf(CodeUnauthenticated, "Invalid API key")
	if len(keyID) != 15 || secret == "" || len(secret) > 128 {
		return APIKey{}, invalid
	}
	key, err := s.store.GetAPIKey(ctx, keyID)
	if ErrorCode(err) == CodeNotFound {
		return APIKey{}, invalid
	}
	if err != nil {
		return APIKey{}, s.internal(ctx, "verify", err)
	}
	release, err := s.acquireVerifySlot(ctx)
	if err != nil {
		return APIKey{}, err
	}
	defer release()
	if !CheckSecret(key.Hash, secret) {
		return APIKey{}, invalid
	}
	key.Hash = ""
	return key, nil
}

func (s *Service) acquireVerifySlot(ctx context.Context) (release func(), err error) {
	select {
	case s.verifyQueue <- struct{}{}:
	default:
		return nil, Errorf(CodeExhausted, "Too many authentication attempts, retry later")
	}
	defer func() { <-s.verifyQueue }()
	select {
	case s.verifySlots <- struct{}{}:
		return func() { <-s.verifySlots }, nil
	case <-ctx.Done():
		return nil, Errorf(CodeUnavailable, "Request cancelled")
	}
}

// CallerFor resolves the key a gateway acts for. The gateway authenticated
// the secret; the core re-reads the key so that tenancy follows the stored
// scope, not anything the request says.
func (s *Service) CallerFor(ctx context.Context, keyID string) (Caller, error) {
	root, orgs, err := s.store.APIKeyScope(ctx, keyID)
	if ErrorCode(err) == CodeNotFound {
		return Caller{}, Errorf(CodeUnauthenticated, "Invalid API key")
	}
	if err != nil {
		return Caller{}, s.internal(ctx, "caller", err)
	}
	return Caller{KeyID: keyID, Root: root, OrgIDs: orgs}, nil
}

// CreatedKey is a new key with its secret, which is never stored or shown again.
type CreatedKey struct {
	APIKey
	Secret string
}

// Token is the bearer token of the key.
func (k CreatedKey) Token() string { return k.ID + "." + k.Secret }

// CreateRootKey creates a key with access to every org. Server admin only:
// there is no API route for it.
func (s *Service) CreateRootKey(ctx context.Context, name string, actionIDs []string) (CreatedKey, error) {
	return s.createKey(ctx, name, "", actionIDs)
}

// CreateOrgKey creates a key scoped to one org, with no actions.
func (s *Service) CreateOrgKey(ctx context.Context, c Caller, orgID, name string) (CreatedKey, error) {
	if err := c.requireRoot(); err != nil {
		return CreatedKey{}, err
	}
	return s.createKey(ctx, name, orgID, nil)
}

func (s *Service) createKey(ctx context.Context, name, orgID string, actionIDs []string) (CreatedKey, error) {
	if err := checkName("name", name); err != nil {
		return CreatedKey{}, err
	}
	secret := NewKeySecret()
	key := APIKey{
		ID:        RandomID(15),
		Name:      name,
		Hash:      HashSecret(secret),
		LastChars: secret[len(secret)-4:],
		IsRoot:    orgID == "",
		CreatedAt: s.now().Truncate(1e6),
	}
	if err := s.store.CreateAPIKey(ctx, key, orgID, uniq(actionIDs)); err != nil {
		return CreatedKey{}, s.internal(ctx, "create key", err)
	}
	key.Hash = ""
	return CreatedKey{APIKey: key, Secret: secret}, nil
}

// ListOrgKeys lists the org-scoped keys of an org.
func (s *Service) ListOrgKeys(ctx context.Context, c Caller, orgID string, page Page) ([]APIKey, int, error) {
	if err := s.requireRootAndOrg(ctx, c, orgID); err != nil {
		return nil, 0, err
	}
	keys, total, err := s.store.ListOrgAPIKeys(ctx, orgID, page)
	return keys, total, s.internal(ctx, "list keys", err)
}

// DeleteOrgKey deletes an org-scoped key of the org. Unlike Pangolin 1.8,
// the key must belong to the org in the path: a root key or another org's
// key cannot be deleted through an org's path.
func (s *Service) DeleteOrgKey(ctx context.Context, c Caller, orgID, keyID string) error {
	if _, err := s.orgKey(ctx, c, orgID, keyID); err != nil {
		return err
	}
	return s.internal(ctx, "delete key", s.store.DeleteAPIKey(ctx, keyID))
}

// SetKeyActions replaces the actions of an org-scoped key of the org.
func (s *Service) SetKeyActions(ctx context.Context, c Caller, orgID, keyID string, actionIDs []string) error {
	if _, err := s.orgKey(ctx, c, orgID, keyID); err != nil {
		return err
	}
	for _, id := range actionIDs {
		if strings.TrimSpace(id) == "" {
			return Errorf(CodeInvalid, "Validation error: action ids must be non-empty strings")
		}
	}
	return s.internal(ctx, "set key actions", s.store.SetAPIKeyActions(ctx, keyID, uniq(actionIDs)))
}

// ListKeyActions lists the actions of an org-scoped key of the org.
func (s *Service) ListKeyActions(ctx context.Context, c Caller, orgID, keyID string, page Page) ([]string, int, error) {
	if _, err := s.orgKey(ctx, c, orgID, keyID); err != nil {
		return nil, 0, err
	}
	ids, total, err := s.store.ListAPIKeyActions(ctx, keyID, page)
	return ids, total, s.internal(ctx, "list key actions", err)
}

// DeleteKey deletes any key. Server admin only.
func (s *Service) DeleteKey(ctx context.Context, keyID string) error {
	return s.internal(ctx, "delete key", s.store.DeleteAPIKey(ctx, keyID))
}

// ListKeys lists every key. Server admin only.
func (s *Service) ListKeys(ctx context.Context) ([]APIKey, error) {
	keys, err := s.store.ListAPIKeys(ctx)
	return keys, s.internal(ctx, "list keys", err)
}

// orgKey loads a key and checks it is an org-scoped key of orgID.
func (s *Service) orgKey(ctx context.Context, c Caller, orgID, keyID string) (APIKey, error) {
	if err := s.requireRootAndOrg(ctx, c, orgID); err != nil {
		return APIKey{}, err
	}
	key, err := s.store.GetAPIKey(ctx, keyID)
	if err != nil {
		return APIKey{}, s.internal(ctx, "get key", err)
	}
	if key.IsRoot || !slices.Contains(key.OrgIDs, orgID) {
		return APIKey{}, Errorf(CodeNotFound, "API key not found")
	}
	return key, nil
}

// requireRootAndOrg checks a root caller and an existing org.
func (s *Service) requireRootAndOrg(ctx context.Context, c Caller, orgID string) error {
	if err := c.requireRoot(); err != nil {
		return err
	}
	_, err := s.store.GetOrg(ctx, orgID)
	return s.internal(ctx, "get org", err)
}

func uniq(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// EnsureRootKey creates a root key with every action when the server has
// none (first start of the embedded default). created is false when a root
// key existed.
func (s *Service) EnsureRootKey(ctx context.Context, name string) (key CreatedKey, created bool, err error) {
	n, err := s.store.CountRootKeys(ctx)
	if err != nil || n > 0 {
		return CreatedKey{}, false, s.internal(ctx, "count root keys", err)
	}
	key, err = s.CreateRootKey(ctx, name, Actions)
	return key, err == nil, err
}
