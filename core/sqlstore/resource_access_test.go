package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// roleID returns the id of a role of the org by name.
func roleID(t *testing.T, s *Store, orgID, name string) int64 {
	t.Helper()
	var id int64
	must(t, s.reader.QueryRow(`SELECT role_id FROM roles WHERE org_id = $1 AND name = $2`, orgID, name).Scan(&id))
	return id
}

func mkRole(t *testing.T, s *Store, orgID, name string) int64 {
	t.Helper()
	var id int64
	must(t, s.write(context.Background(), func(tx *tx) error {
		return tx.QueryRow(`INSERT INTO roles (org_id, name, description) VALUES ($1, $2, $3) RETURNING role_id`,
			orgID, name, name+" role").Scan(&id)
	}))
	return id
}

func roleNames(t *testing.T, s *Store, resourceID int64) string {
	t.Helper()
	list, err := s.ResourceRoles(context.Background(), resourceID)
	must(t, err)
	var out []string
	for _, r := range list {
		out = append(out, r.GetName())
	}
	return strings.Join(out, ",")
}

func testResourceRoles(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	other := mkResource(t, s, httpResource("acme", "other", "other.example.com"))
	id := r.GetResourceId()
	admin, member, ops := roleID(t, s, "acme", core.AdminRoleName), roleID(t, s, "acme", core.MemberRoleName), mkRole(t, s, "acme", "Ops")
	foreign := roleID(t, s, "globex", core.MemberRoleName)

	list, err := s.ResourceRoles(ctx, id)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("new resource roles: %v", list)
	}
	wantMsg(t, "Admin", list[0], &corev1.ResourceRole{RoleId: admin, Name: core.AdminRoleName,
		Description: proto.String(core.AdminRoleDescription), IsAdmin: proto.Bool(true)})

	must(t, s.SetResourceRoles(ctx, other.GetResourceId(), []int64{member}))
	must(t, s.SetResourceRoles(ctx, id, []int64{ops, member}))
	if got := roleNames(t, s, id); got != "Admin,Member,Ops" {
		t.Fatalf("after set: %q", got)
	}
	list, _ = s.ResourceRoles(ctx, id)
	wantMsg(t, "Member", list[1], &corev1.ResourceRole{RoleId: member, Name: core.MemberRoleName,
		Description: proto.String(core.MemberRoleDescription)})
	must(t, s.SetResourceRoles(ctx, id, []int64{ops}))
	if got := roleNames(t, s, id); got != "Admin,Ops" {
		t.Fatalf("after replace: %q", got)
	}
	// Refused sets change nothing.
	wantErr(t, s.SetResourceRoles(ctx, id, []int64{member, admin}), core.CodeInvalid, "Admin role cannot be assigned to resources")
	wantErr(t, s.SetResourceRoles(ctx, id, []int64{member, foreign}), core.CodeNotFound, "One or more roles not found")
	wantErr(t, s.SetResourceRoles(ctx, id, []int64{999999}), core.CodeNotFound, "One or more roles not found")
	if got := roleNames(t, s, id); got != "Admin,Ops" {
		t.Fatalf("after refused sets: %q", got)
	}
	must(t, s.SetResourceRoles(ctx, id, nil))
	if got := roleNames(t, s, id); got != "Admin" {
		t.Fatalf("after clearing: %q", got)
	}

	must(t, s.AddResourceRole(ctx, id, member))
	wantErr(t, s.AddResourceRole(ctx, id, member), core.CodeConflict, "Role already assigned to resource")
	wantErr(t, s.AddResourceRole(ctx, id, admin), core.CodeInvalid, "Admin role cannot be assigned to resources")
	wantErr(t, s.AddResourceRole(ctx, id, foreign), core.CodeNotFound, "Role not found or does not belong to the same organization")
	wantErr(t, s.AddResourceRole(ctx, id, 999999), core.CodeNotFound, "Role not found or does not belong to the same organization")
	wantErr(t, s.RemoveResourceRole(ctx, id, admin), core.CodeInvalid, "Admin role cannot be removed from resources")
	wantErr(t, s.RemoveResourceRole(ctx, id, ops), core.CodeNotFound, "Role not found in resource")
	wantErr(t, s.RemoveResourceRole(ctx, id, foreign), core.CodeNotFound, "Role not found or does not belong to the same organization")
	must(t, s.RemoveResourceRole(ctx, id, member))
	if got := roleNames(t, s, id); got != "Admin" {
		t.Fatalf("after add and remove: %q", got)
	}
	if got := roleNames(t, s, other.GetResourceId()); got != "Admin,Member" {
		t.Fatalf("another resource's roles: %q", got)
	}
	for _, err := range []error{
		s.SetResourceRoles(ctx, 999999, nil), s.AddResourceRole(ctx, 999999, member), s.RemoveResourceRole(ctx, 999999, member),
	} {
		wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")
	}
	// A role's deletion takes its grants with it.
	must(t, s.AddResourceRole(ctx, id, ops))
	exec(t, s, `DELETE FROM roles WHERE role_id = $1`, ops)
	if got := roleNames(t, s, id); got != "Admin" {
		t.Fatalf("after deleting a role: %q", got)
	}
}

