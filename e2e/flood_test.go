package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/internal/testenv"
)

// floodClient keeps a connection per flooding worker, as real attackers'
// clients would, instead of opening one per request.
func floodClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000}}
}

// answer is one reply, read without failing the test (floods run in
// goroutines).
type answer struct {
	status int
	env    envelope
	err    error
}

func ask(client *http.Client, url, clientAddr, token string) answer {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Forwarded-For", clientAddr)
	res, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{err: err}
	}
	a := answer{status: res.StatusCode}
	if err := json.Unmarshal(raw, &a.env); err != nil {
		a.err = fmt.Errorf("answer is not the envelope: %s", raw)
	}
	return a
}

// randomAddr is a client address in 10.0.0.0/8.
func randomAddr() string {
	return fmt.Sprintf("10.%d.%d.%d", rand.N(256), rand.N(256), 1+rand.N(254))
}

// randomToken is a well-formed key for a key id that does not exist.
func randomToken() string {
	return core.RandomID(15) + "." + core.NewKeySecret()
}

// tally counts a flood's answers. Each distinct answer is kept raw and
// decoded once when asked for, so counting costs the flooding clients
// little: their CPU is the attacker's, not the server's, but here both
// share the machine.
type tally struct {
	mu    sync.Mutex
	raw   map[string]int // "<status> <body>", or "0 <transport error>"
	total atomic.Int64
}

func (t *tally) add(status int, body []byte, err error) {
	t.mu.Lock()
	if err != nil {
		t.raw["0 "+err.Error()]++
	} else {
		t.raw[strconv.Itoa(status)+" "+string(body)]++
	}
	t.mu.Unlock()
	t.total.Add(1)
}

// counts returns the answers by "<status> <message>"; an answer that is
// not the error envelope is counted under "0 …".
func (t *tally) counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for raw, n := range t.raw {
		code, body, _ := strings.Cut(raw, " ")
		status, _ := strconv.Atoi(code)
		var env envelope
		key := "0 " + raw
		if status != 0 && json.Unmarshal([]byte(body), &env) == nil && env.Status == status && !env.Success && env.Error {
			key = code + " " + env.Message
		}
		out[key] += n
	}
	return out
}

func (t *tally) String() string { return fmt.Sprint(t.counts()) }

// flood runs workers that each send tokens from next until ctx ends, one
// request per every (0: each as soon as the last is answered), and tallies
// the answers.
func flood(ctx context.Context, workers int, every time.Duration, url string, next func() (addr, token string)) (*tally, func()) {
	t := &tally{raw: map[string]int{}}
	client := floodClient()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// Paced workers start at random phases and keep to their beat.
			at := time.Now().Add(rand.N(every + 1))
			for ctx.Err() == nil {
				if every > 0 {
					select {
					case <-time.After(time.Until(at)):
					case <-ctx.Done():
						return
					}
					at = at.Add(every)
				}
				addr, token := next()
				if every > 0 && time.Since(at) > every {
					// next held the worker up: start a new beat at a
					// random phase rather than catch up in a burst.
					at = time.Now().Add(rand.N(every + 1))
					continue
				}
				status, body, err := hit(ctx, client, url, addr, token)
				if ctx.Err() != nil && err != nil {
					return // the request was cut by the end of the flood
				}
				t.add(status, body, err)
			}
		})
	}
	return t, func() { wg.Wait(); client.CloseIdleConnections() }
}

