package api

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// Wildcards are named by position, and each contract name maps back to
// its gin name.
func TestGinPath(t *testing.T) {
	for in, want := range map[string]struct {
		path   string
		params map[string]string
	}{
		"/orgs":                                {"/orgs", map[string]string{}},
		"/org/{orgId}":                         {"/org/:p2", map[string]string{"orgId": "p2"}},
		"/org/{orgId}/site/{niceId}":           {"/org/:p2/site/:p4", map[string]string{"orgId": "p2", "niceId": "p4"}},
		"/org/{orgId}/site/{siteId}/resources": {"/org/:p2/site/:p4/resources", map[string]string{"orgId": "p2", "siteId": "p4"}},
	} {
		path, params := ginPath(in)
		if path != want.path || !maps.Equal(params, want.params) {
			t.Errorf("ginPath(%q) = %q %v, want %q %v", in, path, params, want.path, want.params)
		}
	}
}

// Two contract paths that name the parameter of one position differently
// (GET /org/{orgId}/site/{niceId} and /org/{orgId}/site/{siteId}/resources)
// live in one gin tree, and each handler reads its own names: gin panics
// on the contract's names used as they are.
func TestGinPathsWithDifferentNamesShareATree(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	got := map[string]string{}
	for _, p := range []string{"/org/{orgId}/site/{niceId}", "/org/{orgId}/site/{siteId}/resources", "/org/{orgId}/site-resources"} {
		path, params := ginPath(p)
		r.GET(path, func(c *gin.Context) {
			for name, param := range params {
				got[p+" "+name] = c.Param(param)
			}
		})
	}
	for _, url := range []string{"/org/acme/site/edge-1", "/org/acme/site/7/resources", "/org/globex/site-resources"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", url, w.Code)
		}
	}
	want := map[string]string{
		"/org/{orgId}/site/{niceId} orgId":            "acme",
		"/org/{orgId}/site/{niceId} niceId":           "edge-1",
		"/org/{orgId}/site/{siteId}/resources orgId":  "acme",
		"/org/{orgId}/site/{siteId}/resources siteId": "7",
		"/org/{orgId}/site-resources orgId":           "globex",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("params %v, want %v", got, want)
	}
	// The contract's own names, as gin used to get them, conflict.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("gin accepted /org/:orgId/site/:niceId beside /org/:orgId/site/:siteId/resources")
			}
		}()
		r := gin.New()
		r.GET("/org/:orgId/site/:niceId", func(*gin.Context) {})
		r.GET("/org/:orgId/site/:siteId/resources", func(*gin.Context) {})
	}()
}
