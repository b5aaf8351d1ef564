package core

import (
	"context"
	"fmt"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ResourceAccessStore is what resource access needs of storage. The rules
// that depend on other rows (a role of the resource's org, a member of
// it, the Admin role) are checked in the transaction that writes, so that
// no concurrent change slips between check and write; their answers are
// the errors below. A resource deleted meanwhile → ResourceNotFound.
type ResourceAccessStore interface {
	// ResourceRoles lists the roles granted the resource, by id.
	ResourceRoles(ctx context.Context, resourceID int64) ([]*corev1.ResourceRole, error)
	// ResourceUsers lists the users granted the resource, by id.
	ResourceUsers(ctx context.Context, resourceID int64) ([]*corev1.ResourceUser, error)
	// SetResourceRoles makes roleIDs (distinct) the roles granted the
	// resource besides its org's Admin role, which stays. A role not of
	// the resource's org → RolesNotFound; the Admin role →
	// AdminRoleNotAssignable.
	SetResourceRoles(ctx context.Context, resourceID int64, roleIDs []int64) error
	// AddResourceRole: a role not of the resource's org → RoleNotInOrg;
	// the Admin role → AdminRoleNotAssignable; granted already →
	// RoleAlreadyAssigned.
	AddResourceRole(ctx context.Context, resourceID, roleID int64) error
	// RemoveResourceRole: a role not of the resource's org → RoleNotInOrg;
	// the Admin role → AdminRoleNotRemovable; not granted →
	// RoleNotAssigned.
	RemoveResourceRole(ctx context.Context, resourceID, roleID int64) error
	// SetResourceUsers makes userIDs (distinct) the users granted the
	// resource. A user who is not a member of its org → UsersNotMembers.
	SetResourceUsers(ctx context.Context, resourceID int64, userIDs []string) error
	// AddResourceUser: not a member → UsersNotMembers; granted already →
	// UserAlreadyAssigned.
	AddResourceUser(ctx context.Context, resourceID int64, userID string) error
	// RemoveResourceUser: not a member → UsersNotMembers; not granted →
	// UserNotAssigned.
	RemoveResourceUser(ctx context.Context, resourceID int64, userID string) error
}

// Grantee names a kind of object that roles, users and clients are
// granted, in the answers of the rules on its grants.
type Grantee string

const (
	GrantResource     Grantee = "resource"
	GrantSiteResource Grantee = "site resource"
)

// The answers of the rules on roles, users and clients, with Pangolin's
// statuses and texts. A role, user or client of another org answers like
// a missing one.
func RolesNotFound() error { return Errorf(CodeNotFound, "One or more roles not found") }

func RoleNotInOrg() error {
	return Errorf(CodeNotFound, "Role not found or does not belong to the same organization")
}

func AdminRoleNotAssignable(g Grantee) error {
	return Errorf(CodeInvalid, "Admin role cannot be assigned to %ss", g)
}

func AdminRoleNotRemovable(g Grantee) error {
	return Errorf(CodeInvalid, "Admin role cannot be removed from %ss", g)
}

func RoleAlreadyAssigned(g Grantee) error {
	return Errorf(CodeConflict, "Role already assigned to %s", g)
}

func RoleNotAssigned(g Grantee) error { return Errorf(CodeNotFound, "Role not found in %s", g) }

// UsersNotMembers is Pangolin's SETUSERS answer (403), for one user or
// several.
func UsersNotMembers() error {
	return Errorf(CodeForbidden, "Key does not have access to one or more specified users")
}

func UserAlreadyAssigned(g Grantee) error {
	return Errorf(CodeConflict, "User already assigned to %s", g)
}

func UserNotAssigned(g Grantee) error { return Errorf(CodeNotFound, "User not found in %s", g) }

// ClientsNotInOrg is Pangolin's SETCLIENTS answer (403), for one client or
// several, missing or of another org.
func ClientsNotInOrg() error {
	return Errorf(CodeForbidden, "Key does not have access to one or more specified clients")
}

// UserClientRefused answers a grant change naming a user's device:
// private resources are granted to machine clients only.
func UserClientRefused(verb string) error {
	return Errorf(CodeInvalid, "Cannot %s clients that are associated with a user", verb)
}

func ClientAlreadyAssigned(g Grantee) error {
	return Errorf(CodeConflict, "Client already assigned to %s", g)
}

func ClientNotAssigned(g Grantee) error { return Errorf(CodeNotFound, "Client not found in %s", g) }

// ResourceAccess is the ResourceAccessService.
type ResourceAccess struct {
	corev1.UnimplementedResourceAccessServiceServer
	store ResourceAccessStore
}

// ListResourceRoles lists the roles granted a resource.
func (s *ResourceAccess) ListResourceRoles(ctx context.Context, req *corev1.ResourceIdRequest) (*corev1.ResourceRoles, error) {
	roles, err := s.store.ResourceRoles(ctx, req.GetResourceId())
	return &corev1.ResourceRoles{Roles: roles}, err
}

// ListResourceUsers lists the users granted a resource directly.
func (s *ResourceAccess) ListResourceUsers(ctx context.Context, req *corev1.ResourceIdRequest) (*corev1.ResourceUsers, error) {
	users, err := s.store.ResourceUsers(ctx, req.GetResourceId())
	return &corev1.ResourceUsers{Users: users}, err
}

// SetResourceRoles replaces the roles granted a resource (its Admin role
// stays). Repeated ids count once.
func (s *ResourceAccess) SetResourceRoles(ctx context.Context, req *corev1.SetResourceRolesRequest) (*corev1.Empty, error) {
	ids, err := positiveIDs("roleIds", req.GetRoleIds())
	if err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.SetResourceRoles(ctx, req.GetResourceId(), ids)
}

// SetResourceUsers replaces the users granted a resource. Repeated ids
// count once.
func (s *ResourceAccess) SetResourceUsers(ctx context.Context, req *corev1.SetResourceUsersRequest) (*corev1.Empty, error) {
	return &corev1.Empty{}, s.store.SetResourceUsers(ctx, req.GetResourceId(), distinct(req.GetUserIds()))
}

// AddResourceRole grants a role of the resource's org the resource.
func (s *ResourceAccess) AddResourceRole(ctx context.Context, req *corev1.ResourceRoleRequest) (*corev1.Empty, error) {
	if err := checkRoleID("roleId", req.GetRoleId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.AddResourceRole(ctx, req.GetResourceId(), req.GetRoleId())
}

// RemoveResourceRole takes the resource from a role.
func (s *ResourceAccess) RemoveResourceRole(ctx context.Context, req *corev1.ResourceRoleRequest) (*corev1.Empty, error) {
	if err := checkRoleID("roleId", req.GetRoleId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.RemoveResourceRole(ctx, req.GetResourceId(), req.GetRoleId())
}

// AddResourceUser grants a member of the resource's org the resource.
func (s *ResourceAccess) AddResourceUser(ctx context.Context, req *corev1.ResourceUserRequest) (*corev1.Empty, error) {
	return &corev1.Empty{}, s.store.AddResourceUser(ctx, req.GetResourceId(), req.GetUserId())
}

// RemoveResourceUser takes the resource from a user.
func (s *ResourceAccess) RemoveResourceUser(ctx context.Context, req *corev1.ResourceUserRequest) (*corev1.Empty, error) {
	return &corev1.Empty{}, s.store.RemoveResourceUser(ctx, req.GetResourceId(), req.GetUserId())
}

func checkRoleID(field string, id int64) error {
	if id <= 0 {
		return Errorf(CodeInvalid, "Validation error: %s must be a positive integer", field)
	}
	return nil
}

// positiveIDs checks that every id of a body list (field) is positive and
// returns them with repeats removed, in order.
func positiveIDs(field string, ids []int64) ([]int64, error) {
	for i, id := range ids {
		if err := checkRoleID(fmt.Sprintf("%s[%d]", field, i), id); err != nil {
			return nil, err
		}
	}
	return distinct(ids), nil
}

// distinct returns ids without repeats, in order of first appearance.
func distinct[T comparable](ids []T) []T {
	out := make([]T, 0, len(ids))
	seen := make(map[T]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
