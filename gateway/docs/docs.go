// Package docs serves what describes the API, beside it under /v1: the
// OpenAPI 3.0 spec the gateway builds from the contract at start
// (/v1/openapi.json, and the same as YAML at /v1/openapi.yaml, as newer
// Pangolin serves them), and the Swagger UI that reads it (/v1/docs/),
// whose assets are compiled in: the page loads nothing from elsewhere.
// `make docs` writes a copy of the spec to docs/openapi.json for readers
// and tools (a test keeps it fresh).
package docs

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	swaggerFiles "github.com/swaggo/files"
	ginSwagger "github.com/swaggo/gin-swagger"

	"pangolin-gateway/gateway/api"
)

// Mount serves the spec and the Swagger UI on g (the /v1 group). None of
// them needs a key: the spec says what the API does, never what it holds.
func Mount(g *gin.RouterGroup) error {
	spec, err := api.OpenAPI()
	if err != nil {
		return err
	}
	yaml, err := api.OpenAPIYAML()
	if err != nil {
		return err
	}
	g.GET("/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json; charset=utf-8", spec) })
	g.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml; charset=utf-8", yaml) })

	ui := ginSwagger.CustomWrapHandler(&ginSwagger.Config{
		URL:                      "/v1/openapi.json",
		Title:                    api.Title,
		DocExpansion:             "list",
		DeepLinking:              true,
		DefaultModelsExpandDepth: 1,
		// The key typed into Authorize stays in the page's memory: a
		// root key must not sit in the browser's localStorage in clear.
		PersistAuthorization: false,
	}, swaggerFiles.Handler)
	g.GET("/docs", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/v1/docs/") })
	g.GET("/docs/*any", func(c *gin.Context) {
		// The Swagger 2.0 spec that was served here is gone (see the
		// README): tools that read it get the OpenAPI 3.0 one.
		if strings.TrimPrefix(c.Param("any"), "/") == "doc.json" {
			c.Redirect(http.StatusMovedPermanently, "/v1/openapi.json")
			return
		}
		ui(c)
	})
	return nil
}
