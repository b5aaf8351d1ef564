package core

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitForWaiters polls until the hasher has n waiters.
func waitForWaiters(t *testing.T, h *Hasher, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Stats().Waiting != n {
		if time.Now().After(deadline) {
			t.Fatalf("waiters: %+v, want %d", h.Stats(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// At most Concurrency slots are held at once, however many ask; everyone
// who waits less than Wait gets one.
func TestHasherBound(t *testing.T) {
	h := NewHasher(HashLimits{Concurrency: 2, Wait: time.Minute})
	var running, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			release, err := h.acquire(context.Background(), []string{"a", "b", "c"}[i%3])
			if err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			release()
		})
	}
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak %d slots held at once, want 2", p)
	}
	if s := h.Stats(); s != (HashStats{}) || h.free != 2 {
		t.Fatalf("after: %+v, %d free; want all slots free", s, h.free)
	}
}

// Past the bound a caller waits Wait, then gets CodeExhausted; a cancelled
// caller gets CodeUnavailable; neither leaves a trace in the line.
func TestHasherWaitIsBounded(t *testing.T) {
	h := NewHasher(HashLimits{Concurrency: 1, Wait: 20 * time.Millisecond})
	release, err := h.acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.acquire(context.Background(), "b"); ErrorCode(err) != CodeExhausted || err.Error() != "Too many concurrent requests, retry later" {
		t.Fatalf("past the bound: %v, want CodeExhausted", err)
	}
	h.wait = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := h.acquire(ctx, "b"); done <- err }()
	waitForWaiters(t, h, 1)
	cancel()
	if err := <-done; ErrorCode(err) != CodeUnavailable {
		t.Fatalf("cancelled while waiting: %v, want CodeUnavailable", err)
	}
	if s := h.Stats(); s != (HashStats{Running: 1}) || len(h.lines) != 0 || len(h.turns) != 0 {
		t.Fatalf("after giving up: %+v %v %v", s, h.lines, h.turns)
	}
	release()
	if h.free != 1 {
		t.Fatalf("%d free slots after release, want 1", h.free)
	}
}

// One party holds at most PerParty places in line; others still queue.
func TestHasherPerPartyLine(t *testing.T) {
	h := NewHasher(HashLimits{Concurrency: 1, Wait: time.Minute, PerParty: 2})
	release, err := h.acquire(context.Background(), "flood")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if r, err := h.acquire(context.Background(), "flood"); err != nil {
				t.Error(err)
			} else {
				r()
			}
		})
	}
	waitForWaiters(t, h, 2)
	if _, err := h.acquire(context.Background(), "flood"); ErrorCode(err) != CodeExhausted {
		t.Fatalf("third place in line for one party: %v, want CodeExhausted at once", err)
	}
	wg.Go(func() {
		if r, err := h.acquire(context.Background(), "other"); err != nil {
			t.Errorf("another party, while the flooding party's line is full: %v", err)
		} else {
			r()
		}
	})
	waitForWaiters(t, h, 3)
	release()
	wg.Wait()
}

// Freed slots go to the parties with waiters in turn: a party that comes
// after another's fifty waiters is served second, not fifty-first.
func TestHasherServesPartiesInTurn(t *testing.T) {
	h := NewHasher(HashLimits{Concurrency: 1, Wait: time.Minute, PerParty: 50})
	release, err := h.acquire(context.Background(), "flood")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	queue := func(party string, n int) {
		wg.Go(func() {
			r, err := h.acquire(context.Background(), party)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, party)
			mu.Unlock()
			r()
		})
		waitForWaiters(t, h, n)
	}
	for i := range 50 {
		queue("flood", i+1)
	}
	queue("tenant", 51)
	queue("verify:key", 52)
	release()
	wg.Wait()
	if len(order) != 52 || order[0] != "flood" || order[1] != "tenant" || order[2] != "verify:key" {
		t.Fatalf("served in order %v; want flood, tenant, verify:key, then the rest of the flood", order[:min(len(order), 5)])
	}
}

// Giving up at the moment the slot is handed over never loses the slot.
func TestHasherNoSlotLost(t *testing.T) {
	h := NewHasher(HashLimits{Concurrency: 2, Wait: 200 * time.Microsecond})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			for range 50 {
				if r, err := h.acquire(context.Background(), string(rune('a'+i%5))); err == nil {
					time.Sleep(50 * time.Microsecond)
					r()
				}
			}
		})
	}
	wg.Wait()
	if s := h.Stats(); s != (HashStats{}) || h.free != 2 || len(h.lines) != 0 || len(h.turns) != 0 {
		t.Fatalf("after: %+v, %d free, lines %v, turns %v; want 2 free and nobody waiting", s, h.free, h.lines, h.turns)
	}
}

// All parties together hold at most Waiting places in line.
func TestHasherWaitingBound(t *testing.T) {
	h := NewHasher(HashLimits{Concurrency: 1, Wait: time.Minute, PerParty: 2, Waiting: 3})
	release, err := h.acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, party := range []string{"a", "b", "c"} {
		wg.Go(func() {
			if r, err := h.acquire(context.Background(), party); err != nil {
				t.Error(err)
			} else {
				r()
			}
		})
		waitForWaiters(t, h, i+1)
	}
	if _, err := h.acquire(context.Background(), "d"); ErrorCode(err) != CodeExhausted {
		t.Fatalf("a fourth waiter with Waiting 3: %v, want CodeExhausted at once", err)
	}
	release()
	wg.Wait()
}
