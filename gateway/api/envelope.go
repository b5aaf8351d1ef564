// Package api is the Integration API's HTTP surface, built from the
// contract's descriptors (proto/contract): the router, the guards, the
// binder (path, query and body into the request message), the call on the
// core, and the answer in Pangolin's JSON envelope. No code here knows a
// route: each is declared once, in proto/, and hooks.go lists the few
// Pangolin quirks the declarations cannot say.
package api

import (
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failure with the HTTP status and message a client sees.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, message string) *Error { return &Error{Status: status, Message: message} }

// badRequest is the most common failure: input that does not fit.
func badRequest(message string) *Error { return errorf(http.StatusBadRequest, message) }

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

// ErrorBody is Pangolin's error envelope:
// {"data":null,"success":false,"error":true,"message":…,"status":…}.
func ErrorBody(status int, message string) []byte {
	return appendError(nil, status, message)
}

func appendError(b []byte, status int, message string) []byte {
	b = append(b, `{"data":null,"success":false,"error":true,"message":`...)
	b = appendString(b, message)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, '}')
}

// successTail is the envelope after its data, the same for every answer of
// an operation: built once.
func successTail(status int, message string) []byte {
	b := []byte(`,"success":true,"error":false,"message":`)
	b = appendString(b, message)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, '}')
}

// Abort answers with the error envelope and stops the handler chain. A 401
// names the scheme the key is sent with (RFC 9110 requires the challenge;
// clients use it to tell a key problem from other failures).
func Abort(c *gin.Context, status int, message string) {
	if status == http.StatusUnauthorized {
		c.Writer.Header()["Www-Authenticate"] = bearerChallenge
	}
	buf := getBuffer()
	*buf = appendError(*buf, status, message)
	writeJSON(c, status, *buf)
	putBuffer(buf)
	c.Abort()
}

func writeError(c *gin.Context, err error) {
	e := httpError(err)
	Abort(c, e.Status, e.Message)
}

// NotFound answers unknown routes with the envelope, key or no key.
func NotFound(c *gin.Context) {
	Abort(c, http.StatusNotFound, "Route not found: "+c.Request.Method+" "+c.Request.URL.Path)
}

var (
	jsonContentType = []string{"application/json; charset=utf-8"}
	bearerChallenge = []string{"Bearer"}
)

func writeJSON(c *gin.Context, status int, body []byte) {
	c.Writer.Header()["Content-Type"] = jsonContentType
	c.Writer.WriteHeader(status)
	c.Writer.Write(body)
}

// Answers are written into pooled buffers in one pass; a buffer that grew
// past maxPooled (a long list) is left to the GC rather than kept.
const maxPooled = 64 << 10

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooled {
		return
	}
	*b = (*b)[:0]
	buffers.Put(b)
}
