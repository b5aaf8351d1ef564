package e2e

import (
	"net/http"
	"testing"
)

// The roles and users granted a resource: list (as observed on 1.8), set,
// add, remove, on both paths, with the org's rules.
func TestResourceAccessRoutes(t *testing.T) {
	f := newFixture(t)
	member, foreignRole := f.acme["roleId"], f.globex["roleId"]
	var roles struct {
		Roles []struct {
			RoleID int64 `json:"roleId"`
		} `json:"roles"`
	}
	url := f.url + "/v1/resource/" + f.acme["resourceId"]
	call(t, "GET", url+"/roles", f.root, nil).want(t, http.StatusOK, "Resource roles retrieved successfully").decode(t, &roles)
	if len(roles.Roles) != 1 {
		t.Fatalf("roles %+v", roles)
	}
	admin := itoa(roles.Roles[0].RoleID)
	// The answers of 1.8 (observed), field for field.
	r := call(t, "GET", url+"/roles", f.root, nil).want(t, http.StatusOK, "")
	if want := `{"roles":[{"roleId":` + admin + `,"name":"Admin","description":"Admin role with the most permissions","isAdmin":true}]}`; string(r.env.Data) != want {
		t.Fatalf("roles %s, want %s", r.env.Data, want)
	}
	r = call(t, "GET", url+"/users", f.root, nil).want(t, http.StatusOK, "Resource users retrieved successfully")
	if string(r.env.Data) != `{"users":[]}` {
		t.Fatalf("users %s", r.env.Data)
	}

	for _, base := range []string{"/v1/resource/", "/v1/public-resource/"} {
		u := f.url + base + f.acme["resourceId"]
		wantEmpty(t, call(t, "POST", u+"/roles", f.root, `{"roleIds":[`+member+`,`+member+`]}`).
			want(t, http.StatusCreated, "Roles set for resource successfully"))
		r := call(t, "GET", u+"/roles", f.root, nil).want(t, http.StatusOK, "")
		if want := `{"roles":[{"roleId":` + admin + `,"name":"Admin","description":"Admin role with the most permissions","isAdmin":true},` +
			`{"roleId":` + member + `,"name":"Member","description":"Members can only view resources","isAdmin":null}]}`; string(r.env.Data) != want {
			t.Fatalf("%s roles %s, want %s", base, r.env.Data, want)
		}
		for body, want := range map[string]struct {
			status int
			msg    string
		}{
			`{"roleIds":[` + admin + `]}`:                      {400, "Admin role cannot be assigned to resources"},
			`{"roleIds":[` + member + `,` + foreignRole + `]}`: {404, "One or more roles not found"},
			`{"roleIds":[999999]}`:                             {404, "One or more roles not found"},
			`{"roleIds":[0]}`:                                  {400, `roleIds[0] must be a positive integer`},
			`{"roleIds":["2"]}`:                                {400, `Expected integer, received string at "roleIds[0]"`},
			`{}`:                                               {400, `Required at "roleIds"`},
		} {
			call(t, "POST", u+"/roles", f.root, body).want(t, want.status, want.msg)
		}
		call(t, "POST", u+"/roles/add", f.root, `{"roleId":`+member+`}`).want(t, http.StatusConflict, "Role already assigned to resource")
		wantEmpty(t, call(t, "POST", u+"/roles/remove", f.root, `{"roleId":`+member+`}`).
			want(t, http.StatusOK, "Role removed from resource successfully"))
		call(t, "POST", u+"/roles/remove", f.root, `{"roleId":`+member+`}`).want(t, http.StatusNotFound, "Role not found in resource")
		wantEmpty(t, call(t, "POST", u+"/roles/add", f.root, `{"roleId":`+member+`}`).
			want(t, http.StatusCreated, "Role added to resource successfully"))
		call(t, "POST", u+"/roles/add", f.root, `{"roleId":`+admin+`}`).want(t, http.StatusBadRequest, "Admin role cannot be assigned to resources")
		call(t, "POST", u+"/roles/remove", f.root, `{"roleId":`+admin+`}`).want(t, http.StatusBadRequest, "Admin role cannot be removed from resources")
		for _, id := range []string{foreignRole, "999999"} {
			call(t, "POST", u+"/roles/add", f.root, `{"roleId":`+id+`}`).
				want(t, http.StatusNotFound, "Role not found or does not belong to the same organization")
		}
		call(t, "POST", u+"/roles/remove", f.root, `{"roleId":0}`).want(t, http.StatusBadRequest, "roleId must be a positive integer")

		wantEmpty(t, call(t, "POST", u+"/users", f.root, `{"userIds":["acme-user"]}`).
			want(t, http.StatusCreated, "Users set for resource successfully"))
		r = call(t, "GET", u+"/users", f.root, nil).want(t, http.StatusOK, "")
		if want := `{"users":[{"userId":"acme-user","username":"acme-user","type":"internal","idpName":null,"idpId":null,` +
			`"email":"acme-user@example.com"}]}`; string(r.env.Data) != want {
			t.Fatalf("%s users %s, want %s", base, r.env.Data, want)
		}
		const notMember = "Key does not have access to one or more specified users"
		call(t, "POST", u+"/users", f.root, `{"userIds":["acme-user","globex-user"]}`).want(t, http.StatusForbidden, notMember)
		call(t, "POST", u+"/users/add", f.root, `{"userId":"acme-user"}`).want(t, http.StatusConflict, "User already assigned to resource")
		wantEmpty(t, call(t, "POST", u+"/users/remove", f.root, `{"userId":"acme-user"}`).
			want(t, http.StatusOK, "User removed from resource successfully"))
		call(t, "POST", u+"/users/remove", f.root, `{"userId":"acme-user"}`).want(t, http.StatusNotFound, "User not found in resource")
		wantEmpty(t, call(t, "POST", u+"/users/add", f.root, `{"userId":"acme-user"}`).
			want(t, http.StatusCreated, "User added to resource successfully"))
		for _, id := range []string{"globex-user", "nobody"} {
			call(t, "POST", u+"/users/add", f.root, `{"userId":"`+id+`"}`).want(t, http.StatusForbidden, notMember)
			call(t, "POST", u+"/users/remove", f.root, `{"userId":"`+id+`"}`).want(t, http.StatusForbidden, notMember)
		}
		wantEmpty(t, call(t, "POST", u+"/users", f.root, `{"userIds":[]}`).want(t, http.StatusCreated, ""))
		wantEmpty(t, call(t, "POST", u+"/roles", f.root, `{"roleIds":[]}`).want(t, http.StatusCreated, ""))
	}
	// Globex's resource kept its grants: Admin only, no users.
	var globexRoles struct {
		Roles []struct {
			Name string `json:"name"`
		} `json:"roles"`
	}
	call(t, "GET", f.url+"/v1/resource/"+f.globex["resourceId"]+"/roles", f.root, nil).want(t, http.StatusOK, "").decode(t, &globexRoles)
	if len(globexRoles.Roles) != 1 || globexRoles.Roles[0].Name != "Admin" {
		t.Fatalf("globex roles %+v", globexRoles)
	}
}
