package e2e

import (
	"testing"
)

// GET /resource/{id} and its /public-resource alias answer the resource
// with its site's name; the org key of the resource's org reads it too.
func TestGetResource(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/v1/resource/", "/v1/public-resource/"} {
		var got map[string]any
		call(t, "GET", f.url+path+f.acme["resourceId"], f.root, nil).want(t, 200, "Resource retrieved successfully").decode(t, &got)
		if got["name"] != "acme-web" || got["siteName"] != "acme-site" || got["fullDomain"] != "acme.example.com" ||
			got["orgId"] != "acme" || got["http"] != true || got["proxyPort"] != nil {
			t.Fatalf("%s: %v", path, got)
		}
	}
	call(t, "GET", f.url+"/v1/resource/999999", f.root, nil).want(t, 404, "Resource with ID 999999 not found")
}
