package core

import (
	"context"
	"strings"
	"unicode/utf8"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// UserStore is what users and memberships need of storage. A user who is
// not a member of the org asked about → OrgUserNotFound.
type UserStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	ListOrgUsers(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.OrgUserListItem, int32, error)
	// GetOrgUser finds the member by id, else by e-mail address.
	GetOrgUser(ctx context.Context, orgID, userID string) (*corev1.OrgUser, error)
	// OrgUsersByUsername lists the members with that username: of the
	// identity provider idpID, or internal users when it is nil.
	OrgUsersByUsername(ctx context.Context, orgID, username string, idpID *int64) ([]*corev1.OrgUser, error)
	// CreateOrgUser makes u (reused when a user of its provider has its
	// username) a member of the org with roleID, and returns its id. The
	// role must be of the org (RoleNotInOrg), the provider must exist
	// (IdpNotFoundInBody); already a member → AlreadyMember. The member is
	// the owner when roleID is the Admin role and the org has none.
	CreateOrgUser(ctx context.Context, orgID string, u *corev1.User, roleID int64) (string, error)
	// UpdateOrgUser sets autoProvisioned and returns the membership.
	UpdateOrgUser(ctx context.Context, req *corev1.UpdateOrgUserRequest) (*corev1.OrgMembership, error)
	// RemoveOrgUser deletes the membership and the user's resource grants
	// in the org: the owner → OwnerNotRemovable, the Admin role's last
	// member → AdminRoleNeedsMember(CodeInvalid).
	RemoveOrgUser(ctx context.Context, orgID, userID string) error
	// EnabledResources lists the org's enabled resources, by id.
	EnabledResources(ctx context.Context, orgID string) ([]*corev1.UserResource, error)
	// GetUser: missing → UserNotFound.
	GetUser(ctx context.Context, id string) (*corev1.User, error)
	// SetUserTwoFactor records whether the user is asked to set up 2FA;
	// false also turns it off and forgets its secret. Not internal →
	// TwoFactorInternalOnly.
	SetUserTwoFactor(ctx context.Context, id string, requested bool) error
}

// User types.
const (
	UserInternal = "internal"
	UserOIDC     = "oidc"
)

// userIDLength is the length of ids of users created through the API.
const userIDLength = 15

func UserNotFound(id string) error { return Errorf(CodeNotFound, "User with ID %s not found", id) }

// OrgUserNotFound is the answer for a user who is not a member of the org
// (missing, or a member of other orgs only).
func OrgUserNotFound(id string) error {
	return Errorf(CodeNotFound, "User with ID %s not found in this organization", id)
}

func AlreadyMember() error {
	return Errorf(CodeInvalid, "User is already a member of this organization")
}

func OwnerNotRemovable() error {
	return Errorf(CodeInvalid, "The organization owner cannot be removed")
}

func TwoFactorInternalOnly() error {
	return Errorf(CodeInvalid, "Two-factor authentication can only be set for internal users")
}

// Users is the UserService.
type Users struct {
	corev1.UnimplementedUserServiceServer
	store UserStore
}

// ListOrgUsers lists the members of an org, each with its role in both
// the 1.8 and the newer form.
func (s *Users) ListOrgUsers(ctx context.Context, req *corev1.ListOrgUsersRequest) (*corev1.ListOrgUsersResponse, error) {
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	list, total, err := s.store.ListOrgUsers(ctx, req.GetOrgId(), req.GetPage())
	for _, u := range list {
		u.Roles = []*corev1.UserRoleName{{RoleId: u.GetRoleId(), RoleName: u.GetRoleName()}}
	}
	return &corev1.ListOrgUsersResponse{Users: list, Total: total}, err
}

// GetOrgUser reads a member by id or e-mail address.
func (s *Users) GetOrgUser(ctx context.Context, req *corev1.OrgUserRequest) (*corev1.OrgUser, error) {
	u, err := s.store.GetOrgUser(ctx, req.GetOrgId(), req.GetUserId())
	return withRoles(u), err
}

// GetOrgUserByUsername reads a member by username (and provider).
func (s *Users) GetOrgUserByUsername(ctx context.Context, req *corev1.OrgUserByUsernameRequest) (*corev1.OrgUser, error) {
	if req.IdpId != nil && req.GetIdpId() <= 0 {
		return nil, Errorf(CodeInvalid, "Validation error: idpId must be a positive integer")
	}
	list, err := s.store.OrgUsersByUsername(ctx, req.GetOrgId(), req.GetUsername(), req.IdpId)
	switch {
	case err != nil:
		return nil, err
	case len(list) == 0:
		return nil, Errorf(CodeNotFound, "User with username '%s' not found in organization", req.GetUsername())
	case len(list) > 1:
		return nil, Errorf(CodeInvalid, "More than one user with username '%s' in organization: pass idpId", req.GetUsername())
	}
	return withRoles(list[0]), nil
}

