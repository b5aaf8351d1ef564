package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkRequest measures one authenticated read end to end in one
// process (warm key cache, SQLite core over loopback gRPC): the gateway's
// own cost plus one core call.
//
//	go test -run '^$' -bench Request -benchtime 3s ./e2e/
func BenchmarkRequest(b *testing.B) {
	s, do := benchStack(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st := do("GET", s.url+"/v1/org/acme", ""); st != http.StatusOK {
				b.Errorf("status %d", st)
				return
			}
		}
	})
}

// BenchmarkWrite measures one authenticated write end to end in one
// process (warm key cache, SQLite core over loopback gRPC): an org update,
// one write transaction (with its audit record, where the build has one).
//
//	go test -run '^$' -bench Write -benchtime 3s ./e2e/
func BenchmarkWrite(b *testing.B) {
	s, do := benchStack(b)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := `{"name":"Acme ` + strconv.FormatInt(n.Add(1), 10) + `"}`
			if st := do("POST", s.url+"/v1/org/acme", name); st != http.StatusOK {
				b.Errorf("status %d", st)
				return
			}
		}
	})
}

// benchStack is a stack with the org acme, and how to call it with the
// root key (an empty body sends none).
func benchStack(b *testing.B) (*stack, func(method, url, body string) int) {
	s := newStack(b, "")
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	do := func(method, url, body string) int {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, url, rd)
		req.Header.Set("Authorization", "Bearer "+s.root)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if st := do("PUT", s.url+"/v1/org", `{"orgId":"acme","name":"Acme","subnet":"100.90.128.0/24"}`); st != http.StatusCreated {
		b.Fatalf("create org: %d", st)
	}
	return s, do
}