// hit is ask without decoding the answer.
func hit(ctx context.Context, client *http.Client, url, clientAddr, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Forwarded-For", clientAddr)
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

// madeUp returns a function giving a random client address and a token of
// a key id that does not exist, from pools made in advance: the server
// sees the same as with fresh ones (unknown ids are not cached), and the
// flooding clients spend no CPU making them.
func madeUp() func() (string, string) {
	addrs, tokens := make([]string, 4096), make([]string, 4096)
	for i := range addrs {
		addrs[i], tokens[i] = randomAddr(), randomToken()
	}
	return func() (string, string) { return addrs[rand.N(len(addrs))], tokens[rand.N(len(tokens))] }
}

// floodStack is a stack whose gateway believes 127.0.0.1's X-Forwarded-For,
// so each request can say which client it comes from.
func floodStack(t testing.TB) *stack {
	return newStack(t, testenv.RedisURL(t), func(c *config.Config) {
		c.Server.TrustProxy = []string{"127.0.0.1"}
	})
}

// TestUnknownKeyFlood: 300 clients send made-up key ids, each from its own
// address, at the benchmark's pace (a flood sent as fast as possible only
// measures how much HTTP two CPUs serve, and under the race detector on a
// busy machine starves everything, auth or not). They all get the one 401
// (the same answer as a wrong secret), none reaches the core's Verify, and
// meanwhile a real key that no cache holds authenticates on each of 6
// tries (6 keys, never used). (Before, the made-up ids filled the core's
// verification queue: the real key got 429 on 5 of its first 6 tries.)
func TestUnknownKeyFlood(t *testing.T) {
	s := floodStack(t)
	ctx := context.Background()
	var valid []core.CreatedKey // never used: no cache holds them
	for i := range 6 {
		k, err := s.svc.CreateRootKey(ctx, fmt.Sprint("valid-", i), core.Actions)
		if err != nil {
			t.Fatal(err)
		}
		valid = append(valid, k)
	}
	authn := s.gateway.Authenticator()
	url := s.url + "/v1/orgs"

	floodCtx, stop := context.WithCancel(ctx)
	answers, wait := flood(floodCtx, floodWorkers, floodEvery, url, madeUp())
	defer func() { stop(); wait() }()
	for answers.total.Load() < 1000 { // the flood is on
		time.Sleep(10 * time.Millisecond)
	}
	before := authn.Stats()
	client := floodClient()
	for i, key := range valid {
		if a := ask(client, url, "192.0.2.10", key.Token()); a.err != nil || a.status != http.StatusOK {
			t.Errorf("valid uncached key, try %d, under the flood: %d %q %v", i+1, a.status, a.env.Message, a.err)
		}
	}
	stop()
	wait()
	after := authn.Stats()

	want := fmt.Sprintf("%d Invalid API key", http.StatusUnauthorized)
	if got := answers.counts(); got[want] != int(answers.total.Load()) {
		t.Fatalf("answers to made-up key ids: %v; want every one %q", got, want)
	}
	if n := after.Misses - before.Misses; n != 6 {
		t.Fatalf("%d core verifications during the flood, want the valid key's 6 only", n)
	}
	if n := after.Unknown - before.Unknown; n == 0 {
		t.Fatal("no made-up id was refused from the live id set")
	}
	t.Logf("flood: %d answers %s; valid key: 6/6 tries authenticated", answers.total.Load(), answers)

	// A wrong secret for a real key gets the same answer.
	wrong := ask(client, url, "192.0.2.11", valid[0].GetApiKeyId()+"."+core.NewKeySecret())
	if wrong.err != nil || fmt.Sprintf("%d %s", wrong.status, wrong.env.Message) != want {
		t.Fatalf("wrong secret: %d %q %v; want %q like an unknown id", wrong.status, wrong.env.Message, wrong.err, want)
	}
}

// TestWrongSecretFlood: wrong secrets for a real key id are limited per key
// id and per client address. From one address, spread over two real keys,
// or from 300 addresses against one key, all but a few get 429 in the
// envelope without a core verification; another key, not cached, still
// authenticates meanwhile.
func TestWrongSecretFlood(t *testing.T) {
	s := floodStack(t)
	ctx := context.Background()
	rootID, _, _ := strings.Cut(s.root, ".")
	second, err := s.svc.CreateRootKey(ctx, "second", core.Actions)
	if err != nil {
		t.Fatal(err)
	}
	authn := s.gateway.Authenticator()
	url := s.url + "/v1/orgs"
	client := floodClient()

	for name, next := range map[string]func() (string, string){
		"one client, two keys": func() (string, string) {
			id := rootID
			if rand.N(2) == 0 {
				id = second.GetApiKeyId()
			}
			return "203.0.113.9", id + "." + core.NewKeySecret()
		},
		"many clients, one key": func() (string, string) {
			return randomAddr(), rootID + "." + core.NewKeySecret()
		},
	} {
		t.Run(name, func(t *testing.T) {
			bystander, err := s.svc.CreateRootKey(ctx, "bystander", core.Actions) // never used
			if err != nil {
				t.Fatal(err)
			}
			before := authn.Stats()
			floodCtx, stop := context.WithCancel(ctx)
			answers, wait := flood(floodCtx, floodWorkers, floodEvery, url, next)
			defer func() { stop(); wait() }()
			for answers.total.Load() < 1000 {
				time.Sleep(10 * time.Millisecond)
			}
			if a := ask(client, url, "192.0.2.20", bystander.Token()); a.err != nil || a.status != http.StatusOK {
				t.Errorf("another key, not cached, during the flood: %d %q %v", a.status, a.env.Message, a.err)
			}
			stop()
			wait()
			after := authn.Stats()

			busy := fmt.Sprintf("%d Too many authentication attempts, retry later", http.StatusTooManyRequests)
			invalid := fmt.Sprintf("%d Invalid API key", http.StatusUnauthorized)
			total, got := int(answers.total.Load()), answers.counts()
			if got[busy]+got[invalid] != total || got[busy] < total*9/10 {
				t.Fatalf("answers to wrong secrets: %v; want 429 (most) or 401, in the envelope", got)
			}
			if verified := after.Misses - before.Misses - (after.Limited - before.Limited); verified > 60 {
				t.Fatalf("%d wrong secrets reached the core's Verify out of %d", verified, total)
			}
			t.Logf("%d answers: %s", total, answers)
		})
	}
}
