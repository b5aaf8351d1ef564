package api

import "net/http"

// The Idempotency-Key request header, served by the gateway's idempotency
// middleware and documented with the 422 it can answer.
const (
	IdempotencyHeader = "Idempotency-Key"
	MaxIdempotencyKey = 255
)

// IdempotentMethod reports whether requests of method honour an
// Idempotency-Key: the writes (GET needs none).
func IdempotentMethod(method string) bool {
	return method == http.MethodPut || method == http.MethodPost || method == http.MethodDelete
}
