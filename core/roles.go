package core

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// RoleStore is what roles need of storage. The rules that read other rows
// (a name taken in the org, the Admin role's members, the owner) are
// checked in the transaction that writes.
type RoleStore interface {
	// CreateRole stores r in its org with MemberActions and returns it as
	// stored; a missing org → NotFound, a taken name → RoleNameTaken.
	CreateRole(ctx context.Context, r *corev1.Role) (*corev1.Role, error)
	// GetRole: missing → RoleNotFound.
	GetRole(ctx context.Context, id int64) (*corev1.Role, error)
	// RoleOrg returns the org of a role; missing → RoleNotFound.
	RoleOrg(ctx context.Context, id int64) (string, error)
	ListRoles(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.RoleListItem, int32, error)
	// UpdateRole sets the fields req carries (lists as JSON text) and
	// returns the role as stored: a taken name → RoleNameTaken; a new name
	// for the Admin role → AdminRoleRenamed.
	UpdateRole(ctx context.Context, req *corev1.UpdateRoleRequest) (*corev1.Role, error)
	// DeleteRole moves the role's members to replacement (a role of the
	// same org, else RoleNotFound(replacement)) and deletes it; the Admin
	// role → AdminRoleNotDeletable.
	DeleteRole(ctx context.Context, id, replacement int64) error
	// SetUserRole makes roleID the role of a member of its org (not a
	// member → OrgUserNotFound) and returns the membership. Leaving the
	// Admin role: the owner → OwnerKeepsAdmin, its last member →
	// AdminRoleNeedsMember. Joining it in an org without an owner makes the
	// member the owner.
	SetUserRole(ctx context.Context, roleID int64, userID string) (*corev1.OrgMembership, error)
	// RemoveUserRole gives a member who has roleID its org's Member role
	// instead: not having it → UserLacksRole; the Member role itself →
	// MemberRoleNotRemovable; leaving the Admin role as for SetUserRole.
	RemoveUserRole(ctx context.Context, roleID int64, userID string) error
	// ListRoleUsers lists the members who have the role, by username.
	ListRoleUsers(ctx context.Context, roleID int64, page *corev1.Page) ([]*corev1.RoleUser, int32, error)
}

// RoleNotFound is the answer for a role id that does not exist or lies in
// an org the caller cannot reach.
func RoleNotFound(id int64) error { return Errorf(CodeNotFound, "Role with ID %d not found", id) }

func RoleNameTaken(name string) error {
	return Errorf(CodeConflict, "Role with name %s already exists in this organization", name)
}

func AdminRoleRenamed() error { return Errorf(CodeForbidden, "The Admin role cannot be renamed") }

func AdminRoleNotDeletable() error { return Errorf(CodeForbidden, "The Admin role cannot be deleted") }

// OwnerKeepsAdmin and AdminRoleNeedsMember refuse a change that would take
// the Admin role from the org's owner or from its last member; code is
// Pangolin's status for the route (403 for a role change, 400 for a
// removal from the org).
func OwnerKeepsAdmin(code Code) error {
	return Errorf(code, "The organization owner must keep the Admin role")
}

func AdminRoleNeedsMember(code Code) error {
	return Errorf(code, "The Admin role must keep at least one member")
}

func UserLacksRole(userID string, roleID int64) error {
	return Errorf(CodeNotFound, "User %s does not have role %d", userID, roleID)
}

func MemberRoleNotRemovable() error {
	return Errorf(CodeInvalid, "A member always has a role: give the user another role instead of taking the Member role")
}

// Roles is the RoleService.
type Roles struct {
	corev1.UnimplementedRoleServiceServer
	store RoleStore
}

// Reach resolves a role id (access scope OBJECT, object "role"): a role in
// an org the caller cannot reach is as missing as one that never existed.
func (s *Roles) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	return reachObject(ctx, c, id.Int(), s.store.RoleOrg, RoleNotFound)
}

// sshSudoModes are the values of sshSudoMode.
var sshSudoModes = []string{"none", "full", "commands"}

