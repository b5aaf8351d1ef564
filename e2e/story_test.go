package e2e

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"pangolin-gateway/internal/testenv"
)

// revocationDeadline is the promise of the auth path: a deleted key stops
// working on every replica within a second while the core is reachable.
const revocationDeadline = time.Second

// TestStory walks the foundation's story with the binaries as separate
// processes: one core on PostgreSQL, two gateway replicas sharing one Redis.
func TestStory(t *testing.T) {
	databaseURL := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	core := startCore(t, databaseURL)
	root := core.createRootKey(t, "e2e-root")
	a := startGateway(t, core.addr, redisURL)
	b := startGateway(t, core.addr, redisURL)

	// Root key creates org acme and org globex.
	for _, org := range []map[string]string{
		{"orgId": "acme", "name": "Acme", "subnet": "100.90.128.0/24"},
		{"orgId": "globex", "name": "Globex", "subnet": "100.90.129.0/24"},
	} {
		call(t, "PUT", a.url+"/v1/org", root, org).want(t, http.StatusCreated, "Organization created")
	}
	globexSite := call(t, "PUT", b.url+"/v1/org/globex/site", root, map[string]any{"name": "g1", "type": "local"}).
		want(t, http.StatusCreated, "Site created")
	var gsite struct {
		SiteID int64 `json:"siteId"`
	}
	globexSite.decode(t, &gsite)

	// Root key creates an org key for acme and grants it listSites and
	// createSite only.
	orgKeyID, orgKey := createOrgKey(t, a.url, root, "acme", "acme-automation")
	call(t, "POST", b.url+"/v1/org/acme/api-key/"+orgKeyID+"/actions", root,
		map[string]any{"actionIds": []string{"listSites", "createSite"}}).want(t, http.StatusOK, "actions updated")

	// The org key creates and lists sites in acme, on both replicas.
	var site struct {
		SiteID int64  `json:"siteId"`
		OrgID  string `json:"orgId"`
	}
	call(t, "PUT", a.url+"/v1/org/acme/site", orgKey, map[string]any{"name": "edge-1", "type": "newt"}).
		want(t, http.StatusCreated, "Site created").decode(t, &site)
	if site.OrgID != "acme" || site.SiteID == 0 {
		t.Fatalf("created site = %+v", site)
	}
	for _, gw := range []*gatewayProc{a, b} {
		var list struct {
			Sites []struct {
				SiteID int64 `json:"siteId"`
			} `json:"sites"`
			Pagination struct {
				Total int `json:"total"`
			} `json:"pagination"`
		}
		call(t, "GET", gw.url+"/v1/org/acme/sites", orgKey, nil).want(t, http.StatusOK, "Sites retrieved").decode(t, &list)
		if len(list.Sites) != 1 || list.Sites[0].SiteID != site.SiteID || list.Pagination.Total != 1 {
			t.Fatalf("acme sites via %s = %+v", gw.url, list)
		}
	}

	// Deleting needs deleteSite, which the key lacks: 403 naming it.
	call(t, "DELETE", a.url+"/v1/site/"+itoa(site.SiteID), orgKey, nil).want(t, http.StatusForbidden, "deleteSite")

	// Any globex route: 403, whether by org path or by object id.
	call(t, "GET", a.url+"/v1/org/globex/sites", orgKey, nil).want(t, http.StatusForbidden, "organization globex")
	call(t, "PUT", b.url+"/v1/org/globex/site", orgKey, map[string]any{"name": "x", "type": "local"}).
		want(t, http.StatusForbidden, "organization globex")
	call(t, "GET", a.url+"/v1/org/globex/pick-site-defaults", orgKey, nil).want(t, http.StatusForbidden, "organization globex")
	call(t, "GET", a.url+"/v1/org/does-not-exist/sites", orgKey, nil).want(t, http.StatusForbidden, "organization does-not-exist")
	// The object check happens in the core: grant the actions and try the
	// globex site by id.
	call(t, "POST", a.url+"/v1/org/acme/api-key/"+orgKeyID+"/actions", root,
		map[string]any{"actionIds": []string{"listSites", "createSite", "getSite", "updateSite"}}).want(t, http.StatusOK, "")
	eventually(t, "the new actions to reach replica b", func() bool {
		return call(t, "GET", b.url+"/v1/site/"+itoa(site.SiteID), orgKey, nil).status == http.StatusOK
	})
	// Another org's site answers exactly like a missing one: no oracle for
	// ids or org names of other tenants.
	notFound := "Site with ID " + itoa(gsite.SiteID) + " not found"
	call(t, "GET", b.url+"/v1/site/"+itoa(gsite.SiteID), orgKey, nil).want(t, http.StatusNotFound, notFound)
	call(t, "POST", a.url+"/v1/site/"+itoa(gsite.SiteID), orgKey, map[string]any{"name": "pwned"}).
		want(t, http.StatusNotFound, notFound)
	var still struct {
		Name string `json:"name"`
	}
	call(t, "GET", a.url+"/v1/site/"+itoa(gsite.SiteID), root, nil).want(t, http.StatusOK, "").decode(t, &still)
	if still.Name != "g1" {
		t.Fatalf("globex site renamed through an acme key: %q", still.Name)
	}

	// Root-only route.
	call(t, "GET", b.url+"/v1/orgs", orgKey, nil).want(t, http.StatusForbidden, "root")

	// Both replicas hold the org key in cache now; the root key deletes it
	// and both must answer 401 within a second. The probe is a route the key
	// lacks the action for: the gateway answers it (403) from its own cache
	// without calling the core, so the 401 proves each replica dropped its
	// cached entry (the core would refuse a deleted key on any call anyway).
	probe := func(gw *gatewayProc) reply {
		return call(t, "DELETE", gw.url+"/v1/site/"+itoa(site.SiteID), orgKey, nil)
	}
	for _, gw := range []*gatewayProc{a, b} {
		probe(gw).want(t, http.StatusForbidden, "deleteSite")
	}
	call(t, "DELETE", a.url+"/v1/org/acme/api-key/"+orgKeyID, root, nil).want(t, http.StatusOK, "deleted")
	deleted := time.Now()
	for _, gw := range []*gatewayProc{a, b} {
		for {
			r := probe(gw)
			if r.status == http.StatusUnauthorized {
				break
			}
			if time.Since(deleted) > revocationDeadline {
				t.Fatalf("%s still answers %d a second after the key was deleted", gw.url, r.status)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("deleted key refused by both replicas %v after the delete", time.Since(deleted).Round(time.Millisecond))
}

// TestAdminRevokeReachesGateways: a root key revoked on the core host with
// `pangolin-core keys revoke` stops working on a running gateway like one
// deleted through the API.
func TestAdminRevokeReachesGateways(t *testing.T) {
	core := startCore(t, "")
	gw := startGateway(t, core.addr, "")
	root := core.createRootKey(t, "to-revoke")
	// An unknown query parameter is refused by the gateway after it has
	// authenticated the key and before any core call: a 400 comes from the
	// gateway's cache, a 401 means it dropped the key.
	probe := func() int { return call(t, "GET", gw.url+"/v1/orgs?probe=1", root, nil).status }
	if got := probe(); got != http.StatusBadRequest {
		t.Fatalf("probe before the revoke = %d, want 400", got)
	}
	if err := core.admin(t, "keys", "revoke", root[:15]); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for probe() != http.StatusUnauthorized {
		if time.Since(revoked) > revocationDeadline {
			t.Fatal("a key revoked by the admin command still works a second later")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
