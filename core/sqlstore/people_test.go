package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// mkIdp stores an OIDC provider whose client secret "hashes" to hash.
func mkIdp(t *testing.T, s *Store, name string) int64 {
	t.Helper()
	id, err := s.CreateIdp(context.Background(), &corev1.Idp{Name: name, Type: core.IdpOIDC},
		&corev1.IdpOidcConfig{ClientId: name + "-client", AuthUrl: "https://sso.test/a", TokenUrl: "https://sso.test/t",
			IdentifierPath: "sub", Scopes: "openid", Variant: "oidc"}, "$argon2id$secret-of-"+name)
	must(t, err)
	return id
}

// mkOIDCUser makes an OIDC user of idp a member of the org with the role
// and returns its id.
func mkOIDCUser(t *testing.T, s *Store, orgID, username string, idp, roleID int64) string {
	t.Helper()
	id, err := s.CreateOrgUser(context.Background(), orgID, &corev1.User{UserId: "id-" + username, Username: username,
		Type: core.UserOIDC, IdpId: &idp, Email: proto.String(username + "@example.com"), EmailVerified: true}, roleID)
	must(t, err)
	return id
}

func testRoles(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	admin, memberRole := roleID(t, s, "acme", core.AdminRoleName), roleID(t, s, "acme", core.MemberRoleName)

	ops, err := s.CreateRole(ctx, &corev1.Role{OrgId: "acme", Name: "Ops", Description: proto.String("operators"),
		SshSudoMode: "none", SshSudoCommands: `["ls"]`, SshUnixGroups: "[]", SshCreateHomeDir: true, AllowSsh: true})
	must(t, err)
	wantMsg(t, "created role", ops, &corev1.Role{RoleId: ops.GetRoleId(), OrgId: "acme", Name: "Ops", Description: proto.String("operators"),
		SshSudoMode: "none", SshSudoCommands: `["ls"]`, SshUnixGroups: "[]", SshCreateHomeDir: true, AllowSsh: true})
	if n := rowCount(t, s, `SELECT COUNT(*) FROM role_actions WHERE role_id = $1`, ops.GetRoleId()); n != len(core.MemberActions) {
		t.Fatalf("new role holds %d actions, want the %d memberRole actions", n, len(core.MemberActions))
	}
	_, err = s.CreateRole(ctx, &corev1.Role{OrgId: "acme", Name: "Ops", SshSudoMode: "none", SshSudoCommands: "[]", SshUnixGroups: "[]"})
	wantErr(t, err, core.CodeConflict, "Role with name Ops already exists in this organization")
	_, err = s.CreateRole(ctx, &corev1.Role{OrgId: "nope", Name: "Ops", SshSudoMode: "none", SshSudoCommands: "[]", SshUnixGroups: "[]"})
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	// The same name in another org is another role.
	_, err = s.CreateRole(ctx, &corev1.Role{OrgId: "globex", Name: "Ops", SshSudoMode: "none", SshSudoCommands: "[]", SshUnixGroups: "[]"})
	must(t, err)

	list, total, err := s.ListRoles(ctx, "acme", page(2, 1))
	must(t, err)
	if total != 3 || len(list) != 2 || list[0].GetName() != core.MemberRoleName || list[1].GetName() != "Ops" ||
		list[0].GetOrgName() != "Org acme" || !list[1].GetAllowSsh() || list[0].IsAdmin != nil {
		t.Fatalf("list roles: %d %v", total, list)
	}
	_, _, err = s.ListRoles(ctx, "nope", nil)
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	if org, err := s.RoleOrg(ctx, ops.GetRoleId()); err != nil || org != "acme" {
		t.Fatalf("role org: %q %v", org, err)
	}
	_, err = s.RoleOrg(ctx, 999999)
	wantErr(t, err, core.CodeNotFound, "Role with ID 999999 not found")

	// Updates: partial, unique names, the Admin role keeps its name.
	got, err := s.UpdateRole(ctx, &corev1.UpdateRoleRequest{RoleId: ops.GetRoleId(), Name: proto.String("Operators"), SshUnixGroups: []string{"wheel"}})
	must(t, err)
	if got.GetName() != "Operators" || got.GetDescription() != "operators" || got.GetSshUnixGroups() != `["wheel"]` || got.GetSshSudoCommands() != `["ls"]` {
		t.Fatalf("updated role: %v", got)
	}
	_, err = s.UpdateRole(ctx, &corev1.UpdateRoleRequest{RoleId: ops.GetRoleId(), Name: proto.String(core.MemberRoleName)})
	wantErr(t, err, core.CodeConflict, "Role with name Member already exists in this organization")
	_, err = s.UpdateRole(ctx, &corev1.UpdateRoleRequest{RoleId: admin, Name: proto.String("Root")})
	wantErr(t, err, core.CodeForbidden, "The Admin role cannot be renamed")
	got, err = s.UpdateRole(ctx, &corev1.UpdateRoleRequest{RoleId: admin, Name: proto.String(core.AdminRoleName), Description: proto.String("all")})
	must(t, err)
	if got.GetName() != core.AdminRoleName || got.GetDescription() != "all" || !got.GetIsAdmin() {
		t.Fatalf("admin role after update: %v", got)
	}
	_, err = s.UpdateRole(ctx, &corev1.UpdateRoleRequest{RoleId: 999999, Description: proto.String("x")})
	wantErr(t, err, core.CodeNotFound, "Role with ID 999999 not found")

	// Deletion moves the members to the replacement, of the same org.
	idp := mkIdp(t, s, "sso")
	ann := mkOIDCUser(t, s, "acme", "ann", idp, ops.GetRoleId())
	wantErr(t, s.DeleteRole(ctx, admin, memberRole), core.CodeForbidden, "The Admin role cannot be deleted")
	wantErr(t, s.DeleteRole(ctx, ops.GetRoleId(), roleID(t, s, "globex", core.MemberRoleName)), core.CodeNotFound,
		"Role with ID "+itoa(roleID(t, s, "globex", core.MemberRoleName))+" not found")
	wantErr(t, s.DeleteRole(ctx, 999999, memberRole), core.CodeNotFound, "Role with ID 999999 not found")
	must(t, s.DeleteRole(ctx, ops.GetRoleId(), memberRole))
	m, err := getMembership(ctx, s.reader, "acme", ann)
	must(t, err)
	if m.GetRoleId() != memberRole {
		t.Fatalf("memberRole moved to %d, want %d", m.GetRoleId(), memberRole)
	}
	_, err = s.GetRole(ctx, ops.GetRoleId())
	wantErr(t, err, core.CodeNotFound, "Role with ID "+itoa(ops.GetRoleId())+" not found")
}

