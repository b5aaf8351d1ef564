package core

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// KeyStore is what the key service needs of storage. Every write also
// appends to the key change log, in the same transaction, so that every
// gateway and core replica drops what it cached of the key.
type KeyStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	// CreateKey stores key (the secret field is no column) with its hash,
	// linked to orgID ("" makes a root key) and granted actionIDs. Unknown
	// action → Invalid; missing org → NotFound.
	CreateKey(ctx context.Context, key *corev1.CreatedApiKey, hash, orgID string, actionIDs []string) error
	// KeyHash returns the key's argon2id PHC string; missing → NotFound.
	KeyHash(ctx context.Context, id string) (string, error)
	// PreviousKeyHash returns the hash of the secret before the key's last
	// roll and until when it works, or "" for both when none works.
	PreviousKeyHash(ctx context.Context, id string) (hash, until string, err error)
	// Principal is what the key may do, read in one query: the core asks
	// it on every call it has not cached. Missing → NotFound.
	Principal(ctx context.Context, id string) (*corev1.Principal, error)
	// Key is one key without its hash; missing → NotFound.
	Key(ctx context.Context, id string) (*corev1.ApiKey, error)
	ListKeys(ctx context.Context) ([]*corev1.ApiKey, error)
	// ListOrgKeys lists the org keys of orgID; a non-empty unusedSince
	// (TimeFormat) keeps those last used before it, or never.
	ListOrgKeys(ctx context.Context, orgID, unusedSince string, page *corev1.Page) ([]*corev1.ApiKey, int32, error)
	// UpdateKey applies change to the stored key, with the row locked, and
	// writes its name and limits; it returns the key as stored after.
	UpdateKey(ctx context.Context, id string, change func(*corev1.ApiKey) error) (*corev1.ApiKey, error)
	// RollKey replaces the key's secret; the one before works until
	// previousUntil (TimeFormat), or stops at once when it is "".
	RollKey(ctx context.Context, id, hash, lastChars, previousUntil string) (*corev1.ApiKey, error)
	// TouchKeys records each key's last use, at most once per interval.
	TouchKeys(ctx context.Context, uses map[string]time.Time, interval time.Duration) error
	DeleteKey(ctx context.Context, id string) error
	SetKeyActions(ctx context.Context, id string, actionIDs []string) error
	ListKeyActions(ctx context.Context, id string, page *corev1.Page) ([]*corev1.KeyAction, int32, error)
	CountRootKeys(ctx context.Context) (int, error)
}

// Keys verifies API keys and manages org keys: the ApiKeyService but its
// change stream, which the transport serves from the change log.
type Keys struct {
	corev1.UnimplementedApiKeyServiceServer
	store  KeyStore
	hasher *Hasher
	log    *slog.Logger
}

// CreatedKey is a new key with its secret, which is never stored or shown
// again.
type CreatedKey struct{ *corev1.CreatedApiKey }

// Token is the bearer token of the key.
func (k CreatedKey) Token() string { return k.GetApiKeyId() + "." + k.GetApiKey() }

