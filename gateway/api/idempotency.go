package api

import "net/http"

// The Idempotency-Key request header (served by the gateway's idempotency
// middleware; documented on every route it applies to).
const (
	IdempotencyHeader = "Idempotency-Key"
	MaxIdempotencyKey = 255
)

// IdempotentMethod reports whether requests of method honour an
// Idempotency-Key: the writes (GET needs none).
func IdempotentMethod(method string) bool {
	return method == http.MethodPut || method == http.MethodPost || method == http.MethodDelete
}
