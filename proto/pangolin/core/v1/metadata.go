package corev1

// gRPC metadata of the gateway-core link: part of the contract, beside the
// messages.
const (
	// MetadataToken carries "Bearer <core.token>" on every call: it
	// authenticates the gateway to the core.
	MetadataToken = "authorization"
	// MetadataKeyID carries the id of the API key the gateway authenticated;
	// the core derives the caller's tenancy from it.
	MetadataKeyID = "x-pangolin-api-key-id"
	// MetadataRequestID carries the request's X-Request-Id: the core's log
	// lines and audit records of the call carry it too.
	MetadataRequestID = "x-request-id"
	// MetadataClient, MetadataMethod and MetadataPath describe the HTTP
	// request behind a call for its audit record: the client's address (as
	// server.trust_proxy makes it), the HTTP method and the path without
	// its query string.
	MetadataClient = "x-pangolin-client"
	MetadataMethod = "x-pangolin-method"
	MetadataPath   = "x-pangolin-path"
)
