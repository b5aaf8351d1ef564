package core_test

import (
	"context"
	"testing"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Role and user ids are checked and counted once; the rules that need
// other rows are the store's (contract tests).
func TestResourceAccessRules(t *testing.T) {
	f := newAccessFixture(t)
	ctx, access, id := as(core.Admin), f.svc.ResourceAccess, f.resourceID
	roles, err := access.ListResourceRoles(ctx, &corev1.ResourceIdRequest{ResourceId: id})
	if err != nil || len(roles.GetRoles()) != 1 || roles.GetRoles()[0].GetName() != core.AdminRoleName {
		t.Fatalf("roles of a new resource: %v, %v", roles, err)
	}
	var member int64
	if err := f.db.QueryRow(`SELECT role_id FROM roles WHERE org_id = 'acme' AND name = 'Member'`).Scan(&member); err != nil {
		t.Fatal(err)
	}
	_, err = access.SetResourceRoles(ctx, &corev1.SetResourceRolesRequest{ResourceId: id, RoleIds: []int64{member, 0}})
	wantCode(t, "role id 0", err, core.CodeInvalid, "Validation error: roleIds[1] must be a positive integer")
	_, err = access.AddResourceRole(ctx, &corev1.ResourceRoleRequest{ResourceId: id, RoleId: -3})
	wantCode(t, "role id -3", err, core.CodeInvalid, "Validation error: roleId must be a positive integer")
	_, err = access.RemoveResourceRole(ctx, &corev1.ResourceRoleRequest{ResourceId: id})
	wantCode(t, "role id absent", err, core.CodeInvalid, "Validation error: roleId must be a positive integer")
	if _, err := access.SetResourceRoles(ctx, &corev1.SetResourceRolesRequest{ResourceId: id, RoleIds: []int64{member, member}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AddOrgMember(context.Background(), "acme", &corev1.ResourceUser{UserId: "u1", Username: "ann", Type: "internal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := access.SetResourceUsers(ctx, &corev1.SetResourceUsersRequest{ResourceId: id, UserIds: []string{"u1", "u1"}}); err != nil {
		t.Fatal(err)
	}
	users, err := access.ListResourceUsers(ctx, &corev1.ResourceIdRequest{ResourceId: id})
	if err != nil || len(users.GetUsers()) != 1 || users.GetUsers()[0].GetUsername() != "ann" || users.GetUsers()[0].IdpName != nil {
		t.Fatalf("users: %v, %v", users, err)
	}
	_, err = access.AddResourceUser(ctx, &corev1.ResourceUserRequest{ResourceId: id, UserId: ""})
	wantCode(t, "empty user id", err, core.CodeForbidden, "Key does not have access to one or more specified users")
}
