package core_test

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// The invitation token is shown once, in the link, and stored only as an
// argon2id hash that verifies it; regenerating gives a new token.
func TestInviteTokenHashed(t *testing.T) {
	f := newAccessFixture(t)
	ctx, inv := as(core.Admin), f.svc.Invitations
	roleID, err := strconv.ParseInt(f.one(t, `SELECT CAST(role_id AS TEXT) FROM roles WHERE org_id = 'acme' AND name = 'Member' AND $1 > 0`), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	req := &corev1.CreateInviteRequest{OrgId: "acme", Email: "Ann@Example.com", RoleId: &roleID, ValidHours: 24}
	got, err := inv.CreateInvite(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	prefix := core.DefaultDashboardURL + "/invite?token=" + got.GetInviteId() + "-"
	token, ok := strings.CutPrefix(got.GetInviteLink(), prefix)
	if !ok || len(token) != 32 || len(got.GetInviteId()) != 10 || got.GetEmail() != "ann@example.com" {
		t.Fatalf("invite: %v", got)
	}
	hash := f.one(t, `SELECT token_hash FROM user_invites WHERE $1 > 0`)
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, token) {
		t.Fatalf("stored %q", hash)
	}
	if ok, err := f.svc.Hasher.Check(ctx, hash, token); !ok || err != nil {
		t.Fatalf("the stored hash does not verify the token: %v %v", ok, err)
	}
	_, err = inv.CreateInvite(ctx, req)
	wantCode(t, "again", err, core.CodeConflict, "already exists")
	req.Regenerate = proto.Bool(true)
	again, err := inv.CreateInvite(ctx, req)
	if err != nil || again.GetInviteId() != got.GetInviteId() || again.GetInviteLink() == got.GetInviteLink() {
		t.Fatalf("regenerated: %v %v", again, err)
	}
	if ok, _ := f.svc.Hasher.Check(ctx, f.one(t, `SELECT token_hash FROM user_invites WHERE $1 > 0`), token); ok {
		t.Fatal("the old token still verifies after regeneration")
	}
	for what, bad := range map[string]*corev1.CreateInviteRequest{
		"Invalid email":                  {OrgId: "acme", Email: "not-an-email", RoleId: &roleID, ValidHours: 1},
		"validHours must be more than 0": {OrgId: "acme", Email: "b@example.com", RoleId: &roleID, ValidHours: 169},
		"roleId or roleIds is required":  {OrgId: "acme", Email: "b@example.com", ValidHours: 1},
		"roleIds must name one role":     {OrgId: "acme", Email: "b@example.com", RoleIds: []int64{roleID, roleID + 1}, ValidHours: 1},
	} {
		_, err := inv.CreateInvite(ctx, bad)
		wantCode(t, what, err, core.CodeInvalid, what)
	}
}

// The client secret of a provider is stored only as an argon2id hash and
// is in no answer.
func TestIdpSecretHashed(t *testing.T) {
	f := newAccessFixture(t)
	ctx, idps := as(core.Admin), f.svc.Idps
	const secret = "the-client-secret-of-corp"
	req := &corev1.CreateIdpRequest{Name: "corp", ClientId: "pangolin", ClientSecret: secret, AuthUrl: "https://sso.test/a",
		TokenUrl: "https://sso.test/t", IdentifierPath: "sub", Scopes: "openid", Tags: proto.String("prod")}
	got, err := idps.CreateIdp(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRedirectUrl() != core.DefaultDashboardURL+"/auth/idp/1/oidc/callback" || got.GetIdp().GetTags() != "prod" ||
		got.GetIdpOidcConfig().GetVariant() != "oidc" || strings.Contains(got.String(), secret) {
		t.Fatalf("created: %v", got)
	}
	hash := f.one(t, `SELECT client_secret_hash FROM idp_oidc_configs WHERE $1 > 0`)
	if ok, err := f.svc.Hasher.Check(ctx, hash, secret); !ok || err != nil || strings.Contains(hash, secret) {
		t.Fatalf("stored %q does not verify the secret: %v %v", hash, ok, err)
	}
	read, err := idps.GetIdp(ctx, &corev1.IdpIdRequest{IdpId: 1})
	if err != nil || strings.Contains(read.String(), secret) {
		t.Fatalf("read: %v %v", read, err)
	}
	for what, bad := range map[string]*corev1.CreateIdpRequest{
		"authUrl must be an http or https URL": {Name: "x", ClientId: "c", ClientSecret: "s", AuthUrl: "ftp://x", TokenUrl: "https://t", IdentifierPath: "sub", Scopes: "openid"},
		"clientSecret must not be empty":       {Name: "x", ClientId: "c", ClientSecret: " ", AuthUrl: "https://a", TokenUrl: "https://t", IdentifierPath: "sub", Scopes: "openid"},
		"variant must be one of":               {Name: "x", ClientId: "c", ClientSecret: "s", AuthUrl: "https://a", TokenUrl: "https://t", IdentifierPath: "sub", Scopes: "openid", Variant: proto.String("okta")},
		"name must be 1-255 characters":        {ClientId: "c", ClientSecret: "s", AuthUrl: "https://a", TokenUrl: "https://t", IdentifierPath: "sub", Scopes: "openid"},
	} {
		_, err := idps.CreateIdp(ctx, bad)
		wantCode(t, what, err, core.CodeInvalid, what)
	}
	_, err = idps.UpdateIdp(ctx, &corev1.UpdateIdpRequest{IdpId: 2, ClientSecret: proto.String("x")})
	wantCode(t, "missing idp", err, core.CodeNotFound, "Idp with ID 2 not found")
}

// What users, roles and invitations refuse before the store is asked.
func TestPeopleInput(t *testing.T) {
	f := newAccessFixture(t)
	ctx := as(core.Admin)
	users, roles := f.svc.Users, f.svc.Roles
	for what, req := range map[string]*corev1.CreateOrgUserRequest{
		"Internal users cannot be created":    {OrgId: "acme", Username: "ann", Type: core.UserInternal, RoleId: proto.Int64(1)},
		"idpId is required for oidc users":    {OrgId: "acme", Username: "ann", Type: core.UserOIDC, RoleId: proto.Int64(1)},
		"type must be one of":                 {OrgId: "acme", Username: "ann", Type: "saml", RoleId: proto.Int64(1)},
		"Invalid email":                       {OrgId: "acme", Username: "ann", Type: core.UserOIDC, IdpId: proto.Int64(1), RoleId: proto.Int64(1), Email: proto.String("x@")},
		"roleIds must name one role":          {OrgId: "acme", Username: "ann", Type: core.UserOIDC, IdpId: proto.Int64(1), RoleIds: []int64{1, 2}},
		"username must be 1-255 characters":   {OrgId: "acme", Type: core.UserOIDC, IdpId: proto.Int64(1), RoleId: proto.Int64(1)},
		"Identity provider with ID 1 not fou": {OrgId: "acme", Username: "ann", Type: core.UserOIDC, IdpId: proto.Int64(1), RoleId: proto.Int64(1)},
	} {
		_, err := users.CreateOrgUser(ctx, req)
		wantCode(t, what, err, core.CodeInvalid, what)
	}
	_, err := users.UpdateOrgUser(ctx, &corev1.UpdateOrgUserRequest{OrgId: "acme", UserId: "u1"})
	wantCode(t, "empty update", err, core.CodeInvalid, "At least one field")
	_, err = users.GetOrgUserByUsername(ctx, &corev1.OrgUserByUsernameRequest{OrgId: "acme", Username: "ann", IdpId: proto.Int64(0)})
	wantCode(t, "idp 0", err, core.CodeInvalid, "idpId must be a positive integer")
	_, err = users.GetOrgUserByUsername(ctx, &corev1.OrgUserByUsernameRequest{OrgId: "acme", Username: "ann"})
	wantCode(t, "no ann", err, core.CodeNotFound, "User with username 'ann' not found in organization")

	for what, req := range map[string]*corev1.DeleteRoleRequest{
		"roleId must be a positive integer":             {RoleId: 2, ReplacementRoleId: "0"},
		"Cannot delete a role and assign the same role": {RoleId: 2, ReplacementRoleId: "2"},
	} {
		_, err := roles.DeleteRole(ctx, req)
		wantCode(t, what, err, core.CodeInvalid, what)
	}
	_, err = roles.UpdateRole(ctx, &corev1.UpdateRoleRequest{RoleId: 2})
	wantCode(t, "empty update", err, core.CodeInvalid, "At least one field")
	_, err = roles.CreateRole(ctx, &corev1.CreateRoleRequest{OrgId: "acme", Name: "Ops", SshSudoMode: proto.String("some")})
	wantCode(t, "sudo mode", err, core.CodeInvalid, "sshSudoMode must be one of")
	got, err := roles.CreateRole(ctx, &corev1.CreateRoleRequest{OrgId: "acme", Name: "Ops", SshSudoCommands: []string{"ls"}})
	if err != nil || got.GetSshSudoMode() != "none" || got.GetSshSudoCommands() != `["ls"]` || got.GetSshUnixGroups() != "[]" || !got.GetSshCreateHomeDir() {
		t.Fatalf("created role: %v %v", got, err)
	}
}