// The Admin role and the owner: the first Admin member owns the org, the
// owner keeps the Admin role, the Admin role keeps a member.
func testMemberRoles(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	admin, memberRole := roleID(t, s, "acme", core.AdminRoleName), roleID(t, s, "acme", core.MemberRoleName)
	idp := mkIdp(t, s, "sso")
	ann := mkOIDCUser(t, s, "acme", "ann", idp, memberRole)
	bob := mkOIDCUser(t, s, "acme", "bob", idp, admin)
	cat := mkOIDCUser(t, s, "globex", "cat", idp, roleID(t, s, "globex", core.MemberRoleName))

	owner := func(user string) bool {
		m, err := getMembership(ctx, s.reader, "acme", user)
		must(t, err)
		return m.GetIsOwner()
	}
	if owner(ann) || !owner(bob) {
		t.Fatal("the first memberRole with the Admin role should own the org, and only it")
	}
	// Ann joins the Admin role: bob stays the one owner.
	got, err := s.SetUserRole(ctx, admin, ann)
	must(t, err)
	wantMsg(t, "membership", got, &corev1.OrgMembership{UserId: ann, OrgId: "acme", RoleId: admin})
	_, err = s.SetUserRole(ctx, memberRole, bob)
	wantErr(t, err, core.CodeForbidden, "The organization owner must keep the Admin role")
	wantErr(t, s.RemoveUserRole(ctx, admin, bob), core.CodeForbidden, "The organization owner must keep the Admin role")
	// Ann may leave the Admin role: bob stays in it.
	must(t, s.RemoveUserRole(ctx, admin, ann))
	if m, _ := getMembership(ctx, s.reader, "acme", ann); m.GetRoleId() != memberRole {
		t.Fatalf("ann after remove: %v", m)
	}
	wantErr(t, s.RemoveUserRole(ctx, admin, ann), core.CodeNotFound, "User "+ann+" does not have role "+itoa(admin))
	wantErr(t, s.RemoveUserRole(ctx, memberRole, ann), core.CodeInvalid,
		"A member always has a role: give the user another role instead of taking the Member role")
	// Users of other orgs are as missing as unknown ones.
	_, err = s.SetUserRole(ctx, admin, cat)
	wantErr(t, err, core.CodeNotFound, "User with ID "+cat+" not found in this organization")
	_, err = s.SetUserRole(ctx, admin, "nobody")
	wantErr(t, err, core.CodeNotFound, "User with ID nobody not found in this organization")

	users, total, err := s.ListRoleUsers(ctx, admin, nil)
	must(t, err)
	if total != 1 || len(users) != 1 {
		t.Fatalf("admin role users: %d %v", total, users)
	}
	wantMsg(t, "role user", users[0], &corev1.RoleUser{UserId: bob, Email: proto.String("bob@example.com"), Username: "bob",
		Type: core.UserOIDC, IdpId: &idp, IdpName: proto.String("sso"), IsOwner: true})

	// An org whose Admin role has members but no owner (the owner row
	// cleared): its last memberRole cannot leave it or the org.
	exec(t, s, `UPDATE user_orgs SET is_owner = $1 WHERE user_id = $2`, false, bob)
	_, err = s.SetUserRole(ctx, memberRole, bob)
	wantErr(t, err, core.CodeForbidden, "The Admin role must keep at least one member")
	wantErr(t, s.RemoveOrgUser(ctx, "acme", bob), core.CodeInvalid, "The Admin role must keep at least one member")
	exec(t, s, `UPDATE user_orgs SET is_owner = $1 WHERE user_id = $2`, true, bob)
	wantErr(t, s.RemoveOrgUser(ctx, "acme", bob), core.CodeInvalid, "The organization owner cannot be removed")
	// An owner is one per org.
	if rowCount(t, s, `SELECT COUNT(*) FROM user_orgs WHERE org_id = 'acme' AND is_owner`) != 1 {
		t.Fatal("acme should have one owner")
	}
}

