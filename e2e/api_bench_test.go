package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkRequest measures one authenticated read end to end in one
// process (warm key cache, SQLite core over loopback gRPC): the gateway's
// own cost plus one core call.
//
//	go test -run '^$' -bench Request -benchtime 3s ./e2e/
func BenchmarkRequest(b *testing.B) {
	s := newStack(b, "")
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	do := func(method, url string) int {
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("Authorization", "Bearer "+s.root)
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	req, _ := http.NewRequest("PUT", s.url+"/v1/org", strings.NewReader(`{"orgId":"acme","name":"Acme","subnet":"100.90.128.0/24"}`))
	req.Header.Set("Authorization", "Bearer "+s.root)
	req.Header.Set("Content-Type", "application/json")
	if res, err := c.Do(req); err != nil || res.StatusCode != http.StatusCreated {
		b.Fatalf("create org: %v %v", res, err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st := do("GET", s.url+"/v1/org/acme"); st != http.StatusOK {
				b.Errorf("status %d", st)
				return
			}
		}
	})
}
