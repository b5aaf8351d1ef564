package core

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// IdpStore is what identity providers need of storage.
type IdpStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	// CreateIdp stores the provider and its OIDC settings (the client
	// secret as its hash) and returns the new id.
	CreateIdp(ctx context.Context, idp *corev1.Idp, cfg *corev1.IdpOidcConfig, secretHash string) (int64, error)
	// GetIdp: missing → IdpNotFound.
	GetIdp(ctx context.Context, id int64) (*corev1.GetIdpResponse, error)
	// UpdateIdp sets the fields req carries (client_secret: secretHash
	// instead, when not empty); missing → IdpNotFound.
	UpdateIdp(ctx context.Context, req *corev1.UpdateIdpRequest, secretHash string) error
	// DeleteIdp deletes the provider, its policies and its users.
	DeleteIdp(ctx context.Context, id int64) error
	ListIdps(ctx context.Context, page *corev1.Page) ([]*corev1.IdpListItem, int32, error)
	// CreateIdpOrg stores a policy: a missing provider → IdpNotFound, a
	// missing org → NotFound, one that exists → IdpOrgExists.
	CreateIdpOrg(ctx context.Context, p *corev1.IdpOrgPolicy) (*corev1.IdpOrgPolicy, error)
	// UpdateIdpOrg sets the mappings req carries; a missing policy →
	// IdpOrgNotFound.
	UpdateIdpOrg(ctx context.Context, req *corev1.IdpOrgRequest) (*corev1.IdpOrgPolicy, error)
	DeleteIdpOrg(ctx context.Context, idpID int64, orgID string) error
	// ListIdpOrgs: a missing provider → IdpNotFound.
	ListIdpOrgs(ctx context.Context, idpID int64, page *corev1.Page) ([]*corev1.IdpOrgPolicy, int32, error)
}

// IdpOIDC is the one provider type; idpVariants the flavours of OIDC.
const IdpOIDC = "oidc"

var idpVariants = []string{"oidc", "google", "azure"}

func IdpNotFound(id int64) error { return Errorf(CodeNotFound, "Idp with ID %d not found", id) }

// IdpNotFoundInBody is the answer for a provider named in a body (a
// user's idpId): Pangolin's 400.
func IdpNotFoundInBody(id int64) error {
	return Errorf(CodeInvalid, "Identity provider with ID %d not found", id)
}

func IdpOrgExists() error {
	return Errorf(CodeConflict, "An identity provider policy for this organization already exists")
}

func IdpOrgNotFound() error {
	return Errorf(CodeNotFound, "No identity provider policy for this organization")
}

// Idps is the IdpService.
type Idps struct {
	corev1.UnimplementedIdpServiceServer
	store  IdpStore
	hasher *Hasher
	// dashboardURL starts redirect URLs (app.dashboard_url).
	dashboardURL func() string
}

// CreateIdp validates and stores an OIDC provider, its client secret as an
// argon2id hash, and answers it as stored.
func (s *Idps) CreateIdp(ctx context.Context, req *corev1.CreateIdpRequest) (*corev1.IdpAnswer, error) {
	if err := checkName("name", req.GetName()); err != nil {
		return nil, err
	}
	if err := checkIdpTexts(&req.ClientId, &req.ClientSecret, &req.IdentifierPath, &req.Scopes); err != nil {
		return nil, err
	}
	if err := checkIdpURLs(&req.AuthUrl, &req.TokenUrl); err != nil {
		return nil, err
	}
	variant := IdpOIDC
	if req.Variant != nil {
		variant = req.GetVariant()
	}
	if err := checkVariant(&variant); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, req.GetClientSecret())
	if err != nil {
		return nil, err
	}
	id, err := s.store.CreateIdp(ctx,
		&corev1.Idp{Name: req.GetName(), Type: IdpOIDC, AutoProvision: req.GetAutoProvision(), Tags: req.Tags},
		&corev1.IdpOidcConfig{ClientId: req.GetClientId(), AuthUrl: req.GetAuthUrl(), TokenUrl: req.GetTokenUrl(),
			IdentifierPath: req.GetIdentifierPath(), EmailPath: req.EmailPath, NamePath: req.NamePath,
			Scopes: req.GetScopes(), Variant: variant}, hash)
	if err != nil {
		return nil, err
	}
	return s.answer(ctx, id)
}

