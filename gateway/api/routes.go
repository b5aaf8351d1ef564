package api

import (
	"net/http"
	"slices"
)

// Routes is every endpoint of the API, in the order they are registered.
// Each domain declares its own in its file.
var Routes = slices.Concat(healthRoutes, orgRoutes, siteRoutes, keyRoutes)

// Health is the answer of GET /v1/ (no envelope, as in Pangolin).
type Health struct {
	Message string `json:"message"`
}

var healthRoutes = []Route{
	{
		Method: http.MethodGet, Path: "/", Scope: Public, Tag: "Health",
		Summary: "Health check (no key needed; answers without the envelope)",
		Status:  http.StatusOK, Bare: true, Response: Health{},
		Handle: func(*Handlers, *Request) (any, error) { return Health{Message: "Healthy"}, nil },
	},
}
