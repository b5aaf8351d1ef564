package e2e

import (
	"net/http"
	"testing"
)

// POST /org/{orgId}/reset-bandwidth: declared in the contract only; the
// gateway serves it with no code of its own.
func TestResetBandwidth(t *testing.T) {
	s := newStack(t, "")
	call(t, "PUT", s.url+"/v1/org", s.root, map[string]string{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"}).
		want(t, http.StatusCreated, "")
	call(t, "POST", s.url+"/v1/org/acme/reset-bandwidth", s.root, nil).want(t, http.StatusNotFound, "No sites found in org acme")
	call(t, "PUT", s.url+"/v1/org/acme/site", s.root, map[string]string{"name": "edge", "type": "local"}).
		want(t, http.StatusCreated, "")
	r := call(t, "POST", s.url+"/v1/org/acme/reset-bandwidth", s.root, nil).want(t, http.StatusOK, "Sites bandwidth reset successfully")
	if string(r.env.Data) != "{}" {
		t.Fatalf("data %s, want {}", r.env.Data)
	}
	// An org key needs the org and the action.
	keyID, key := createOrgKey(t, s.url, s.root, "acme", "k")
	call(t, "POST", s.url+"/v1/org/acme/reset-bandwidth", key, nil).want(t, http.StatusForbidden, "resetSiteBandwidth")
	call(t, "POST", s.url+"/v1/org/acme/api-key/"+keyID+"/actions", s.root, map[string]any{"actionIds": []string{"resetSiteBandwidth"}}).
		want(t, http.StatusOK, "")
	eventually(t, "the granted action", func() bool {
		return call(t, "POST", s.url+"/v1/org/acme/reset-bandwidth", key, nil).status == http.StatusOK
	})
	call(t, "POST", s.url+"/v1/org/globex/reset-bandwidth", key, nil).want(t, http.StatusForbidden, "organization globex")
}
