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
	// MetadataClientAddress carries the address of the client that sent
	// the request, as server.trust_proxy makes of it: the core refuses a
	// key whose allow list does not hold it.
	MetadataClientAddress = "x-pangolin-client-address"
	// MetadataRequestID carries the request's X-Request-Id: the core's log
	// lines and audit records of the call carry it too.
	MetadataRequestID = "x-request-id"
	// MetadataMethod and MetadataPath describe the HTTP request behind a
	// call for its audit record (with MetadataClientAddress): the HTTP
	// method and the path without its query string.
	MetadataMethod = "x-pangolin-method"
	MetadataPath   = "x-pangolin-path"
)
