// Package api is the Integration API's HTTP surface: the route table, the
// guards every route declares, input parsing, and Pangolin's JSON envelope.
package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Envelope is Pangolin's answer shape, on success and on failure.
type Envelope struct {
	Data    any    `json:"data"`
	Success bool   `json:"success"`
	Error   bool   `json:"error"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// Error is a failure with the HTTP status and message a client sees.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, message string) *Error { return &Error{Status: status, Message: message} }

// badRequest is the most common failure: input that does not fit.
func badRequest(message string) *Error { return errorf(http.StatusBadRequest, message) }

// Reply overrides a route's declared status and message (checkId answers
// 200 or 404, both successful).
type Reply struct {
	Status  int
	Message string
	Data    any
}

func writeSuccess(c *gin.Context, status int, message string, data any) {
	c.JSON(status, Envelope{Data: data, Success: true, Message: message, Status: status})
}

func writeError(c *gin.Context, err error) {
	e := httpError(err)
	c.AbortWithStatusJSON(e.Status, Envelope{Data: nil, Error: true, Message: e.Message, Status: e.Status})
}

// httpError maps any error to what the client sees. gRPC statuses from the
// core are mapped here and only here; their messages are client-safe except
// for transport failures and internal errors, which get fixed texts.
func httpError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	st, ok := status.FromError(err)
	if !ok {
		return errorf(http.StatusInternalServerError, "An error occurred")
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return errorf(http.StatusBadRequest, st.Message())
	case codes.Unauthenticated:
		return errorf(http.StatusUnauthorized, "Invalid API key")
	case codes.PermissionDenied:
		return errorf(http.StatusForbidden, st.Message())
	case codes.NotFound:
		return errorf(http.StatusNotFound, st.Message())
	case codes.AlreadyExists:
		return errorf(http.StatusConflict, st.Message())
	case codes.FailedPrecondition:
		return errorf(http.StatusConflict, st.Message())
	case codes.ResourceExhausted:
		return errorf(http.StatusTooManyRequests, st.Message())
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return errorf(http.StatusServiceUnavailable, "Service temporarily unavailable, retry later")
	default:
		return errorf(http.StatusInternalServerError, "An error occurred")
	}
}
