package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Roles: create, list, get, update and delete as 1.8 answered them (the
// observed shapes), the replacement roleId as a string (1.8) or a number
// (newer), and the Admin role's protections.
func TestRoleRoutes(t *testing.T) {
	f := newFixture(t)
	org, admin, member := f.url+"/v1/org/acme", f.acme["adminRoleId"], f.acme["roleId"]
	var role struct {
		RoleID int64 `json:"roleId"`
	}
	r := call(t, "PUT", org+"/role", f.root, `{"name":"Ops","description":"operators"}`).
		want(t, http.StatusCreated, "Role created successfully")
	r.decode(t, &role)
	ops := itoa(role.RoleID)
	// The 1.8 fields first, as observed; newer ones after.
	if !strings.HasPrefix(string(r.env.Data), `{"roleId":`+ops+`,"orgId":"acme","isAdmin":null,"name":"Ops","description":"operators",`) {
		t.Fatalf("created role %s", r.env.Data)
	}
	call(t, "PUT", org+"/role", f.root, `{"name":"Ops"}`).want(t, http.StatusConflict, "Role with name Ops already exists")
	call(t, "PUT", org+"/role", f.root, `{"name":""}`).want(t, http.StatusBadRequest, "name must be 1-255 characters")
	call(t, "GET", f.url+"/v1/role/"+ops, f.root, nil).want(t, http.StatusOK, "Role retrieved successfully")
	var roles struct {
		Roles []struct {
			Name    string `json:"name"`
			OrgName string `json:"orgName"`
			IsAdmin *bool  `json:"isAdmin"`
		} `json:"roles"`
		Pagination struct {
			Total int `json:"total"`
		} `json:"pagination"`
	}
	call(t, "GET", org+"/roles", f.root, nil).want(t, http.StatusOK, "Roles retrieved successfully").decode(t, &roles)
	if roles.Pagination.Total != 3 || roles.Roles[0].Name != "Admin" || roles.Roles[0].OrgName != "acme" || roles.Roles[2].Name != "Ops" {
		t.Fatalf("roles %+v", roles)
	}

	// Update: stored state read back; the Admin role keeps its name.
	r = call(t, "POST", f.url+"/v1/role/"+ops, f.root, `{"name":"Operators","allowSsh":true}`).want(t, http.StatusOK, "Role updated successfully")
	if !strings.Contains(string(r.env.Data), `"name":"Operators","description":"operators"`) || !strings.Contains(string(r.env.Data), `"allowSsh":true`) {
		t.Fatalf("updated role %s", r.env.Data)
	}
	call(t, "POST", f.url+"/v1/role/"+admin, f.root, `{"name":"Root"}`).want(t, http.StatusForbidden, "The Admin role cannot be renamed")
	call(t, "POST", f.url+"/v1/role/"+ops, f.root, `{}`).want(t, http.StatusBadRequest, "At least one field")
	call(t, "POST", f.url+"/v1/role/"+ops, f.root, `{"name":"Member"}`).want(t, http.StatusConflict, "already exists")

	// Members: the fixture's member joins Operators, then the role goes.
	user := f.acme["userId"]
	r = call(t, "POST", f.url+"/v1/role/"+ops+"/add/"+user, f.root, nil).want(t, http.StatusOK, "Role added to user successfully")
	if want := `{"userId":"` + user + `","orgId":"acme","roleId":` + ops + `,"isOwner":false,"autoProvisioned":false,"pamUsername":null}`; string(r.env.Data) != want {
		t.Fatalf("add user role %s, want %s", r.env.Data, want)
	}
	call(t, "POST", f.url+"/v1/role/"+ops+"/add/"+f.globex["userId"], f.root, nil).
		want(t, http.StatusNotFound, "User with ID globex-user not found in this organization")
	var users struct {
		Users []struct {
			UserID string `json:"userId"`
		} `json:"users"`
	}
	call(t, "GET", f.url+"/v1/role/"+ops+"/users", f.root, nil).want(t, http.StatusOK, "Role users retrieved successfully").decode(t, &users)
	if len(users.Users) != 1 || users.Users[0].UserID != user {
		t.Fatalf("role users %+v", users)
	}
	call(t, "DELETE", f.url+"/v1/role/"+admin, f.root, `{"roleId":"`+member+`"}`).want(t, http.StatusForbidden, "The Admin role cannot be deleted")
	call(t, "DELETE", f.url+"/v1/role/"+ops, f.root, `{"roleId":`+ops+`}`).want(t, http.StatusBadRequest, "same role")
	call(t, "DELETE", f.url+"/v1/role/"+ops, f.root, `{"roleId":"`+f.globex["roleId"]+`"}`).want(t, http.StatusNotFound, "not found")
	call(t, "DELETE", f.url+"/v1/role/"+ops, f.root, `{"roleId":"2x"}`).want(t, http.StatusBadRequest, "roleId must be a positive integer")
	call(t, "DELETE", f.url+"/v1/role/"+ops, f.root, `{"roleId":-2}`).want(t, http.StatusBadRequest, "roleId")
	call(t, "DELETE", f.url+"/v1/role/"+ops, f.root, `{"roleId":"`+member+`"}`).want(t, http.StatusOK, "Role deleted successfully")
	call(t, "GET", f.url+"/v1/role/"+ops, f.root, nil).want(t, http.StatusNotFound, "Role with ID "+ops+" not found")
	var got struct {
		RoleID int64 `json:"roleId"`
	}
	call(t, "GET", org+"/user/"+user, f.root, nil).want(t, http.StatusOK, "").decode(t, &got)
	if itoa(got.RoleID) != member {
		t.Fatalf("the deleted role's member has role %d, want %s", got.RoleID, member)
	}
	// A number works too (newer clients).
	call(t, "PUT", org+"/role", f.root, `{"name":"Temp"}`).want(t, http.StatusCreated, "").decode(t, &role)
	call(t, "DELETE", f.url+"/v1/role/"+itoa(role.RoleID), f.root, `{"roleId":`+member+`}`).want(t, http.StatusOK, "")

	// The owner keeps the Admin role; the Admin role keeps a member.
	owner := f.acme["ownerId"]
	call(t, "POST", f.url+"/v1/role/"+member+"/add/"+owner, f.root, nil).want(t, http.StatusForbidden, "The organization owner must keep the Admin role")
	call(t, "DELETE", f.url+"/v1/role/"+admin+"/remove/"+owner, f.root, nil).want(t, http.StatusForbidden, "The organization owner must keep the Admin role")
	call(t, "POST", f.url+"/v1/role/"+admin+"/add/"+user, f.root, nil).want(t, http.StatusOK, "")
	call(t, "DELETE", f.url+"/v1/role/"+admin+"/remove/"+user, f.root, nil).want(t, http.StatusOK, "Role removed from user successfully")
	call(t, "DELETE", f.url+"/v1/role/"+admin+"/remove/"+user, f.root, nil).want(t, http.StatusNotFound, "does not have role")
	call(t, "DELETE", f.url+"/v1/role/"+member+"/remove/"+user, f.root, nil).want(t, http.StatusBadRequest, "A member always has a role")
}

// Org users: list and get in both the 1.8 and the newer form, by id, e-mail
// and username; OIDC users created (never without their provider),
// updated and removed; the owner stays; GET /user and 2FA for root keys.
func TestOrgUserRoutes(t *testing.T) {
	f := newFixture(t)
	org, idp, member, owner := f.url+"/v1/org/acme", f.acme["idpId"], f.acme["roleId"], f.acme["ownerId"]
	var list struct {
		Users []map[string]any `json:"users"`
	}
	call(t, "GET", org+"/users", f.root, nil).want(t, http.StatusOK, "Users retrieved successfully").decode(t, &list)
	// By username: acme-owner, acme-user.
	if len(list.Users) != 2 || list.Users[0]["id"] != owner || list.Users[0]["roleName"] != "Admin" || list.Users[0]["isOwner"] != true ||
		list.Users[0]["idpName"] != "acme-sso" || list.Users[1]["id"] != "acme-user" {
		t.Fatalf("users %+v", list)
	}
	var u struct {
		UserID   string `json:"userId"`
		RoleID   int64  `json:"roleId"`
		RoleName string `json:"roleName"`
		IsAdmin  bool   `json:"isAdmin"`
		IsOwner  bool   `json:"isOwner"`
		RoleIDs  []int64
		Roles    []struct {
			Name string `json:"name"`
		} `json:"roles"`
	}
	call(t, "GET", org+"/user/"+owner, f.root, nil).want(t, http.StatusOK, "User retrieved successfully").decode(t, &u)
	if u.UserID != owner || !u.IsAdmin || !u.IsOwner || u.RoleName != "Admin" || len(u.Roles) != 1 || u.Roles[0].Name != "Admin" {
		t.Fatalf("owner %+v", u)
	}
	call(t, "GET", org+"/user/acme-owner@example.com", f.root, nil).want(t, http.StatusOK, "")
	call(t, "GET", org+"/user/"+f.globex["ownerId"], f.root, nil).want(t, http.StatusNotFound, "not found in this organization")
	call(t, "GET", org+"/user-by-username?username=acme-user", f.root, nil).want(t, http.StatusOK, "")
	call(t, "GET", org+"/user-by-username?username=acme-owner", f.root, nil).want(t, http.StatusNotFound, "not found")
	call(t, "GET", org+"/user-by-username?username=acme-owner&idpId="+idp, f.root, nil).want(t, http.StatusOK, "").decode(t, &u)
	if u.UserID != owner {
		t.Fatalf("by username %+v", u)
	}
	call(t, "GET", org+"/user-by-username", f.root, nil).want(t, http.StatusBadRequest, `"username"`)

	// An org key holding getOrgUser reads members (1.8 answered 403).
	call(t, "POST", org+"/api-key/"+f.acme["apiKeyId"]+"/actions", f.root, `{"actionIds":["getOrgUser"]}`).want(t, http.StatusOK, "")
	eventually(t, "the org key reads a member", func() bool {
		return call(t, "GET", org+"/user/"+owner, f.acme["token"], nil).status == http.StatusOK
	})

	// Create: OIDC only, with an existing provider.
	call(t, "PUT", org+"/user", f.root, `{"username":"dan","type":"oidc","roleId":`+member+`}`).
		want(t, http.StatusBadRequest, "idpId is required for oidc users")
	call(t, "PUT", org+"/user", f.root, `{"username":"dan","type":"oidc","idpId":999999,"roleId":`+member+`}`).
		want(t, http.StatusBadRequest, "Identity provider with ID 999999 not found")
	call(t, "PUT", org+"/user", f.root, `{"username":"dan","type":"internal","roleId":`+member+`}`).
		want(t, http.StatusBadRequest, "Internal users cannot be created")
	call(t, "PUT", org+"/user", f.root, `{"username":"dan","type":"oidc","idpId":`+idp+`,"roleId":`+f.globex["roleId"]+`}`).
		want(t, http.StatusNotFound, "Role not found")
	r := call(t, "PUT", org+"/user", f.root, `{"username":"Dan","email":"Dan@Example.com","name":"Dan","type":"oidc","idpId":`+idp+`,"roleIds":[`+member+`]}`).
		want(t, http.StatusCreated, "Org user created successfully")
	r.decode(t, &u)
	dan := u.UserID
	if len(dan) != 15 || u.IsOwner || !strings.Contains(string(r.env.Data), `"email":"dan@example.com","username":"dan"`) {
		t.Fatalf("created %s", r.env.Data)
	}
	call(t, "PUT", org+"/user", f.root, `{"username":"dan","type":"oidc","idpId":`+idp+`,"roleId":`+member+`}`).
		want(t, http.StatusBadRequest, "already a member")

	// Update answers the membership.
	r = call(t, "POST", org+"/user/"+dan, f.root, `{"autoProvisioned":true}`).want(t, http.StatusOK, "Org user updated successfully")
	if !strings.Contains(string(r.env.Data), `"autoProvisioned":true`) {
		t.Fatalf("updated %s", r.env.Data)
	}
	call(t, "POST", org+"/user/"+f.globex["userId"], f.root, `{"autoProvisioned":true}`).want(t, http.StatusNotFound, "not found")

	// Remove: grants go; the owner stays.
	res := f.url + "/v1/resource/" + f.acme["resourceId"]
	call(t, "POST", res+"/users/add", f.root, `{"userId":"`+dan+`"}`).want(t, http.StatusCreated, "")
	call(t, "DELETE", org+"/user/"+owner, f.root, nil).want(t, http.StatusBadRequest, "The organization owner cannot be removed")
	call(t, "DELETE", org+"/user/"+dan, f.root, nil).want(t, http.StatusOK, "User removed from org successfully")
	call(t, "DELETE", org+"/user/"+dan, f.root, nil).want(t, http.StatusNotFound, "not found in this organization")
	r = call(t, "GET", res+"/users", f.root, nil).want(t, http.StatusOK, "")
	if strings.Contains(string(r.env.Data), dan) {
		t.Fatalf("the removed member keeps its grant: %s", r.env.Data)
	}

	// Root only: a user, and the 2FA flag (internal users only).
	r = call(t, "GET", f.url+"/v1/user/acme-user", f.root, nil).want(t, http.StatusOK, "User retrieved successfully")
	if !strings.HasPrefix(string(r.env.Data), `{"userId":"acme-user","email":"acme-user@example.com","username":"acme-user",`) {
		t.Fatalf("user %s", r.env.Data)
	}
	r = call(t, "POST", f.url+"/v1/user/acme-user/2fa", f.root, `{"twoFactorSetupRequested":true}`).want(t, http.StatusOK, "")
	if string(r.env.Data) != `{"userId":"acme-user","twoFactorRequested":true}` {
		t.Fatalf("2fa %s", r.env.Data)
	}
	call(t, "POST", f.url+"/v1/user/"+owner+"/2fa", f.root, `{"twoFactorSetupRequested":true}`).want(t, http.StatusBadRequest, "internal users")
	call(t, "GET", f.url+"/v1/user/nobody", f.root, nil).want(t, http.StatusNotFound, "User with ID nobody not found")
	call(t, "GET", f.url+"/v1/user/acme-user", f.acme["token"], nil).want(t, http.StatusForbidden, "root access")

	// The org's enabled resources.
	r = call(t, "GET", org+"/user-resources", f.root, nil).want(t, http.StatusOK, "User resources retrieved successfully")
	if want := `{"resources":[{"resourceId":` + f.acme["resourceId"] + `,"name":"acme-web","domain":"https://web.acme.test","enabled":true,` +
		`"protected":true,"sso":true,"password":false,"pincode":false,"whitelist":true}]}`; string(r.env.Data) != want {
		t.Fatalf("user resources %s, want %s", r.env.Data, want)
	}
}

// Invitations: the link carries the token once; regenerating keeps the id
// and changes the token; lists never show it.
func TestInvitationRoutes(t *testing.T) {
	f := newFixture(t)
	org, member := f.url+"/v1/org/acme", f.acme["roleId"]
	var inv struct {
		InviteLink string `json:"inviteLink"`
		ExpiresAt  int64  `json:"expiresAt"`
		InviteID   string `json:"inviteId"`
	}
	body := `{"email":"Eve@Example.com","roleId":` + member + `,"validHours":1,"sendEmail":true}`
	call(t, "POST", org+"/create-invite", f.root, body).want(t, http.StatusOK, "User invited successfully").decode(t, &inv)
	token, ok := strings.CutPrefix(inv.InviteLink, "http://localhost:3002/invite?token="+inv.InviteID+"-")
	if !ok || len(token) != 32 || inv.ExpiresAt == 0 {
		t.Fatalf("invite %+v", inv)
	}
	call(t, "POST", org+"/create-invite", f.root, body).want(t, http.StatusConflict, "already exists")
	first := inv
	call(t, "POST", org+"/create-invite", f.root, strings.Replace(body, "}", `,"regenerate":true}`, 1)).want(t, http.StatusOK, "").decode(t, &inv)
	if inv.InviteID != first.InviteID || inv.InviteLink == first.InviteLink {
		t.Fatalf("regenerated %+v after %+v", inv, first)
	}
	call(t, "POST", org+"/create-invite", f.root, `{"email":"acme-user@example.com","roleId":`+member+`,"validHours":1}`).
		want(t, http.StatusConflict, "already a member")
	call(t, "POST", org+"/create-invite", f.root, `{"email":"x@example.com","roleId":`+member+`,"validHours":0}`).
		want(t, http.StatusBadRequest, "validHours")
	r := call(t, "GET", org+"/invitations", f.root, nil).want(t, http.StatusOK, "Invitations retrieved successfully")
	if strings.Contains(string(r.body), token) || !strings.Contains(string(r.env.Data), `"email":"eve@example.com"`) ||
		!strings.Contains(string(r.env.Data), `"roles":[{"roleId":`+member+`,"roleName":"Member"}]`) {
		t.Fatalf("invitations %s", r.body)
	}
	call(t, "DELETE", org+"/invitations/"+f.globex["inviteId"], f.root, nil).want(t, http.StatusNotFound, "not found in organization acme")
	call(t, "DELETE", org+"/invitations/"+inv.InviteID, f.root, nil).want(t, http.StatusOK, "Invitation removed successfully")
	call(t, "DELETE", org+"/invitations/"+inv.InviteID, f.root, nil).want(t, http.StatusNotFound, "")
}

// Identity providers: the client secret is in no answer; tags and
// variant round-trip; policies per org; deletion takes the provider's
// users.
func TestIdpRoutes(t *testing.T) {
	f := newFixture(t)
	const secret = "very-secret-client-secret"
	body := `{"name":"Corp","clientId":"pgw","clientSecret":"` + secret + `","authUrl":"https://corp.test/auth",` +
		`"tokenUrl":"https://corp.test/token","identifierPath":"sub","scopes":"openid","tags":"prod","variant":"azure"}`
	var created struct {
		IdpID       int64  `json:"idpId"`
		RedirectURL string `json:"redirectUrl"`
	}
	r := call(t, "PUT", f.url+"/v1/idp/oidc", f.root, body).want(t, http.StatusCreated, "Idp created successfully")
	r.decode(t, &created)
	id := itoa(created.IdpID)
	if created.RedirectURL != "http://localhost:3002/auth/idp/"+id+"/oidc/callback" || strings.Contains(string(r.body), secret) ||
		!strings.Contains(string(r.env.Data), `"tags":"prod"`) || !strings.Contains(string(r.env.Data), `"variant":"azure"`) {
		t.Fatalf("created %s", r.body)
	}
	r = call(t, "GET", f.url+"/v1/idp/"+id, f.root, nil).want(t, http.StatusOK, "Idp retrieved successfully")
	if strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), "clientSecret") || !strings.Contains(string(r.env.Data), `"clientId":"pgw"`) {
		t.Fatalf("read %s", r.body)
	}
	r = call(t, "POST", f.url+"/v1/idp/"+id+"/oidc", f.root, `{"clientSecret":"another-secret","name":"Corp SSO"}`).want(t, http.StatusOK, "Idp updated successfully")
	if strings.Contains(string(r.body), "another-secret") || !strings.Contains(string(r.env.Data), `"name":"Corp SSO"`) {
		t.Fatalf("updated %s", r.body)
	}
	call(t, "PUT", f.url+"/v1/idp/oidc", f.root, strings.Replace(body, "https://corp.test/auth", "corp", 1)).want(t, http.StatusBadRequest, "authUrl")
	call(t, "GET", f.url+"/v1/idp/999999", f.root, nil).want(t, http.StatusNotFound, "Idp with ID 999999 not found")
	call(t, "GET", f.url+"/v1/idp", f.acme["token"], nil).want(t, http.StatusForbidden, "root access")
	var idps struct {
		Idps []struct {
			Name     string `json:"name"`
			OrgCount int    `json:"orgCount"`
		} `json:"idps"`
	}
	call(t, "GET", f.url+"/v1/idp", f.root, nil).want(t, http.StatusOK, "Idps retrieved successfully").decode(t, &idps)
	if len(idps.Idps) != 3 || idps.Idps[0].OrgCount != 1 || idps.Idps[2].Name != "Corp SSO" {
		t.Fatalf("idps %+v", idps)
	}

	// Policies.
	pol := f.url + "/v1/idp/" + id + "/org/acme"
	r = call(t, "PUT", pol, f.root, `{"roleMapping":"'Member'"}`).want(t, http.StatusCreated, "")
	if string(r.env.Data) != `{"idpId":`+id+`,"orgId":"acme","roleMapping":"'Member'","orgMapping":null}` {
		t.Fatalf("policy %s", r.env.Data)
	}
	call(t, "PUT", pol, f.root, `{}`).want(t, http.StatusConflict, "already exists")
	call(t, "POST", pol, f.root, `{"orgMapping":"'acme'"}`).want(t, http.StatusOK, "Policy updated successfully")
	call(t, "POST", f.url+"/v1/idp/"+id+"/org/globex", f.root, `{}`).want(t, http.StatusNotFound, "No identity provider policy")
	call(t, "PUT", f.url+"/v1/idp/999999/org/acme", f.root, `{}`).want(t, http.StatusNotFound, "Idp with ID 999999 not found")
	r = call(t, "GET", f.url+"/v1/idp/"+id+"/org", f.root, nil).want(t, http.StatusOK, "Policies retrieved successfully")
	if !strings.Contains(string(r.env.Data), `"orgMapping":"'acme'"`) {
		t.Fatalf("policies %s", r.env.Data)
	}
	call(t, "DELETE", pol, f.root, nil).want(t, http.StatusOK, "Policy deleted successfully")
	call(t, "DELETE", pol, f.root, nil).want(t, http.StatusNotFound, "No identity provider policy")

	// A provider's users go with it (the fixture's acme owner is one).
	call(t, "DELETE", f.url+"/v1/idp/"+f.acme["idpId"], f.root, nil).want(t, http.StatusOK, "Idp deleted successfully")
	call(t, "GET", f.url+"/v1/user/"+f.acme["ownerId"], f.root, nil).want(t, http.StatusNotFound, "")
	call(t, "DELETE", f.url+"/v1/idp/"+f.acme["idpId"], f.root, nil).want(t, http.StatusNotFound, "")
}
