package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pangolin-gateway/core"
)

// The flood of BenchmarkAuthUnderFlood: 300 concurrent clients, each from
// its own address, each sending a made-up key id every floodEvery (about
// 1500 requests/s in all).
const (
	floodWorkers = 300
	floodEvery   = 200 * time.Millisecond
)

// BenchmarkAuthUnderFlood shows, side by side in one run, what a flood of
// made-up key ids does to legitimate traffic, over HTTP against the real
// core (SQLite, gRPC) with Redis:
//
//	cached:          requests/s of a cached key (GET /v1/orgs, 8 clients),
//	                 in windows alternating without and with the flood
//	                 (alternating cancels the drift of a shared machine)
//	uncached/quiet,
//	uncached/flood:  latency of never-used valid keys (a core Verify each)
//
//	go test -run '^$' -bench AuthUnderFlood -benchtime 2s ./e2e/
func BenchmarkAuthUnderFlood(b *testing.B) {
	s := floodStack(b)
	url := s.url + "/v1/orgs"
	ctx := context.Background()

	// The flood runs while on is set; its workers idle otherwise.
	var on atomic.Bool
	floodCtx, stopFlood := context.WithCancel(ctx)
	next := madeUp()
	attacks, waitFlood := flood(floodCtx, floodWorkers, floodEvery, url, func() (string, string) {
		for !on.Load() && floodCtx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		return next()
	})
	b.Cleanup(func() { stopFlood(); waitFlood() })
	checkFlood := func(b *testing.B) {
		if want := fmt.Sprintf("%d Invalid API key", http.StatusUnauthorized); attacks.counts()[want] != int(attacks.total.Load()) {
			b.Fatalf("flood answers: %s; want every one %q", attacks, want)
		}
	}
	// setFlood switches the flood and lets it settle.
	setFlood := func(v bool) {
		on.Store(v)
		time.Sleep(floodEvery / 2)
	}

	var kept float64
	b.Run("cached", func(b *testing.B) {
		client := floodClient()
		if a := ask(client, url, "192.0.2.1", s.root); a.status != http.StatusOK {
			b.Fatalf("cached key: %d %v", a.status, a.err)
		}
		var served, failed atomic.Int64
		loadCtx, stopLoad := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for loadCtx.Err() == nil {
					if a := ask(client, url, "192.0.2.1", s.root); a.status == http.StatusOK {
						served.Add(1)
					} else if loadCtx.Err() == nil {
						failed.Add(1)
					}
				}
			})
		}
		const window = 400 * time.Millisecond
		measure := func(flooding bool) (cached, attack int64, took time.Duration) {
			setFlood(flooding)
			c0, a0, t0 := served.Load(), attacks.total.Load(), time.Now()
			time.Sleep(window)
			return served.Load() - c0, attacks.total.Load() - a0, time.Since(t0)
		}
		var quiet, loud, attack int64
		var quietT, loudT time.Duration
		for b.Loop() {
			n, _, d := measure(false)
			quiet, quietT = quiet+n, quietT+d
			n, a, d := measure(true)
			loud, attack, loudT = loud+n, attack+a, loudT+d
		}
		stopLoad()
		wg.Wait()
		setFlood(false)
		checkFlood(b)
		if failed.Load() > 0 {
			b.Fatalf("%d cached-key requests failed", failed.Load())
		}
		quietRate, loudRate := float64(quiet)/quietT.Seconds(), float64(loud)/loudT.Seconds()
		kept = 100 * loudRate / quietRate
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(quietRate, "quiet-req/s")
		b.ReportMetric(loudRate, "flood-req/s")
		b.ReportMetric(kept, "kept-%")
		b.ReportMetric(float64(attack)/loudT.Seconds(), "attack-req/s")
	})

	var p99 [2]float64
	for i, under := range []string{"quiet", "flood"} {
		b.Run("uncached/"+under, func(b *testing.B) {
			// Never-used keys, made before the clock runs (argon2id hashing).
			keys := make([]core.CreatedKey, b.N)
			for j := range keys {
				k, err := s.svc.CreateRootKey(ctx, "uncached", core.Actions)
				if err != nil {
					b.Fatal(err)
				}
				keys[j] = k
			}
			client := floodClient()
			setFlood(under == "flood")
			a0, t0 := attacks.total.Load(), time.Now()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for _, k := range keys {
				start := time.Now()
				if a := ask(client, url, "192.0.2.2", k.Token()); a.status != http.StatusOK {
					b.Fatalf("never-used valid key: %d %q %v", a.status, a.env.Message, a.err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			attack := float64(attacks.total.Load()-a0) / time.Since(t0).Seconds()
			setFlood(false)
			checkFlood(b)
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / 1e6
			}
			p99[i] = ms(0.99)
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
			if under == "flood" {
				b.ReportMetric(attack, "attack-req/s")
			}
		})
	}
	if kept > 0 && p99[1] > 0 {
		fmt.Printf("under a flood of made-up key ids from %d clients: cached keys keep %.0f%% of their throughput; a never-used valid key authenticates with p99 %.0f ms (%.0f ms without the flood)\n",
			floodWorkers, kept, p99[1], p99[0])
	}
}
