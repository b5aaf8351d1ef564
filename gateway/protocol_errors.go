package gateway

import (
	"bytes"
	"net"
	"net/http"
	"strconv"

	"pangolin-gateway/gateway/api"
)

// envelopeListener makes the answers net/http writes by itself, before any
// handler runs, Pangolin's JSON envelope like every other answer: 431 for
// headers over MaxHeaderBytes, 400 for a malformed request, 501 for an
// unknown transfer encoding. net/http writes each as plain text in one
// Write on the connection, with headers no handler's answer has in that
// order (a ResponseWriter sorts them: Connection before Content-Type), so
// the connection can tell them apart and send the envelope instead.
type envelopeListener struct{ net.Listener }

func (l envelopeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return envelopeConn{c}, nil
}

type envelopeConn struct{ net.Conn }

// plainErrorHeaders follow the status line of net/http's own errors.
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c envelopeConn) Write(p []byte) (int, error) {
	status, message, ok := plainError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	body := api.ErrorBody(status, message)
	head := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) +
		"\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nContent-Type: application/json; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\r\n"
	if _, err := c.Conn.Write(append([]byte(head), body...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite keeps net/http's half-close after a 431 (it lets the client
// read the answer before the connection resets).
func (c envelopeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// plainError recognizes "HTTP/1.1 431 Request Header Fields Too Large" +
// plainErrorHeaders + "431 Request Header Fields Too Large" and returns
// the status and the text after it.
func plainError(p []byte) (int, string, bool) {
	const prefix = "HTTP/1.1 "
	if len(p) < len(prefix)+3 || string(p[:len(prefix)]) != prefix || (p[len(prefix)] != '4' && p[len(prefix)] != '5') {
		return 0, "", false
	}
	eol := bytes.IndexByte(p, '\r')
	if eol < 0 || !bytes.HasPrefix(p[eol:], []byte(plainErrorHeaders)) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(p[len(prefix) : len(prefix)+3]))
	if err != nil {
		return 0, "", false
	}
	text := p[eol+len(plainErrorHeaders):]
	text = bytes.TrimPrefix(text, []byte(strconv.Itoa(status)+" "))
	return status, string(text), true
}