// CreateOrgUser adds an OIDC user to an org and answers the member as
// stored.
func (s *Users) CreateOrgUser(ctx context.Context, req *corev1.CreateOrgUserRequest) (*corev1.OrgUser, error) {
	switch req.GetType() {
	case UserOIDC:
	case UserInternal:
		return nil, Errorf(CodeInvalid, "Internal users cannot be created through the API: invite them (POST /org/{orgId}/create-invite)")
	default:
		return nil, Errorf(CodeInvalid, "Validation error: type must be one of 'internal', 'oidc'")
	}
	if req.IdpId == nil {
		return nil, Errorf(CodeInvalid, "Validation error: idpId is required for oidc users")
	}
	if req.GetIdpId() <= 0 {
		return nil, Errorf(CodeInvalid, "Validation error: idpId must be a positive integer")
	}
	username := strings.ToLower(req.GetUsername())
	if err := checkName("username", username); err != nil {
		return nil, err
	}
	roleID, err := oneRole(req.RoleId, req.GetRoleIds())
	if err != nil {
		return nil, err
	}
	u := &corev1.User{
		UserId:        RandomID(userIDLength),
		Username:      username,
		Name:          req.Name,
		Type:          UserOIDC,
		IdpId:         req.IdpId,
		EmailVerified: true,
	}
	if req.Email != nil {
		email, err := checkEmail("email", req.GetEmail())
		if err != nil {
			return nil, err
		}
		u.Email = &email
	}
	if req.Name != nil && utf8.RuneCountInString(req.GetName()) > 255 {
		return nil, Errorf(CodeInvalid, "Validation error: name must be at most 255 characters")
	}
	id, err := s.store.CreateOrgUser(ctx, req.GetOrgId(), u, roleID)
	if err != nil {
		return nil, err
	}
	stored, err := s.store.GetOrgUser(ctx, req.GetOrgId(), id)
	return withRoles(stored), err
}

// UpdateOrgUser changes a membership and answers it as stored.
func (s *Users) UpdateOrgUser(ctx context.Context, req *corev1.UpdateOrgUserRequest) (*corev1.OrgMembership, error) {
	if req.AutoProvisioned == nil {
		return nil, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	return s.store.UpdateOrgUser(ctx, req)
}

// RemoveOrgUser takes a member out of an org.
func (s *Users) RemoveOrgUser(ctx context.Context, req *corev1.OrgUserRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.RemoveOrgUser(ctx, req.GetOrgId(), req.GetUserId())
}

// ListUserResources lists the enabled resources of the org: a key reaches
// all of them.
func (s *Users) ListUserResources(ctx context.Context, req *corev1.OrgUserResourcesRequest) (*corev1.UserResources, error) {
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	list, err := s.store.EnabledResources(ctx, req.GetOrgId())
	return &corev1.UserResources{Resources: list}, err
}

// GetUser reads a user.
func (s *Users) GetUser(ctx context.Context, req *corev1.UserIdRequest) (*corev1.User, error) {
	return s.store.GetUser(ctx, req.GetUserId())
}

// SetUserTwoFactor asks a user to set up two-factor authentication, or
// stops asking and turns it off.
func (s *Users) SetUserTwoFactor(ctx context.Context, req *corev1.SetUserTwoFactorRequest) (*corev1.UserTwoFactor, error) {
	if err := s.store.SetUserTwoFactor(ctx, req.GetUserId(), req.GetTwoFactorSetupRequested()); err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	return &corev1.UserTwoFactor{UserId: u.GetUserId(), TwoFactorRequested: u.GetTwoFactorSetupRequested()}, nil
}

// withRoles fills the newer role fields of a member from its one role.
func withRoles(u *corev1.OrgUser) *corev1.OrgUser {
	if u != nil {
		u.RoleIds = []int64{u.GetRoleId()}
		u.Roles = []*corev1.OrgUserRole{{RoleId: u.GetRoleId(), Name: u.GetRoleName(), IsAdmin: u.GetIsAdmin()}}
	}
	return u
}

// oneRole reads the role of a new member or invitation: roleId, or
// roleIds naming one role (a member has one role here).
func oneRole(roleID *int64, roleIDs []int64) (int64, error) {
	ids := roleIDs
	if roleID != nil {
		ids = append([]int64{*roleID}, ids...)
	}
	if len(ids) == 0 {
		return 0, Errorf(CodeInvalid, "Validation error: roleId or roleIds is required")
	}
	for _, id := range ids {
		if id <= 0 {
			return 0, Errorf(CodeInvalid, "Validation error: roleIds must hold positive integers")
		}
		if id != ids[0] {
			return 0, Errorf(CodeInvalid, "Validation error: roleIds must name one role: a member has one role in its organization")
		}
	}
	return ids[0], nil
}

// checkEmail validates an e-mail address as Pangolin does (zod's rule,
// the whitelist's without its wildcard) and returns it lower-cased.
func checkEmail(field, v string) (string, error) {
	if len(v) > maxEmailLength || !emailPattern.MatchString(v) || strings.HasPrefix(v, ".") || strings.Contains(v, "..") {
		return "", Errorf(CodeInvalid, "Validation error: Invalid email at %q", field)
	}
	return strings.ToLower(v), nil
}