// Verify checks a key's secret and returns what the key may do. Unknown
// key and wrong secret give the same Unauthenticated error.
//
// An id that does not exist is refused before the Hasher's line and
// without computing a hash, so a flood of made-up ids costs one indexed
// read each and cannot starve real keys of hashing slots. The hash counts
// against the key being verified (there is no caller yet), so wrong secrets
// for one key wait behind each other, not in front of other keys. Its answer
// comes sooner than a wrong secret's, which tells a caller whether a key id
// exists: ids are not secrets, the 40-character secret is what protects a
// key (README, "How a request is authenticated").
func (k *Keys) Verify(ctx context.Context, req *corev1.VerifyRequest) (*corev1.Principal, error) {
	id, secret := req.GetApiKeyId(), req.GetSecret()
	invalid := Errorf(CodeUnauthenticated, "Invalid API key")
	if len(id) != 15 || secret == "" || len(secret) > 128 {
		return nil, invalid
	}
	hash, err := k.store.KeyHash(ctx, id)
	if ErrorCode(err) == CodeNotFound {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	ok, err := k.hasher.Check(withHashParty(ctx, id), hash, secret)
	if err != nil {
		return nil, hashError(err)
	}
	previous := false
	if !ok {
		// Within a roll's grace the secret before works too; the store
		// answers no hash once the grace is over.
		hash, _, err := k.store.PreviousKeyHash(ctx, id)
		if err != nil {
			return nil, err
		}
		if hash == "" {
			return nil, invalid
		}
		if ok, err = k.hasher.Check(withHashParty(ctx, id), hash, secret); err != nil || !ok {
			return nil, cmp.Or(hashError(err), invalid)
		}
		previous = true
	}
	p, err := k.store.Principal(ctx, id)
	if ErrorCode(err) == CodeNotFound {
		return nil, invalid // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	// After the secret is checked: only the key's holder learns it expired.
	if KeyExpired(p, time.Now()) {
		return nil, ErrKeyExpired()
	}
	p.PreviousSecret = previous
	return p, nil
}

// hashError is the answer to a failed secret check: a full hashing line is
// a 429 that says so.
func hashError(err error) error {
	if ErrorCode(err) == CodeExhausted {
		return Errorf(CodeExhausted, "Too many authentication attempts, retry later")
	}
	return err
}

// ErrKeyExpired is the answer to every call with a key past its expiry,
// whichever cache answered for it.
func ErrKeyExpired() error { return Errorf(CodeUnauthenticated, "API key expired") }

// KeyExpired reports whether the key is past its expiry at now. An expiry
// that does not parse counts as past: the store writes only TimeFormat, so
// anything else is damage, and a damaged key must not work forever.
func KeyExpired(p *corev1.Principal, now time.Time) bool {
	if p.ExpiresAt == nil {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, p.GetExpiresAt())
	return err != nil || !now.Before(t)
}

// checkExpiry parses an expiresAt from a request: RFC 3339, in the future.
// It returns the time in TimeFormat (UTC); nil means never.
func checkExpiry(v *string) (*string, error) {
	if v == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		return nil, Errorf(CodeInvalid, "Validation error: expiresAt must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
	}
	if !t.After(time.Now()) {
		return nil, Errorf(CodeInvalid, "Validation error: expiresAt must be in the future")
	}
	s := Timestamp(t)
	return &s, nil
}

// CreateOrgKey creates a key scoped to one org, with no actions, expiring
// at expiresAt when set.
func (k *Keys) CreateOrgKey(ctx context.Context, req *corev1.CreateOrgKeyRequest) (*corev1.CreatedApiKey, error) {
	limits, err := checkLimits(req.ExpiresAt, req.GetAllowedIps(), req.GetRateLimit())
	if err != nil {
		return nil, err
	}
	key, err := k.create(ctx, req.GetName(), req.GetOrgId(), nil, limits)
	return key.CreatedApiKey, err
}

// GetCallerKey describes the calling key: its scope as the access check
// resolved it (so exactly what this call was allowed with), and its name
// and creation time from the store.
func (k *Keys) GetCallerKey(ctx context.Context, _ *corev1.GetCallerKeyRequest) (*corev1.CallerKey, error) {
	c := CallerOf(ctx)
	if c.Principal == nil || c.GetApiKeyId() == "" {
		return nil, Errorf(CodeUnauthenticated, "API key required")
	}
	key, err := k.store.Key(ctx, c.GetApiKeyId())
	if ErrorCode(err) == CodeNotFound {
		return nil, Errorf(CodeUnauthenticated, "Invalid API key") // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	return &corev1.CallerKey{
		ApiKeyId:                c.GetApiKeyId(),
		Name:                    key.GetName(),
		IsRoot:                  c.GetIsRoot(),
		OrgIds:                  c.GetOrgIds(),
		ActionIds:               c.GetActionIds(),
		ExpiresAt:               c.Principal.ExpiresAt,
		CreatedAt:               key.GetCreatedAt(),
		AllowedIps:              c.GetAllowedIps(),
		RateLimit:               c.GetRateLimit(),
		LastUsedAt:              key.LastUsedAt,
		PreviousSecretExpiresAt: key.PreviousSecretExpiresAt,
	}, nil
}

// CreateRootKey creates a key with access to every org, granted actionIDs.
// Server admin only: there is no API route for it.
func (k *Keys) CreateRootKey(ctx context.Context, name string, actionIDs []string) (CreatedKey, error) {
	return k.create(ctx, name, "", actionIDs, keyLimits{})
}

// RootKeyLimits are the limits the server admin can give a root key, in
// the API's forms: zero fields are none.
type RootKeyLimits struct {
	// ExpiresAt is an RFC 3339 time in the future; "" never.
	ExpiresAt  string
	AllowedIPs []string
	RateLimit  *corev1.RateLimit
}

// CreateRootKeyWith is CreateRootKey for a key with limits, checked as an
// org key's are.
func (k *Keys) CreateRootKeyWith(ctx context.Context, name string, actionIDs []string, l RootKeyLimits) (CreatedKey, error) {
	var expires *string
	if l.ExpiresAt != "" {
		expires = &l.ExpiresAt
	}
	limits, err := checkLimits(expires, l.AllowedIPs, l.RateLimit)
	if err != nil {
		return CreatedKey{}, err
	}
	return k.create(ctx, name, "", actionIDs, limits)
}

// create stores a new key with limits already checked (checkLimits), which
// the caller may set only if its own are no looser.
func (k *Keys) create(ctx context.Context, name, orgID string, actionIDs []string, limits keyLimits) (CreatedKey, error) {
	if err := checkName("name", name); err != nil {
		return CreatedKey{}, err
	}
	if err := mayLimit(CallerOf(ctx), limits, func(string) bool { return true }); err != nil {
		return CreatedKey{}, err
	}
	secret := NewKeySecret()
	hash, err := k.hasher.Hash(ctx, secret)
	if err != nil {
		return CreatedKey{}, err
	}
	key := &corev1.CreatedApiKey{
		ApiKeyId:   RandomID(15),
		ApiKey:     secret,
		Name:       name,
		LastChars:  secret[len(secret)-4:],
		CreatedAt:  Timestamp(time.Now()),
		ExpiresAt:  limits.expiresAt,
		AllowedIps: limits.allowedIPs,
		RateLimit:  limits.rateLimit,
	}
	if err := k.store.CreateKey(ctx, key, hash, orgID, uniq(actionIDs)); err != nil {
		return CreatedKey{}, err
	}
	k.log.InfoContext(ctx, "core: API key created", "api_key_id", key.ApiKeyId, "org_id", orgID, "by", CallerOf(ctx).GetApiKeyId())
	return CreatedKey{key}, nil
}

// ListOrgKeys lists the org keys of an org.
func (k *Keys) ListOrgKeys(ctx context.Context, req *corev1.ListOrgKeysRequest) (*corev1.ListOrgKeysResponse, error) {
	if _, err := k.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	var since string
	if req.UnusedSince != nil {
		t, err := time.Parse(time.RFC3339Nano, req.GetUnusedSince())
		if err != nil {
			return nil, Errorf(CodeInvalid, "Validation error: unusedSince must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		since = Timestamp(t)
	}
	keys, total, err := k.store.ListOrgKeys(ctx, req.GetOrgId(), since, req.GetPage())
	return &corev1.ListOrgKeysResponse{ApiKeys: keys, Total: total}, err
}

// UpdateOrgKey changes an org key's name and limits: the fields the body
// holds (null clears a limit), each checked as on create, limits bounded
// by the caller's own.
func (k *Keys) UpdateOrgKey(ctx context.Context, req *corev1.UpdateOrgKeyRequest) (*corev1.ApiKey, error) {
	if err := k.orgKey(ctx, req.GetOrgId(), req.GetApiKeyId()); err != nil {
		return nil, err
	}
	// Given: the body's keys (the gateway lists them, so null clears), and
	// whatever a direct caller set.
	given := func(name string) bool {
		return slices.Contains(req.GetBodyKeys(), name) ||
			name == "name" && req.Name != nil || name == "expiresAt" && req.ExpiresAt != nil ||
			name == "allowedIps" && len(req.GetAllowedIps()) > 0 || name == "rateLimit" && req.RateLimit != nil
	}
	if !given("name") && !given("expiresAt") && !given("allowedIps") && !given("rateLimit") {
		return nil, Errorf(CodeInvalid, "Validation error: give at least one of name, expiresAt, allowedIps, rateLimit")
	}
	if given("name") {
		if err := checkName("name", req.GetName()); err != nil {
			return nil, err
		}
	}
	limits, err := checkLimits(req.ExpiresAt, req.GetAllowedIps(), req.GetRateLimit())
	if err != nil {
		return nil, err
	}
	if err := mayLimit(CallerOf(ctx), limits, given); err != nil {
		return nil, err
	}
	key, err := k.store.UpdateKey(ctx, req.GetApiKeyId(), func(key *corev1.ApiKey) error {
		if given("name") {
			key.Name = req.GetName()
		}
		if given("expiresAt") {
			key.ExpiresAt = limits.expiresAt
		}
		if given("allowedIps") {
			key.AllowedIps = limits.allowedIPs
		}
		if given("rateLimit") {
			key.RateLimit = limits.rateLimit
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	key.OrgId = req.GetOrgId()
	k.log.InfoContext(ctx, "core: API key updated", "api_key_id", key.GetApiKeyId(), "by", CallerOf(ctx).GetApiKeyId())
	return key, nil
}

// RollOrgKey gives an org key a new secret; the old one works for the
// grace only.
func (k *Keys) RollOrgKey(ctx context.Context, req *corev1.RollOrgKeyRequest) (*corev1.CreatedApiKey, error) {
	if err := k.orgKey(ctx, req.GetOrgId(), req.GetApiKeyId()); err != nil {
		return nil, err
	}
	g := req.GetGraceSeconds()
	if g < 0 || g > MaxRollGraceSeconds {
		return nil, Errorf(CodeInvalid, "Validation error: graceSeconds must be between 0 and %d", MaxRollGraceSeconds)
	}
	key, err := k.RollKey(ctx, req.GetApiKeyId(), time.Duration(g)*time.Second)
	return key.CreatedApiKey, err
}

// RollKey gives any key, root or org, a new secret, shown once; the one
// before keeps working for grace (none when 0). Every gateway drops what it
// cached of the key, and one holding the old secret later is told by the
// core when its grace ends.
func (k *Keys) RollKey(ctx context.Context, keyID string, grace time.Duration) (CreatedKey, error) {
	if grace < 0 || grace > MaxRollGraceSeconds*time.Second {
		return CreatedKey{}, Errorf(CodeInvalid, "Validation error: the grace must be between 0 and %d seconds", MaxRollGraceSeconds)
	}
	secret := NewKeySecret()
	hash, err := k.hasher.Hash(ctx, secret)
	if err != nil {
		return CreatedKey{}, err
	}
	var until string
	if grace > 0 {
		until = Timestamp(time.Now().Add(grace))
	}
	key, err := k.store.RollKey(ctx, keyID, hash, secret[len(secret)-4:], until)
	if err != nil {
		return CreatedKey{}, err
	}
	k.log.InfoContext(ctx, "core: API key rolled", "api_key_id", keyID, "grace", grace, "by", CallerOf(ctx).GetApiKeyId())
	return CreatedKey{&corev1.CreatedApiKey{
		ApiKeyId:                key.GetApiKeyId(),
		ApiKey:                  secret,
		Name:                    key.GetName(),
		LastChars:               key.GetLastChars(),
		CreatedAt:               key.GetCreatedAt(),
		ExpiresAt:               key.ExpiresAt,
		AllowedIps:              key.GetAllowedIps(),
		RateLimit:               key.GetRateLimit(),
		PreviousSecretExpiresAt: key.PreviousSecretExpiresAt,
	}}, nil
}

// DeleteOrgKey deletes an org key of the org. Unlike Pangolin 1.8, the key
// must belong to the org in the path: a root key or another org's key
// cannot be deleted through an org's path.
func (k *Keys) DeleteOrgKey(ctx context.Context, req *corev1.OrgKeyRequest) (*corev1.NoData, error) {
	if err := k.orgKey(ctx, req.GetOrgId(), req.GetApiKeyId()); err != nil {
		return nil, err
	}
	if err := k.store.DeleteKey(ctx, req.GetApiKeyId()); err != nil {
		return nil, err
	}
	k.log.InfoContext(ctx, "core: API key deleted", "api_key_id", req.GetApiKeyId(), "by", CallerOf(ctx).GetApiKeyId())
	return &corev1.NoData{}, nil
}

// SetKeyActions replaces the actions of an org key of the org. The caller
// grants only actions it holds itself: a key allowed to set actions must
// not mint a key more powerful than it is.
func (k *Keys) SetKeyActions(ctx context.Context, req *corev1.SetKeyActionsRequest) (*corev1.Empty, error) {
	if err := k.orgKey(ctx, req.GetOrgId(), req.GetApiKeyId()); err != nil {
		return nil, err
	}
	ids := uniq(req.GetActionIds())
	if err := mayGrant(CallerOf(ctx), ids); err != nil {
		return nil, err
	}
	if err := k.store.SetKeyActions(ctx, req.GetApiKeyId(), ids); err != nil {
		return nil, err
	}
	k.log.InfoContext(ctx, "core: API key actions set", "api_key_id", req.GetApiKeyId(), "actions", len(ids), "by", CallerOf(ctx).GetApiKeyId())
	return &corev1.Empty{}, nil
}

// mayGrant checks action ids before they are granted: each must be a
// known id (400 otherwise, as in Pangolin) that the caller holds (403
// naming it).
func mayGrant(c Caller, ids []string) error {
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return Errorf(CodeInvalid, "Validation error: action ids must be non-empty strings")
		}
		if !slices.Contains(Actions, id) {
			return Errorf(CodeInvalid, "One or more actions do not exist")
		}
	}
	for _, id := range ids {
		if !c.Holds(id) {
			return Errorf(CodeForbidden, "Key cannot grant an action it does not hold: %s", id)
		}
	}
	return nil
}

// ListKeyActions lists the actions of an org key of the org.
func (k *Keys) ListKeyActions(ctx context.Context, req *corev1.ListKeyActionsRequest) (*corev1.ListKeyActionsResponse, error) {
	if err := k.orgKey(ctx, req.GetOrgId(), req.GetApiKeyId()); err != nil {
		return nil, err
	}
	actions, total, err := k.store.ListKeyActions(ctx, req.GetApiKeyId(), req.GetPage())
	return &corev1.ListKeyActionsResponse{Actions: actions, Total: total}, err
}

// orgKey checks that orgID exists and keyID is one of its org keys; any
// other key is "not found" through this org's path.
func (k *Keys) orgKey(ctx context.Context, orgID, keyID string) error {
	if _, err := k.store.GetOrg(ctx, orgID); err != nil {
		return err
	}
	p, err := k.store.Principal(ctx, keyID)
	if err != nil {
		return err
	}
	if p.GetIsRoot() || !slices.Contains(p.GetOrgIds(), orgID) {
		return Errorf(CodeNotFound, "API key not found")
	}
	return nil
}

// KeyInfo is a key as the server admin lists it.
type KeyInfo struct {
	*corev1.ApiKey
	Scope *corev1.Principal
}

// ListKeys lists every key, root and org, with its scope. Server admin only.
func (k *Keys) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	keys, err := k.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(keys))
	for _, key := range keys {
		p, err := k.store.Principal(ctx, key.GetApiKeyId())
		if ErrorCode(err) == CodeNotFound {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, KeyInfo{key, p})
	}
	return out, nil
}

// DeleteKey deletes any key. Server admin only.
func (k *Keys) DeleteKey(ctx context.Context, keyID string) error {
	return k.store.DeleteKey(ctx, keyID)
}

// EnsureRootKey creates a root key with every action when the server has
// none (first start of the embedded default). created is false when a root
// key existed.
func (k *Keys) EnsureRootKey(ctx context.Context, name string) (key CreatedKey, created bool, err error) {
	n, err := k.store.CountRootKeys(ctx)
	if err != nil || n > 0 {
		return CreatedKey{}, false, err
	}
	key, err = k.CreateRootKey(ctx, name, Actions)
	return key, err == nil, err
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
