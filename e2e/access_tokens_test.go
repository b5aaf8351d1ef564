package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// keysOf returns the member names of a JSON object, in order.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// Access tokens: generate (the answer observed on 1.8, field for field),
// list by org and by resource (no hash, expired left out, total of what
// is listed), delete.
func TestAccessTokenRoutes(t *testing.T) {
	f := newFixture(t)
	resource := f.acme["resourceId"]
	r := call(t, "POST", f.url+"/v1/resource/"+resource+"/access-token", f.root, `{"validForSeconds":3600,"title":"tok"}`).
		want(t, http.StatusOK, "Resource access token generated successfully")
	if got, want := keysOf(t, r.env.Data), []string{"accessTokenId", "orgId", "resourceId", "expiresAt", "sessionLength", "title",
		"description", "createdAt", "accessToken"}; !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	var tok struct {
		AccessTokenID string  `json:"accessTokenId"`
		OrgID         string  `json:"orgId"`
		ResourceID    int64   `json:"resourceId"`
		ExpiresAt     int64   `json:"expiresAt"`
		SessionLength int64   `json:"sessionLength"`
		Title         string  `json:"title"`
		Description   *string `json:"description"`
		CreatedAt     int64   `json:"createdAt"`
		AccessToken   string  `json:"accessToken"`
	}
	r.decode(t, &tok)
	if !regexp.MustCompile(`^[a-z0-9]{8}$`).MatchString(tok.AccessTokenID) || !regexp.MustCompile(`^[a-z2-7]{26}$`).MatchString(tok.AccessToken) ||
		tok.OrgID != "acme" || itoa(tok.ResourceID) != resource || tok.SessionLength != 3600000 || tok.Title != "tok" ||
		tok.Description != nil || tok.ExpiresAt != tok.CreatedAt+3600000 || tok.CreatedAt < 1700000000000 {
		t.Fatalf("generated %s", r.env.Data)
	}
	// The alias, and a token that expires in a second.
	call(t, "POST", f.url+"/v1/public-resource/"+resource+"/access-token", f.root, `{"validForSeconds":1}`).want(t, http.StatusOK, "")

	type list struct {
		AccessTokens []json.RawMessage `json:"accessTokens"`
		Pagination   struct {
			Total  int `json:"total"`
			Limit  int `json:"limit"`
			Offset int `json:"offset"`
		} `json:"pagination"`
	}
	get := func(path string) list {
		t.Helper()
		var l list
		call(t, "GET", f.url+path, f.root, nil).want(t, http.StatusOK, "Access tokens retrieved successfully").decode(t, &l)
		return l
	}
	for _, path := range []string{"/v1/org/acme/access-tokens", "/v1/resource/" + resource + "/access-tokens", "/v1/public-resource/" + resource + "/access-tokens"} {
		l := get(path)
		if len(l.AccessTokens) < 2 || l.Pagination.Total != len(l.AccessTokens) || l.Pagination.Limit != 1000 || l.Pagination.Offset != 0 {
			t.Fatalf("%s: %+v", path, l)
		}
		if got, want := keysOf(t, l.AccessTokens[0]), []string{"accessTokenId", "orgId", "resourceId", "sessionLength", "expiresAt",
			"title", "description", "createdAt", "resourceName", "siteName"}; !slices.Equal(got, want) {
			t.Fatalf("%s: keys %v, want %v (never tokenHash)", path, got, want)
		}
	}
	// The fixture's token, this one, and the short one until it expires.
	eventually(t, "the short-lived token to leave the lists", func() bool {
		return get("/v1/org/acme/access-tokens").Pagination.Total == 2
	})
	var item struct {
		ResourceName string  `json:"resourceName"`
		SiteName     *string `json:"siteName"`
	}
	l := get("/v1/resource/" + resource + "/access-tokens?limit=1&offset=1")
	if len(l.AccessTokens) != 1 || l.Pagination.Total != 2 || l.Pagination.Limit != 1 || l.Pagination.Offset != 1 {
		t.Fatalf("second page: %+v", l)
	}
	if err := json.Unmarshal(l.AccessTokens[0], &item); err != nil || item.ResourceName != "acme-web" || item.SiteName == nil || *item.SiteName != "acme-site" {
		t.Fatalf("names: %s", l.AccessTokens[0])
	}
	if g := get("/v1/org/globex/access-tokens"); g.Pagination.Total != 1 {
		t.Fatalf("globex tokens: %+v", g)
	}

	for body, msg := range map[string]string{
		`{"validForSeconds":0}`:           "validForSeconds must be a positive integer",
		`{"validForSeconds":"60"}`:        `Expected integer, received string at "validForSeconds"`,
		`{"validForSeconds":99999999999}`: "at most 3155760000",
		`{"title":1}`:                     `Expected string, received number at "title"`,
		`{"path":"/x"}`:                   "'path'",
	} {
		call(t, "POST", f.url+"/v1/resource/"+resource+"/access-token", f.root, body).want(t, http.StatusBadRequest, msg)
	}

	r = call(t, "DELETE", f.url+"/v1/access-token/"+tok.AccessTokenID, f.root, nil).want(t, http.StatusOK, "Resource access token deleted successfully")
	if string(r.env.Data) != "null" {
		t.Fatalf("data %s", r.env.Data)
	}
	call(t, "DELETE", f.url+"/v1/access-token/"+tok.AccessTokenID, f.root, nil).
		want(t, http.StatusNotFound, "Access token with ID "+tok.AccessTokenID+" not found")
	if l := get("/v1/org/acme/access-tokens"); l.Pagination.Total != 1 {
		t.Fatalf("after delete: %+v", l)
	}

	// An org key: its org's tokens with the actions, not another org's.
	keyID, key := createOrgKey(t, f.url, f.root, "acme", "tokens")
	call(t, "POST", f.url+"/v1/org/acme/api-key/"+keyID+"/actions", f.root,
		map[string]any{"actionIds": []string{"listAccessTokens", "deleteAcessToken"}}).want(t, http.StatusOK, "")
	eventually(t, "the granted actions", func() bool {
		return call(t, "GET", f.url+"/v1/org/acme/access-tokens", key, nil).status == http.StatusOK
	})
	call(t, "GET", f.url+"/v1/org/globex/access-tokens", key, nil).want(t, http.StatusForbidden, "organization globex")
	call(t, "DELETE", f.url+"/v1/access-token/"+f.globex["accessTokenId"], key, nil).
		want(t, http.StatusNotFound, "Access token with ID "+f.globex["accessTokenId"]+" not found")
	call(t, "POST", f.url+"/v1/resource/"+resource+"/access-token", key, `{}`).want(t, http.StatusForbidden, "generateAccessToken")
	call(t, "DELETE", f.url+"/v1/access-token/"+f.acme["accessTokenId"], key, nil).want(t, http.StatusOK, "")
}
