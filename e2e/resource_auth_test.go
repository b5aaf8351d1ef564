package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// wantEmpty fails unless the answer's data is {} (Pangolin's set calls).
func wantEmpty(t *testing.T, r reply) {
	t.Helper()
	if string(r.env.Data) != "{}" {
		t.Fatalf("data %s, want {}", r.env.Data)
	}
}

// Password, PIN code and header auth on both paths: set, remove with
// null, a missing key or a bad value is a 400 naming the field.
func TestResourceSecretsRoutes(t *testing.T) {
	f := newFixture(t)
	for _, base := range []string{"/v1/resource/", "/v1/public-resource/"} {
		t.Run(base, func(t *testing.T) {
			url := f.url + base + f.acme["resourceId"]
			for _, c := range []struct {
				path, msg  string
				set, unset string
				bad        map[string]string // body → what the 400 names
			}{
				{"/password", "Resource password set successfully", `{"password":"correct-horse"}`, `{"password":null}`,
					map[string]string{`{}`: `Required at "password"`, `{"password":"abc"}`: "password must be 4-100 characters",
						`{"password":1234}`: `Expected string, received number at "password"`, `{"password":null,"x":1}`: "'x'"}},
				{"/pincode", "Resource PIN code set successfully", `{"pincode":"012345"}`, `{"pincode":null}`,
					map[string]string{`{}`: `Required at "pincode"`, `{"pincode":"12345"}`: "pincode must be exactly 6 digits",
						`{"pincode":123456}`: `Expected string, received number at "pincode"`}},
				{"/header-auth", "Header Authentication set successfully",
					`{"user":"robot","password":"correct-horse","extendedCompatibility":true}`,
					`{"user":"robot","password":null,"extendedCompatibility":false}`,
					map[string]string{`{"user":null,"password":null}`: `Required at "extendedCompatibility"`,
						`{"user":"abc","password":null,"extendedCompatibility":null}`: "user must be 4-100 characters",
						`{"user":null,"password":null,"extendedCompatibility":"yes"}`: `Expected boolean, received string at "extendedCompatibility"`}},
			} {
				wantEmpty(t, call(t, "POST", url+c.path, f.root, c.set).want(t, http.StatusCreated, c.msg))
				wantEmpty(t, call(t, "POST", url+c.path, f.root, c.unset).want(t, http.StatusCreated, c.msg))
				for body, msg := range c.bad {
					call(t, "POST", url+c.path, f.root, body).want(t, http.StatusBadRequest, msg)
				}
			}
		})
	}
	// An org key needs each action; another org's resource is a 404.
	keyID, key := createOrgKey(t, f.url, f.root, "acme", "auth")
	call(t, "POST", f.url+"/v1/org/acme/api-key/"+keyID+"/actions", f.root, map[string]any{"actionIds": []string{"setResourcePassword"}}).
		want(t, http.StatusOK, "")
	eventually(t, "the granted action", func() bool {
		return call(t, "POST", f.url+"/v1/resource/"+f.acme["resourceId"]+"/password", key, `{"password":null}`).status == http.StatusCreated
	})
	call(t, "POST", f.url+"/v1/resource/"+f.acme["resourceId"]+"/pincode", key, `{"pincode":null}`).
		want(t, http.StatusForbidden, "setResourcePincode")
	call(t, "POST", f.url+"/v1/resource/"+f.globex["resourceId"]+"/password", key, `{"password":null}`).
		want(t, http.StatusNotFound, "Resource with ID "+f.globex["resourceId"]+" not found")
}

