package gateway

import (
	"github.com/gin-gonic/gin"
	"google.golang.org/grpc/metadata"

	"pangolin-gateway/internal/requestid"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// requestIDHeader names the request's id in both directions.
const requestIDHeader = "X-Request-Id"

// requestID gives every request an id: the client's X-Request-Id when it
// is a sane token (so a caller can follow its own ids through our logs),
// else a new one. Every answer carries it, every log line written with the
// request's context carries it, and every core call made for the request
// sends it, with what the call's audit record needs to know of the HTTP
// request: the client's address (as server.trust_proxy makes it), the
// method and the path (never the query, a header or the body).
func requestID(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !requestid.Sane(id) {
		id = requestid.New()
	}
	c.Writer.Header()[requestIDHeader] = []string{id}
	ctx := requestid.With(c.Request.Context(), id)
	ctx = metadata.AppendToOutgoingContext(ctx,
		corev1.MetadataRequestID, id,
		corev1.MetadataClientAddress, c.ClientIP(),
		corev1.MetadataMethod, c.Request.Method,
		corev1.MetadataPath, auditPath(c))
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// maxAuditPath bounds the path a record keeps.
const maxAuditPath = 1024

// auditPath is the request's path as the client wrote it (escaped, so
// plain ASCII as gRPC metadata must be), cut to maxAuditPath.
func auditPath(c *gin.Context) string {
	p := c.Request.URL.EscapedPath()
	if len(p) > maxAuditPath {
		p = p[:maxAuditPath]
	}
	return p
}
