package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// load is a closed-loop load generator: clients workers, each sending its
// next request as soon as the previous answer is read, over kept-alive
// connections (one per worker), for a fixed time. It stops by itself.
type load struct {
	clients int
	warmup  time.Duration // run before measuring (connections, caches)
	measure time.Duration
}

// loadResult is what one or more load runs measured.
type loadResult struct {
	requests  int
	failures  int
	firstFail string
	elapsed   time.Duration
	latencies []time.Duration // every measured request, unsorted
}

// add merges r into a (runs of the same cell in several rounds).
func (a *loadResult) add(r loadResult) {
	a.requests += r.requests
	a.failures += r.failures
	if a.firstFail == "" {
		a.firstFail = r.firstFail
	}
	a.elapsed += r.elapsed
	a.latencies = append(a.latencies, r.latencies...)
}

func (a loadResult) rate() float64 {
	if a.elapsed <= 0 {
		return 0
	}
	return float64(a.requests) / a.elapsed.Seconds()
}

// percentile returns the q-quantile (0 < q ≤ 1) of the latencies.
func (a loadResult) percentile(q float64) time.Duration {
	if len(a.latencies) == 0 {
		return 0
	}
	s := slices.Clone(a.latencies)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// loadClient is an HTTP client keeping one connection per worker.
func loadClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: clients,
			MaxConnsPerHost:     clients,
			DisableCompression:  true,
		},
	}
}

// run sends GET url with the Authorization header (none when empty) from
// l.clients workers; an answer other than 200 counts as a failure.
func (l load) run(client *http.Client, url, authorization string) loadResult {
	ctx, cancel := context.WithTimeout(context.Background(), l.warmup+l.measure)
	defer cancel()
	start := time.Now()
	measureFrom := start.Add(l.warmup)
	results := make([]loadResult, l.clients)
	var wg sync.WaitGroup
	for w := range l.clients {
		wg.Go(func() {
			r := &results[w]
			r.latencies = make([]time.Duration, 0, 1<<14)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			for ctx.Err() == nil {
				t0 := time.Now()
				status, err := get(client, req)
				t1 := time.Now()
				if ctx.Err() != nil {
					break // cut off by the end of the run: not counted
				}
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil || status != http.StatusOK {
					r.failures++
					if r.firstFail == "" {
						r.firstFail = fmt.Sprintf("status %d, error %v", status, err)
					}
					continue
				}
				r.requests++
				r.latencies = append(r.latencies, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	total := loadResult{}
	for _, r := range results {
		total.add(r)
	}
	total.elapsed = l.measure
	return total
}

func get(client *http.Client, req *http.Request) (int, error) {
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, err
}