// UpdateIdp changes the fields given and answers the provider as stored.
func (s *Idps) UpdateIdp(ctx context.Context, req *corev1.UpdateIdpRequest) (*corev1.IdpAnswer, error) {
	if req.Name != nil {
		if err := checkName("name", req.GetName()); err != nil {
			return nil, err
		}
	}
	if err := checkIdpTexts(req.ClientId, req.ClientSecret, req.IdentifierPath, req.Scopes); err != nil {
		return nil, err
	}
	if err := checkIdpURLs(req.AuthUrl, req.TokenUrl); err != nil {
		return nil, err
	}
	if err := checkVariant(req.Variant); err != nil {
		return nil, err
	}
	// The id first: a missing provider costs no hash.
	if _, err := s.store.GetIdp(ctx, req.GetIdpId()); err != nil {
		return nil, err
	}
	var hash string
	if req.ClientSecret != nil {
		var err error
		if hash, err = s.hasher.Hash(ctx, req.GetClientSecret()); err != nil {
			return nil, err
		}
	}
	if err := s.store.UpdateIdp(ctx, req, hash); err != nil {
		return nil, err
	}
	return s.answer(ctx, req.GetIdpId())
}

// answer reads a provider back as writes answer it.
func (s *Idps) answer(ctx context.Context, id int64) (*corev1.IdpAnswer, error) {
	got, err := s.store.GetIdp(ctx, id)
	if err != nil {
		return nil, err
	}
	return &corev1.IdpAnswer{IdpId: id, RedirectUrl: s.redirectURL(id), Idp: got.GetIdp(), IdpOidcConfig: got.GetIdpOidcConfig()}, nil
}

func (s *Idps) redirectURL(id int64) string {
	return fmt.Sprintf("%s/auth/idp/%d/oidc/callback", strings.TrimRight(s.dashboardURL(), "/"), id)
}

// DeleteIdp deletes a provider with its policies and users.
func (s *Idps) DeleteIdp(ctx context.Context, req *corev1.IdpIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteIdp(ctx, req.GetIdpId())
}

// ListIdps lists the providers.
func (s *Idps) ListIdps(ctx context.Context, req *corev1.ListIdpsRequest) (*corev1.ListIdpsResponse, error) {
	list, total, err := s.store.ListIdps(ctx, req.GetPage())
	return &corev1.ListIdpsResponse{Idps: list, Total: total}, err
}

// GetIdp reads a provider without its client secret.
func (s *Idps) GetIdp(ctx context.Context, req *corev1.IdpIdRequest) (*corev1.GetIdpResponse, error) {
	return s.store.GetIdp(ctx, req.GetIdpId())
}

// CreateIdpOrg stores a provider's policy for an org.
func (s *Idps) CreateIdpOrg(ctx context.Context, req *corev1.IdpOrgRequest) (*corev1.IdpOrgPolicy, error) {
	return s.store.CreateIdpOrg(ctx, &corev1.IdpOrgPolicy{IdpId: req.GetIdpId(), OrgId: req.GetOrgId(),
		RoleMapping: req.RoleMapping, OrgMapping: req.OrgMapping})
}

// UpdateIdpOrg changes a provider's policy for an org.
func (s *Idps) UpdateIdpOrg(ctx context.Context, req *corev1.IdpOrgRequest) (*corev1.IdpOrgPolicy, error) {
	return s.store.UpdateIdpOrg(ctx, req)
}

// DeleteIdpOrg deletes a provider's policy for an org.
func (s *Idps) DeleteIdpOrg(ctx context.Context, req *corev1.IdpOrgIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteIdpOrg(ctx, req.GetIdpId(), req.GetOrgId())
}

// ListIdpOrgs lists a provider's policies.
func (s *Idps) ListIdpOrgs(ctx context.Context, req *corev1.ListIdpOrgsRequest) (*corev1.ListIdpOrgsResponse, error) {
	list, total, err := s.store.ListIdpOrgs(ctx, req.GetIdpId(), req.GetPage())
	return &corev1.ListIdpOrgsResponse{Policies: list, Total: total}, err
}

// checkIdpTexts refuses an empty clientId, clientSecret, identifierPath
// or scopes (nil: not given).
func checkIdpTexts(clientID, clientSecret, identifierPath, scopes *string) error {
	for i, v := range []*string{clientID, clientSecret, identifierPath, scopes} {
		if v != nil && strings.TrimSpace(*v) == "" {
			return Errorf(CodeInvalid, "Validation error: %s must not be empty",
				[]string{"clientId", "clientSecret", "identifierPath", "scopes"}[i])
		}
	}
	return nil
}

// checkIdpURLs refuses an authUrl or tokenUrl (when given) that is not an
// absolute http(s) URL.
func checkIdpURLs(authURL, tokenURL *string) error {
	for i, v := range []*string{authURL, tokenURL} {
		if v == nil {
			continue
		}
		u, err := url.Parse(*v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Errorf(CodeInvalid, "Validation error: %s must be an http or https URL", []string{"authUrl", "tokenUrl"}[i])
		}
	}
	return nil
}

func checkVariant(v *string) error {
	if v != nil && !slices.Contains(idpVariants, *v) {
		return Errorf(CodeInvalid, "Validation error: variant must be one of 'oidc', 'google', 'azure'")
	}
	return nil
}