func testOrgUsers(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	admin, memberRole := roleID(t, s, "acme", core.AdminRoleName), roleID(t, s, "acme", core.MemberRoleName)
	idp := mkIdp(t, s, "sso")
	other := mkIdp(t, s, "other")
	owner := mkOIDCUser(t, s, "acme", "owner", idp, admin)
	_, err := s.AddOrgMember(ctx, "acme", member("u1", "ann"))
	must(t, err)
	ann := mkOIDCUser(t, s, "acme", "ann", idp, memberRole) // the same username, of a provider
	// The same provider user joining another org is reused.
	if id := mkOIDCUser(t, s, "globex", "ann", idp, roleID(t, s, "globex", core.MemberRoleName)); id != ann {
		t.Fatalf("provider user not reused: %s, %s", id, ann)
	}
	_, err = s.CreateOrgUser(ctx, "acme", &corev1.User{UserId: "x", Username: "ann", Type: core.UserOIDC, IdpId: &idp}, memberRole)
	wantErr(t, err, core.CodeInvalid, "User is already a member of this organization")
	_, err = s.CreateOrgUser(ctx, "acme", &corev1.User{UserId: "x", Username: "dan", Type: core.UserOIDC, IdpId: proto.Int64(999999)}, memberRole)
	wantErr(t, err, core.CodeInvalid, "Identity provider with ID 999999 not found")
	_, err = s.CreateOrgUser(ctx, "acme", &corev1.User{UserId: "x", Username: "dan", Type: core.UserOIDC, IdpId: &idp},
		roleID(t, s, "globex", core.MemberRoleName))
	wantErr(t, err, core.CodeNotFound, "Role not found or does not belong to the same organization")
	_, err = s.CreateOrgUser(ctx, "nope", &corev1.User{UserId: "x", Username: "dan", Type: core.UserOIDC, IdpId: &idp}, memberRole)
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM users WHERE username = 'dan'`); n != 0 {
		t.Fatalf("refused creates left %d users", n)
	}

	list, total, err := s.ListOrgUsers(ctx, "acme", nil)
	must(t, err)
	if total != 3 || len(list) != 3 || list[0].GetUsername() != "ann" || list[2].GetUsername() != "owner" {
		t.Fatalf("org users: %d %v", total, list)
	}
	o := list[2]
	if o.GetId() != owner || o.GetRoleName() != core.AdminRoleName || !o.GetIsOwner() || o.GetIdpName() != "sso" ||
		o.GetIdpType() != core.IdpOIDC || o.GetIdpVariant() != "oidc" || o.GetOrgId() != "acme" || o.GetDateCreated() == "" {
		t.Fatalf("owner in list: %v", o)
	}
	got, err := s.GetOrgUser(ctx, "acme", owner)
	must(t, err)
	if got.GetUserId() != owner || !got.GetIsAdmin() || !got.GetIsOwner() || got.GetRoleId() != admin || got.GetIdpAutoProvision() {
		t.Fatalf("get org user: %v", got)
	}
	// By e-mail address (any case), never across orgs.
	if got, err := s.GetOrgUser(ctx, "acme", "OWNER@example.com"); err != nil || got.GetUserId() != owner {
		t.Fatalf("by email: %v %v", got, err)
	}
	_, err = s.GetOrgUser(ctx, "globex", owner)
	wantErr(t, err, core.CodeNotFound, "User with ID "+owner+" not found in this organization")

	internalAnn, err := s.OrgUsersByUsername(ctx, "acme", "ann", nil)
	must(t, err)
	providerAnn, err := s.OrgUsersByUsername(ctx, "acme", "ann", &idp)
	must(t, err)
	none, err := s.OrgUsersByUsername(ctx, "acme", "ann", &other)
	must(t, err)
	if len(internalAnn) != 1 || internalAnn[0].GetUserId() != "u1" || len(providerAnn) != 1 || providerAnn[0].GetUserId() != ann || len(none) != 0 {
		t.Fatalf("by username: %v / %v / %v", internalAnn, providerAnn, none)
	}

	m, err := s.UpdateOrgUser(ctx, &corev1.UpdateOrgUserRequest{OrgId: "acme", UserId: ann, AutoProvisioned: proto.Bool(true)})
	must(t, err)
	wantMsg(t, "updated membership", m, &corev1.OrgMembership{UserId: ann, OrgId: "acme", RoleId: memberRole, AutoProvisioned: true})
	_, err = s.UpdateOrgUser(ctx, &corev1.UpdateOrgUserRequest{OrgId: "globex", UserId: owner, AutoProvisioned: proto.Bool(true)})
	wantErr(t, err, core.CodeNotFound, "User with ID "+owner+" not found in this organization")

	// Removal takes the memberRole's grants to the org's resources, not to
	// another org's.
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	g := mkResource(t, s, httpResource("globex", "web", "web.globex.com"))
	must(t, s.AddResourceUser(ctx, r.GetResourceId(), ann))
	must(t, s.AddResourceUser(ctx, g.GetResourceId(), ann))
	acmeSite := mkSite(t, s, "acme", "lan", nil)
	globexSite := mkSite(t, s, "globex", "lan", nil)
	pr := mkSiteResource(t, s, hostResource("acme", "nas", acmeSite.GetSiteId()), core.SiteResourceGrants{})
	pg := mkSiteResource(t, s, hostResource("globex", "nas", globexSite.GetSiteId()), core.SiteResourceGrants{})
	must(t, s.AddSiteResourceUser(ctx, pr.GetSiteResourceId(), ann))
	must(t, s.AddSiteResourceUser(ctx, pg.GetSiteResourceId(), ann))
	must(t, s.RemoveOrgUser(ctx, "acme", ann))
	wantErr(t, s.RemoveOrgUser(ctx, "acme", ann), core.CodeNotFound, "User with ID "+ann+" not found in this organization")
	if rowCount(t, s, `SELECT COUNT(*) FROM user_resources WHERE user_id = $1`, ann) != 1 ||
		rowCount(t, s, `SELECT COUNT(*) FROM user_site_resources WHERE user_id = $1`, ann) != 1 ||
		rowCount(t, s, `SELECT COUNT(*) FROM user_orgs WHERE user_id = $1`, ann) != 1 {
		t.Fatal("removal should take acme's grant and membership only")
	}
	wantErr(t, s.RemoveOrgUser(ctx, "acme", owner), core.CodeInvalid, "The organization owner cannot be removed")

	// Users, two-factor.
	u, err := s.GetUser(ctx, "u1")
	must(t, err)
	if u.GetUsername() != "ann" || u.GetType() != core.UserInternal || u.GetTwoFactorSetupRequested() {
		t.Fatalf("get user: %v", u)
	}
	_, err = s.GetUser(ctx, "nobody")
	wantErr(t, err, core.CodeNotFound, "User with ID nobody not found")
	exec(t, s, `UPDATE users SET two_factor_enabled = $1, two_factor_secret = 'totp' WHERE user_id = 'u1'`, true)
	must(t, s.SetUserTwoFactor(ctx, "u1", true))
	if u, _ := s.GetUser(ctx, "u1"); !u.GetTwoFactorSetupRequested() || !u.GetTwoFactorEnabled() {
		t.Fatalf("after true: %v", u)
	}
	must(t, s.SetUserTwoFactor(ctx, "u1", false))
	if u, _ := s.GetUser(ctx, "u1"); u.GetTwoFactorSetupRequested() || u.GetTwoFactorEnabled() ||
		rowCount(t, s, `SELECT COUNT(*) FROM users WHERE user_id = 'u1' AND two_factor_secret IS NULL`) != 1 {
		t.Fatalf("after false: %v", u)
	}
	wantErr(t, s.SetUserTwoFactor(ctx, owner, true), core.CodeInvalid, "Two-factor authentication can only be set for internal users")
	wantErr(t, s.SetUserTwoFactor(ctx, "nobody", true), core.CodeNotFound, "User with ID nobody not found")

	// The org's enabled resources.
	must(t, s.SetResourcePassword(ctx, r.GetResourceId(), proto.String("$argon2id$pw")))
	res, err := s.EnabledResources(ctx, "acme")
	must(t, err)
	wantMsg(t, "user resources", &corev1.UserResources{Resources: res}, &corev1.UserResources{Resources: []*corev1.UserResource{{
		ResourceId: r.GetResourceId(), Name: r.GetName(), Domain: proto.String("https://web.example.com"), Enabled: true,
		Protected: true, Sso: true, Password: true,
	}}})
}

func testInvitations(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	mkOrg(t, s, "globex")
	memberRole := roleID(t, s, "acme", core.MemberRoleName)
	const hour = 3600_000
	inv := func(id, email string, regenerate bool, now int64) *core.PendingInvite {
		return &core.PendingInvite{ID: id, OrgID: "acme", Email: email, RoleID: memberRole, ExpiresAt: now + hour, Now: now,
			TokenHash: "$argon2id$token-of-" + id, Regenerate: regenerate}
	}
	got, err := s.CreateInvite(ctx, inv("inv1", "ann@example.com", false, 1000))
	must(t, err)
	wantMsg(t, "invitation", got, &corev1.Invitation{InviteId: "inv1", Email: "ann@example.com", ExpiresAt: 1000 + hour,
		Roles: []*corev1.InviteRole{{RoleId: memberRole, RoleName: proto.String(core.MemberRoleName)}}})
	wantErr(t, s.CheckInvite(ctx, inv("inv2", "ann@example.com", false, 2000)), core.CodeConflict,
		"An invitation for this user already exists: send regenerate: true for a new link")
	_, err = s.CreateInvite(ctx, inv("inv2", "ann@example.com", false, 2000))
	wantErr(t, err, core.CodeConflict, "An invitation for this user already exists: send regenerate: true for a new link")
	// Regenerating keeps the id, takes the new hash and expiry; three times
	// an hour.
	for i := range int64(core.MaxRegenerations) {
		got, err = s.CreateInvite(ctx, inv("inv9", "ann@example.com", true, 2000+i))
		must(t, err)
		if got.GetInviteId() != "inv1" || got.GetExpiresAt() != 2000+i+hour {
			t.Fatalf("regenerated: %v", got)
		}
	}
	if rowCount(t, s, `SELECT COUNT(*) FROM user_invites WHERE token_hash = '$argon2id$token-of-inv9'`) != 1 {
		t.Fatal("regeneration did not store the new hash")
	}
	wantErr(t, s.CheckInvite(ctx, inv("inv9", "ann@example.com", true, 5000)), core.CodeExhausted,
		"This invitation was regenerated 3 times in the last hour: retry later")
	_, err = s.CreateInvite(ctx, inv("inv9", "ann@example.com", true, 5000))
	wantErr(t, err, core.CodeExhausted, "This invitation was regenerated 3 times in the last hour: retry later")
	_, err = s.CreateInvite(ctx, inv("inv9", "ann@example.com", true, 2000+hour)) // the next hour
	must(t, err)
	// A role of another org, a memberRole's address.
	foreign := inv("inv3", "bob@example.com", false, 1000)
	foreign.RoleID = roleID(t, s, "globex", core.MemberRoleName)
	wantErr(t, s.CheckInvite(ctx, foreign), core.CodeNotFound, "Role not found or does not belong to the same organization")
	_, err = s.AddOrgMember(ctx, "acme", member("u1", "cat"))
	must(t, err)
	wantErr(t, s.CheckInvite(ctx, inv("inv3", "cat@example.com", false, 1000)), core.CodeConflict, "User is already a member of this organization")
	_, err = s.CreateInvite(ctx, inv("inv4", "dan@example.com", false, 1000))
	must(t, err)

	list, total, err := s.ListInvitations(ctx, "acme", page(1, 1))
	must(t, err)
	if total != 2 || len(list) != 1 || list[0].GetInviteId() != "inv4" {
		t.Fatalf("list: %d %v", total, list)
	}
	wantErr(t, s.RemoveInvitation(ctx, "globex", "inv4"), core.CodeNotFound, "Invitation with ID inv4 not found in organization globex")
	must(t, s.RemoveInvitation(ctx, "acme", "inv4"))
	wantErr(t, s.RemoveInvitation(ctx, "acme", "inv4"), core.CodeNotFound, "Invitation with ID inv4 not found in organization acme")

	// An org's invitations, memberships and policies go with it; its users
	// stay (they may be members elsewhere).
	idp := mkIdp(t, s, "sso")
	_, err = s.CreateIdpOrg(ctx, &corev1.IdpOrgPolicy{IdpId: idp, OrgId: "acme"})
	must(t, err)
	must(t, s.DeleteOrg(ctx, "acme"))
	for _, q := range []string{`SELECT COUNT(*) FROM user_invites`, `SELECT COUNT(*) FROM user_orgs`, `SELECT COUNT(*) FROM idp_orgs`} {
		if n := rowCount(t, s, q); n != 0 {
			t.Fatalf("%s: %d after the org's deletion", q, n)
		}
	}
	if rowCount(t, s, `SELECT COUNT(*) FROM users WHERE user_id = 'u1'`) != 1 {
		t.Fatal("the org's deletion deleted its member's user")
	}
}

func testIdps(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	id := mkIdp(t, s, "sso")
	got, err := s.GetIdp(ctx, id)
	must(t, err)
	wantMsg(t, "idp", got, &corev1.GetIdpResponse{Idp: &corev1.Idp{IdpId: id, Name: "sso", Type: core.IdpOIDC},
		IdpOidcConfig: &corev1.IdpOidcConfig{IdpOauthConfigId: got.GetIdpOidcConfig().GetIdpOauthConfigId(), IdpId: id,
			ClientId: "sso-client", AuthUrl: "https://sso.test/a", TokenUrl: "https://sso.test/t", IdentifierPath: "sub",
			Scopes: "openid", Variant: "oidc"}})
	must(t, s.UpdateIdp(ctx, &corev1.UpdateIdpRequest{IdpId: id, Name: proto.String("corp"), Tags: proto.String("prod"),
		Scopes: proto.String("openid email"), Variant: proto.String("azure")}, "$argon2id$new"))
	got, err = s.GetIdp(ctx, id)
	must(t, err)
	if got.GetIdp().GetName() != "corp" || got.GetIdp().GetTags() != "prod" || got.GetIdpOidcConfig().GetScopes() != "openid email" ||
		got.GetIdpOidcConfig().GetVariant() != "azure" || got.GetIdpOidcConfig().GetClientId() != "sso-client" ||
		rowCount(t, s, `SELECT COUNT(*) FROM idp_oidc_configs WHERE client_secret_hash = '$argon2id$new'`) != 1 {
		t.Fatalf("updated idp: %v", got)
	}
	wantErr(t, s.UpdateIdp(ctx, &corev1.UpdateIdpRequest{IdpId: 999999, Name: proto.String("x")}, ""), core.CodeNotFound, "Idp with ID 999999 not found")

	p, err := s.CreateIdpOrg(ctx, &corev1.IdpOrgPolicy{IdpId: id, OrgId: "acme", RoleMapping: proto.String("'Member'")})
	must(t, err)
	wantMsg(t, "policy", p, &corev1.IdpOrgPolicy{IdpId: id, OrgId: "acme", RoleMapping: proto.String("'Member'")})
	_, err = s.CreateIdpOrg(ctx, &corev1.IdpOrgPolicy{IdpId: id, OrgId: "acme"})
	wantErr(t, err, core.CodeConflict, "An identity provider policy for this organization already exists")
	_, err = s.CreateIdpOrg(ctx, &corev1.IdpOrgPolicy{IdpId: 999999, OrgId: "acme"})
	wantErr(t, err, core.CodeNotFound, "Idp with ID 999999 not found")
	_, err = s.CreateIdpOrg(ctx, &corev1.IdpOrgPolicy{IdpId: id, OrgId: "nope"})
	wantErr(t, err, core.CodeNotFound, "Organization with ID nope not found")
	p, err = s.UpdateIdpOrg(ctx, &corev1.IdpOrgRequest{IdpId: id, OrgId: "acme", OrgMapping: proto.String("'acme'")})
	must(t, err)
	wantMsg(t, "updated policy", p, &corev1.IdpOrgPolicy{IdpId: id, OrgId: "acme", RoleMapping: proto.String("'Member'"), OrgMapping: proto.String("'acme'")})
	_, err = s.UpdateIdpOrg(ctx, &corev1.IdpOrgRequest{IdpId: id, OrgId: "globex"})
	wantErr(t, err, core.CodeNotFound, "No identity provider policy for this organization")

	list, total, err := s.ListIdps(ctx, nil)
	must(t, err)
	if total != 1 || len(list) != 1 || list[0].GetOrgCount() != 1 || list[0].GetVariant() != "azure" || list[0].GetTags() != "prod" {
		t.Fatalf("idps: %d %v", total, list)
	}
	policies, total, err := s.ListIdpOrgs(ctx, id, nil)
	must(t, err)
	if total != 1 || len(policies) != 1 {
		t.Fatalf("policies: %d %v", total, policies)
	}
	_, _, err = s.ListIdpOrgs(ctx, 999999, nil)
	wantErr(t, err, core.CodeNotFound, "Idp with ID 999999 not found")

	// Deleting the provider takes its settings, policies and users.
	user := mkOIDCUser(t, s, "acme", "ann", id, roleID(t, s, "acme", core.MemberRoleName))
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	exec(t, s, `UPDATE resources SET skip_to_idp_id = $1 WHERE resource_id = $2`, id, r.GetResourceId())
	wantErr(t, s.DeleteIdpOrg(ctx, id, "globex"), core.CodeNotFound, "No identity provider policy for this organization")
	must(t, s.DeleteIdp(ctx, id))
	wantErr(t, s.DeleteIdp(ctx, id), core.CodeNotFound, "Idp with ID "+itoa(id)+" not found")
	for _, q := range []string{`SELECT COUNT(*) FROM idp_orgs`, `SELECT COUNT(*) FROM idp_oidc_configs`,
		`SELECT COUNT(*) FROM users WHERE user_id = '` + user + `'`, `SELECT COUNT(*) FROM user_orgs WHERE user_id = '` + user + `'`,
		`SELECT COUNT(*) FROM resources WHERE skip_to_idp_id IS NOT NULL`} {
		if n := rowCount(t, s, q); n != 0 {
			t.Fatalf("%s: %d after the provider's deletion", q, n)
		}
	}
}

// Members joining, leaving and being created at once: one owner, the
// Admin role never empty, a role name and a provider's user made once.
func testConcurrentPeople(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	admin, memberRole := roleID(t, s, "acme", core.AdminRoleName), roleID(t, s, "acme", core.MemberRoleName)
	idp := mkIdp(t, s, "sso")
	const n = 8
	run := func(f func(i int) error) []error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		return errs
	}
	// n users join the Admin role of an org without an owner.
	for _, err := range run(func(i int) error {
		_, err := s.CreateOrgUser(ctx, "acme", &corev1.User{UserId: fmt.Sprintf("u%d", i), Username: fmt.Sprintf("user%d", i),
			Type: core.UserOIDC, IdpId: &idp}, admin)
		return err
	}) {
		must(t, err)
	}
	if n := rowCount(t, s, `SELECT COUNT(*) FROM user_orgs WHERE org_id = 'acme' AND is_owner`); n != 1 {
		t.Fatalf("%d owners", n)
	}
	// Every member but the owner leaves the Admin role at once, then the
	// owner's role is cleared: the Admin role keeps a member.
	exec(t, s, `UPDATE user_orgs SET is_owner = $1`, false)
	left := 0
	for _, err := range run(func(i int) error {
		_, err := s.SetUserRole(ctx, memberRole, fmt.Sprintf("id-user%d", i))
		if core.ErrorCode(err) == core.CodeNotFound {
			_, err = s.SetUserRole(ctx, memberRole, fmt.Sprintf("u%d", i))
		}
		return err
	}) {
		switch {
		case err == nil:
			left++
		case core.ErrorCode(err) != core.CodeForbidden || err.Error() != "The Admin role must keep at least one member":
			t.Errorf("leaving: %v", err)
		}
	}
	if left != n-1 || rowCount(t, s, `SELECT COUNT(*) FROM user_orgs WHERE role_id = $1`, admin) != 1 {
		t.Fatalf("%d left the Admin role, want %d, and one member kept", left, n-1)
	}
	// One role per name, one user per provider account.
	won := 0
	for _, err := range run(func(int) error {
		_, err := s.CreateRole(ctx, &corev1.Role{OrgId: "acme", Name: "Same", SshSudoMode: "none", SshSudoCommands: "[]", SshUnixGroups: "[]"})
		return err
	}) {
		if err == nil {
			won++
		} else if core.ErrorCode(err) != core.CodeConflict {
			t.Errorf("role: %v", err)
		}
	}
	mkOrg(t, s, "globex")
	for i := range n {
		mkOrg(t, s, fmt.Sprintf("org%d", i))
	}
	for _, err := range run(func(i int) error {
		_, err := s.CreateOrgUser(ctx, fmt.Sprintf("org%d", i), &corev1.User{UserId: fmt.Sprintf("dan%d", i), Username: "dan",
			Type: core.UserOIDC, IdpId: &idp}, roleID(t, s, fmt.Sprintf("org%d", i), core.MemberRoleName))
		return err
	}) {
		if err != nil && core.ErrorCode(err) != core.CodeConflict {
			t.Errorf("user: %v", err)
		}
	}
	if won != 1 || rowCount(t, s, `SELECT COUNT(*) FROM users WHERE username = 'dan'`) != 1 {
		t.Fatalf("%d roles named Same; %d users dan", won, rowCount(t, s, `SELECT COUNT(*) FROM users WHERE username = 'dan'`))
	}
}