// The whitelist: refused while disabled; set (lower-cased, diff
// replace), get, add and remove, on both paths.
func TestResourceWhitelistRoutes(t *testing.T) {
	f := newFixture(t)
	url := f.url + "/v1/resource/" + f.acme["resourceId"]
	// As observed on 1.8: a new resource's whitelist is empty.
	r := call(t, "GET", url+"/whitelist", f.root, nil).want(t, http.StatusOK, "Resource whitelist retrieved successfully")
	if string(r.env.Data) != `{"whitelist":[]}` {
		t.Fatalf("data %s", r.env.Data)
	}
	// The fixture turns the whitelist on; off, the whitelist cannot be set.
	call(t, "POST", url, f.root, `{"emailWhitelistEnabled":false}`).want(t, http.StatusOK, "")
	call(t, "POST", url+"/whitelist", f.root, `{"emails":["ann@example.com"]}`).
		want(t, http.StatusBadRequest, "Email whitelist is not enabled for this resource")
	call(t, "POST", url+"/whitelist/add", f.root, `{"email":"ann@example.com"}`).
		want(t, http.StatusBadRequest, "Email whitelist is not enabled for this resource")

	// A resource with its whitelist on (no update route in this branch:
	// straight in the store).
	res, err := f.svc.Store().CreateResource(context.Background(), &corev1.Resource{
		OrgId: "acme", NiceId: "acme-private", ResourceGuid: "acme-private", Name: "private", Protocol: "tcp", Http: true,
		Sso: true, Enabled: true, EmailWhitelistEnabled: true, FullDomain: proto.String("private.example.com"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(res.GetResourceId(), 10)
	list := func(base string) string {
		t.Helper()
		return string(call(t, "GET", f.url+base+id+"/whitelist", f.root, nil).want(t, http.StatusOK, "").env.Data)
	}
	for _, base := range []string{"/v1/resource/", "/v1/public-resource/"} {
		u := f.url + base + id
		wantEmpty(t, call(t, "POST", u+"/whitelist", f.root, `{"emails":["Ann@Example.com","*@Example.org","ann@example.com"]}`).
			want(t, http.StatusCreated, "Whitelist set for resource successfully"))
		if got := list(base); got != `{"whitelist":[{"email":"ann@example.com"},{"email":"*@example.org"}]}` {
			t.Fatalf("%s: %s", base, got)
		}
		wantEmpty(t, call(t, "POST", u+"/whitelist/add", f.root, `{"email":"Bob@example.com"}`).
			want(t, http.StatusCreated, "Email added to whitelist successfully"))
		call(t, "POST", u+"/whitelist/add", f.root, `{"email":"bob@example.com"}`).want(t, http.StatusConflict, "Email already exists in whitelist")
		wantEmpty(t, call(t, "POST", u+"/whitelist/remove", f.root, `{"email":"ann@example.com"}`).
			want(t, http.StatusOK, "Email removed from whitelist successfully"))
		call(t, "POST", u+"/whitelist/remove", f.root, `{"email":"ann@example.com"}`).want(t, http.StatusNotFound, "Email not found in whitelist")
		if got := list(base); got != `{"whitelist":[{"email":"*@example.org"},{"email":"bob@example.com"}]}` {
			t.Fatalf("%s: %s", base, got)
		}
		wantEmpty(t, call(t, "POST", u+"/whitelist", f.root, `{"emails":[]}`).want(t, http.StatusCreated, ""))
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = "u" + strconv.Itoa(i) + "@example.com"
	}
	body, _ := json.Marshal(map[string]any{"emails": many})
	for b, msg := range map[string]string{
		string(body): "at most 50",
		`{"emails":["ann@example.com","a*@example.com"]}`: `"emails[1]"`,
		`{"emails":"ann@example.com"}`:                    `Expected array, received string at "emails"`,
		`{}`:                                              `Required at "emails"`,
	} {
		call(t, "POST", f.url+"/v1/resource/"+id+"/whitelist", f.root, b).want(t, http.StatusBadRequest, msg)
	}
	call(t, "POST", f.url+"/v1/resource/"+id+"/whitelist/add", f.root, `{"email":"*.x@example.com"}`).want(t, http.StatusBadRequest, `"email"`)
	if got := list("/v1/resource/"); got != `{"whitelist":[]}` {
		t.Fatalf("refused calls changed the whitelist: %s", got)
	}
}