// CreateRole validates and creates a role.
func (s *Roles) CreateRole(ctx context.Context, req *corev1.CreateRoleRequest) (*corev1.Role, error) {
	if err := checkName("name", req.GetName()); err != nil {
		return nil, err
	}
	if err := checkSSH(req.SshSudoMode); err != nil {
		return nil, err
	}
	r := &corev1.Role{
		OrgId:                 req.GetOrgId(),
		Name:                  req.GetName(),
		Description:           req.Description,
		RequireDeviceApproval: req.GetRequireDeviceApproval(),
		AllowSsh:              req.GetAllowSsh(),
		SshSudoMode:           "none",
		SshSudoCommands:       jsonList(req.GetSshSudoCommands()),
		SshCreateHomeDir:      req.SshCreateHomeDir == nil || req.GetSshCreateHomeDir(),
		SshUnixGroups:         jsonList(req.GetSshUnixGroups()),
	}
	if req.SshSudoMode != nil {
		r.SshSudoMode = req.GetSshSudoMode()
	}
	return s.store.CreateRole(ctx, r)
}

// ListRoles lists the roles of an org.
func (s *Roles) ListRoles(ctx context.Context, req *corev1.ListRolesRequest) (*corev1.ListRolesResponse, error) {
	list, total, err := s.store.ListRoles(ctx, req.GetOrgId(), req.GetPage())
	return &corev1.ListRolesResponse{Roles: list, Total: total}, err
}

// GetRole reads a role.
func (s *Roles) GetRole(ctx context.Context, req *corev1.RoleIdRequest) (*corev1.Role, error) {
	return s.store.GetRole(ctx, req.GetRoleId())
}

// UpdateRole changes the fields given and answers the stored state.
func (s *Roles) UpdateRole(ctx context.Context, req *corev1.UpdateRoleRequest) (*corev1.Role, error) {
	if !setsAnyBut(req, "role_id") {
		return nil, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	if req.Name != nil {
		if err := checkName("name", req.GetName()); err != nil {
			return nil, err
		}
	}
	if err := checkSSH(req.SshSudoMode); err != nil {
		return nil, err
	}
	return s.store.UpdateRole(ctx, req)
}

// DeleteRole moves a role's members to the replacement and deletes it.
func (s *Roles) DeleteRole(ctx context.Context, req *corev1.DeleteRoleRequest) (*corev1.NoData, error) {
	replacement, err := strconv.ParseInt(req.GetReplacementRoleId(), 10, 64)
	if err != nil || replacement <= 0 {
		return nil, Errorf(CodeInvalid, "Validation error: roleId must be a positive integer")
	}
	if replacement == req.GetRoleId() {
		return nil, Errorf(CodeInvalid, "Cannot delete a role and assign the same role")
	}
	return &corev1.NoData{}, s.store.DeleteRole(ctx, req.GetRoleId(), replacement)
}

// AddUserRole makes the role the member's role in its org.
func (s *Roles) AddUserRole(ctx context.Context, req *corev1.RoleUserRequest) (*corev1.OrgMembership, error) {
	return s.store.SetUserRole(ctx, req.GetRoleId(), req.GetUserId())
}

// RemoveUserRole takes the role from a member, who gets the Member role.
func (s *Roles) RemoveUserRole(ctx context.Context, req *corev1.RoleUserRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.RemoveUserRole(ctx, req.GetRoleId(), req.GetUserId())
}

// ListRoleUsers lists the members who have the role.
func (s *Roles) ListRoleUsers(ctx context.Context, req *corev1.ListRoleUsersRequest) (*corev1.ListRoleUsersResponse, error) {
	list, total, err := s.store.ListRoleUsers(ctx, req.GetRoleId(), req.GetPage())
	return &corev1.ListRoleUsersResponse{Users: list, Total: total}, err
}

func checkSSH(mode *string) error {
	if mode != nil && !slices.Contains(sshSudoModes, *mode) {
		return Errorf(CodeInvalid, "Validation error: sshSudoMode must be one of 'none', 'full', 'commands'")
	}
	return nil
}

// jsonList is how Pangolin stores a role's string lists: JSON text.
func jsonList(items []string) string {
	if items == nil {
		items = []string{}
	}
	b, _ := json.Marshal(items)
	return string(b)
}
