package batch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type sink struct {
	mu      sync.Mutex
	batches [][]int
	fail    int // fail this many flushes first
	block   chan struct{}
}

func (s *sink) flush(_ context.Context, b []int) error {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("store down")
	}
	s.batches = append(s.batches, append([]int(nil), b...))
	return nil
}

func (s *sink) items() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []int
	for _, b := range s.batches {
		all = append(all, b...)
	}
	return all
}

func newQueue(s *sink, capacity int, logs *bytes.Buffer) (*Queue[int], prometheus.Counter) {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	return New(Options[int]{
		Capacity: capacity, Size: 10, Interval: 50 * time.Millisecond, Flush: s.flush,
		Dropped: dropped, Log: slog.New(slog.NewTextHandler(logs, nil)), What: "test",
	}), dropped
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBatchesEverythingInBoundedBatches(t *testing.T) {
	s := &sink{}
	var logs bytes.Buffer
	q, dropped := newQueue(s, 100, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	for i := range 35 {
		q.Add(i)
	}
	waitUntil(t, func() bool { return len(s.items()) == 35 })
	cancel()
	<-done
	for _, b := range s.batches {
		if len(b) > 10 {
			t.Errorf("batch of %d, size is 10", len(b))
		}
	}
	if n := value(dropped); n != 0 {
		t.Errorf("dropped %v", n)
	}
}

func TestDropsWhatDoesNotFitAndSaysSo(t *testing.T) {
	s := &sink{block: make(chan struct{})}
	var logs bytes.Buffer
	q, dropped := newQueue(s, 5, &logs)
	// Run is not started: the buffer holds 5, the rest is dropped at once.
	for i := range 8 {
		q.Add(i)
	}
	if n := value(dropped); n != 3 {
		t.Fatalf("dropped %v, want 3", n)
	}
	close(s.block)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	waitUntil(t, func() bool { return len(s.items()) == 5 })
	cancel()
	<-done
	if !strings.Contains(logs.String(), "dropped=3") {
		t.Errorf("the drops were not logged:\n%s", logs.String())
	}
}

func TestRetriesAFailedFlushOnceThenDrops(t *testing.T) {
	s := &sink{fail: 1}
	var logs bytes.Buffer
	q, dropped := newQueue(s, 100, &logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	q.Add(1)
	waitUntil(t, func() bool { return len(s.items()) == 1 })
	s.mu.Lock()
	s.fail = 2
	s.mu.Unlock()
	q.Add(2)
	waitUntil(t, func() bool { return value(dropped) == 1 })
	q.Add(3)
	waitUntil(t, func() bool { return len(s.items()) == 2 })
	cancel()
	<-done
	if got := s.items(); got[0] != 1 || got[1] != 3 {
		t.Errorf("stored %v, want [1 3]", got)
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}
