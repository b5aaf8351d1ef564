package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"pangolin-gateway/config"
)

// testGateway is a gateway whose core is unreachable: enough for what does
// not call the core (health, unknown routes, shutdown).
func testGateway(t *testing.T, mutate func(*config.Config)) *Gateway {
	t.Helper()
	cfg := config.Default()
	cfg.Flags.EnableIntegrationAPI = true
	cfg.Core.Token = strings.Repeat("t", 40)
	cfg.Core.Address = "127.0.0.1:1"
	if mutate != nil {
		mutate(&cfg)
	}
	g, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func get(t *testing.T, client *http.Client, url string) (int, string, error) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// On shutdown the gateway first fails its health route while still serving
// everything else (requests in flight and new ones) for shutdown_delay, then
// stops accepting, lets the request in flight finish, and returns nil.
func TestServeDrainsInTwoSteps(t *testing.T) {
	g := testGateway(t, func(c *config.Config) { c.Server.ShutdownDelay = 700 * time.Millisecond })
	release := make(chan struct{})
	inside := make(chan struct{}, 1)
	api := g.Handler
	g.Handler = g.drainAware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inside <- struct{}{}
			<-release
			w.Write([]byte("slow done"))
			return
		}
		api.ServeHTTP(w, r)
	}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, lis) }()
	client := &http.Client{Timeout: 5 * time.Second}

	if code, body, err := get(t, client, url+"/v1/"); err != nil || code != http.StatusOK {
		t.Fatalf("health before shutdown: %d %s %v", code, body, err)
	}
	slow := make(chan string, 1)
	go func() {
		_, body, err := get(t, client, url+"/slow")
		if err != nil {
			body = err.Error()
		}
		slow <- body
	}()
	<-inside
	cancel()

	// Draining: health 503 (both spellings), every other route still served.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, err := get(t, client, url+"/v1/")
		if err != nil {
			t.Fatalf("health while draining: %v", err)
		}
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health route still answers %d after shutdown began", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body, err := get(t, client, url+"/v1"); err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "Shutting down") {
		t.Fatalf("GET /v1 while draining: %d %s %v", code, body, err)
	}
	if code, body, err := get(t, client, url+"/v1/no-such-route"); err != nil || code != http.StatusNotFound {
		t.Fatalf("a route while draining: %d %s %v, want the 404 envelope", code, body, err)
	}
	// Each answer while draining ends its connection.
	res, err := client.Get(url + "/v1/no-such-route")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !res.Close {
		t.Fatal("an answer while draining keeps its connection alive")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned during the drain delay: %v", err)
	default:
	}

	// After the delay: no new connections, the request in flight finishes.
	deadline = time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after the drain delay")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if body := <-slow; body != "slow done" {
		t.Fatalf("in-flight request: %q", body)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// With no delay, shutdown stops accepting at once.
func TestServeWithoutDelay(t *testing.T) {
	g := testGateway(t, func(c *config.Config) { c.Server.ShutdownDelay = 0 })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, lis) }()
	client := &http.Client{Timeout: 5 * time.Second}
	if code, _, err := get(t, client, "http://"+lis.Addr().String()+"/v1/"); err != nil || code != http.StatusOK {
		t.Fatalf("health: %d %v", code, err)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}