func member(id, username string) *corev1.ResourceUser {
	return &corev1.ResourceUser{UserId: id, Username: username, Type: "internal", Email: proto.String(username + "@example.com")}
}

func usernames(t *testing.T, s *Store, resourceID int64) string {
	t.Helper()
	list, err := s.ResourceUsers(context.Background(), resourceID)
	must(t, err)
	var out []string
	for _, u := range list {
		out = append(out, u.GetUsername())
	}
	return strings.Join(out, ",")
}

func testResourceUsers(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	id := r.GetResourceId()
	bob := member("u2", "bob")
	bob.Type, bob.IdpId, bob.Email = "oidc", proto.Int64(7), nil
	memberRole, err := s.AddOrgMember(ctx, "acme", member("u1", "ann"))
	must(t, err)
	if memberRole != roleID(t, s, "acme", core.MemberRoleName) {
		t.Fatalf("AddOrgMember answered role %d", memberRole)
	}
	_, err = s.AddOrgMember(ctx, "acme", bob)
	must(t, err)
	_, err = s.AddOrgMember(ctx, "globex", member("u3", "cat"))
	must(t, err)
	_, err = s.AddOrgMember(ctx, "globex", member("u1", "ann")) // ann is in both
	must(t, err)
	_, err = s.AddOrgMember(ctx, "acme", member("u1", "ann"))
	wantErr(t, err, core.CodeConflict, "User u1 is already a member of organization acme")
	_, err = s.AddOrgMember(ctx, "nope", member("u9", "dan"))
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")

	if got := usernames(t, s, id); got != "" {
		t.Fatalf("new resource users %q", got)
	}
	must(t, s.SetResourceUsers(ctx, id, []string{"u2", "u1"}))
	list, err := s.ResourceUsers(ctx, id)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("users %v", list)
	}
	wantMsg(t, "ann", list[0], member("u1", "ann"))
	wantMsg(t, "bob", list[1], bob)
	wantErr(t, s.SetResourceUsers(ctx, id, []string{"u1", "u3"}), core.CodeForbidden, "Key does not have access to one or more specified users")
	wantErr(t, s.SetResourceUsers(ctx, id, []string{"nobody"}), core.CodeForbidden, "Key does not have access to one or more specified users")
	if got := usernames(t, s, id); got != "ann,bob" {
		t.Fatalf("after refused sets: %q", got)
	}
	must(t, s.SetResourceUsers(ctx, id, nil))
	if got := usernames(t, s, id); got != "" {
		t.Fatalf("after clearing: %q", got)
	}

	must(t, s.AddResourceUser(ctx, id, "u1"))
	wantErr(t, s.AddResourceUser(ctx, id, "u1"), core.CodeConflict, "User already assigned to resource")
	wantErr(t, s.AddResourceUser(ctx, id, "u3"), core.CodeForbidden, "Key does not have access to one or more specified users")
	wantErr(t, s.RemoveResourceUser(ctx, id, "u2"), core.CodeNotFound, "User not found in resource")
	wantErr(t, s.RemoveResourceUser(ctx, id, "u3"), core.CodeForbidden, "Key does not have access to one or more specified users")
	must(t, s.RemoveResourceUser(ctx, id, "u1"))
	if got := usernames(t, s, id); got != "" {
		t.Fatalf("after add and remove: %q", got)
	}
	for _, err := range []error{
		s.SetResourceUsers(ctx, 999999, nil), s.AddResourceUser(ctx, 999999, "u1"), s.RemoveResourceUser(ctx, 999999, "u1"),
	} {
		wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")
	}

	// More users than one membership query checks at once.
	var ids []string
	must(t, s.write(ctx, func(tx *tx) error {
		for i := range 600 {
			uid := fmt.Sprintf("bulk%03d", i)
			ids = append(ids, uid)
			if _, err := insert(ctx, tx, users, member(uid, uid), column{"date_created", now()}); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO user_orgs (user_id, org_id, role_id) VALUES ($1, 'acme', $2)`,
				uid, roleID(t, s, "acme", core.MemberRoleName)); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, s.SetResourceUsers(ctx, id, ids))
	if n := rowCount(t, s, `SELECT COUNT(*) FROM user_resources WHERE resource_id = $1`, id); n != 600 {
		t.Fatalf("%d users granted, want 600", n)
	}
	wantErr(t, s.SetResourceUsers(ctx, id, append(ids, "u3")), core.CodeForbidden, "Key does not have access to one or more specified users")
}
