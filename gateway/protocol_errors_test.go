package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"pangolin-gateway/config"
)

// Issue 7, item 8: the answers net/http writes before any handler runs
// (an oversized header's 431 above all) are the JSON envelope too, not
// plain text.
func TestServerErrorsAreTheEnvelope(t *testing.T) {
	g := testGateway(t, func(c *config.Config) { c.Server.ShutdownDelay = 0 })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	for _, c := range []struct {
		name, request string
		status        int
		message       string
	}{
		{"oversized header", "GET /v1/orgs HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n",
			431, "Request Header Fields Too Large"},
		{"malformed header", "GET /v1/orgs HTTP/1.1\r\nHost: gw\r\nno colon here\r\n\r\n", 400, "Bad Request"},
		{"two hosts", "GET /v1/orgs HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Bad Request"},
		{"bad host", "GET /v1/orgs HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Bad Request: malformed Host header"},
		{"unknown transfer encoding", "POST /v1/org HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: zip\r\n\r\n", 501, "Unsupported transfer encoding"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", lis.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(conn, c.request) // the server may answer before it has read it all
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			var env struct {
				Data    *json.RawMessage `json:"data"`
				Success bool             `json:"success"`
				Error   bool             `json:"error"`
				Message string           `json:"message"`
				Status  int              `json:"status"`
			}
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("%d answer is not JSON: %q", res.StatusCode, raw)
			}
			if res.StatusCode != c.status || env.Status != c.status || !env.Error || env.Success || env.Data != nil ||
				!strings.Contains(env.Message, c.message) || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("got %d %v: %s", res.StatusCode, res.Header, raw)
			}
		})
	}
	// Ordinary answers pass through untouched.
	code, body, err := get(t, http.DefaultClient, "http://"+lis.Addr().String()+"/v1/nope")
	if err != nil || code != 404 || !strings.Contains(body, `"Route not found: GET /v1/nope"`) {
		t.Fatalf("unknown route: %d %s %v", code, body, err)
	}
}
