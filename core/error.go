// Package core holds the Pangolin domain: one service per aggregate (orgs,
// sites, keys), whose types are the contract's proto messages, with its
// rules and the storage each service needs. It knows neither HTTP nor SQL;
// rpc/ serves it over gRPC and enforces each method's access rule, and
// sqlstore/ persists it.
package core

import (
	"errors"
	"fmt"
)

// Code classifies an Error so that transports can map it once
// (gRPC status codes in rpc/, HTTP statuses in the gateway).
type Code int

const (
	CodeInternal Code = iota
	CodeInvalid
	CodeNotFound
	CodeConflict
	CodeForbidden
	CodeUnauthenticated
	CodeUnavailable
	CodeExhausted
)

// Error is an error whose message is safe to show to API clients.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with a client-safe message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, CodeInternal for errors that are not *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
