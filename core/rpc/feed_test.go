package rpc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// logStore is a key change log in memory. listeningStore makes it a
// keyChangeListener whose notify the test receives and calls.
type logStore struct {
	mu          sync.Mutex
	changes     []*corev1.KeyChange
	fail        error // returned by every read when set
	boundsReads int
	afterReads  int

	listens  chan func() // receives each listener's notify
	unsupp   bool
	listened chan struct{}
}

func (s *logStore) add(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes = append(s.changes, &corev1.KeyChange{Seq: int64(len(s.changes) + 1), ApiKeyId: keyID})
}

func (s *logStore) KeyChangeBounds(context.Context) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boundsReads++
	if s.fail != nil {
		return 0, 0, s.fail
	}
	if len(s.changes) == 0 {
		return 0, 0, nil
	}
	return 1, int64(len(s.changes)), nil
}

func (s *logStore) KeyChangesAfter(_ context.Context, seq int64, limit int) ([]*corev1.KeyChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterReads++
	var out []*corev1.KeyChange
	for _, c := range s.changes {
		if c.GetSeq() > seq && (limit == 0 || len(out) < limit) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *logStore) PruneKeyChanges(context.Context, time.Time) error { return nil }

type listeningStore struct{ *logStore }

func (s listeningStore) ListenKeyChanges(ctx context.Context, notify func()) error {
	if s.unsupp {
		close(s.listened)
		return errors.ErrUnsupported
	}
	notify()
	s.listens <- notify
	<-ctx.Done()
	return ctx.Err()
}

// A change committed by another process reaches the streams at once when
// the store announces it, though the poll interval is an hour.
func TestFeedWakesOnAnnouncement(t *testing.T) {
	ls := listeningStore{&logStore{listens: make(chan func(), 1)}}
	f := NewFeed(ls, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	var notify func()
	select {
	case notify = <-ls.listens:
	case <-time.After(5 * time.Second):
		t.Fatal("the feed does not listen to a store that can announce changes")
	}

	got := stream(ctx, f)
	// Settled: the feed read the log bounds at start and after the
	// listener's first notify, the stream read them and then the changes;
	// nothing reads the log again but a poke.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		ls.mu.Lock()
		n, m := ls.boundsReads, ls.afterReads
		ls.mu.Unlock()
		if n >= 3 && m >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed read the log bounds %d times and changes %d times, want 3 and 1", n, m)
		}
	}
	ls.add("k1") // written by "another replica": no Poke
	select {
	case k := <-got:
		t.Fatalf("stream saw %s before any announcement or poll: the test cannot tell them apart", k)
	case <-time.After(200 * time.Millisecond):
	}
	notify()
	select {
	case k := <-got:
		if k != "k1" {
			t.Fatalf("got %q, want k1", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the announcement did not wake the stream")
	}
}

// A store that cannot announce (SQLite) leaves the feed polling.
func TestFeedPollsWithoutAnnouncements(t *testing.T) {
	ls := listeningStore{&logStore{unsupp: true, listened: make(chan struct{})}}
	f := NewFeed(ls, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	<-ls.listened
	got := stream(ctx, f)
	ls.add("k1")
	select {
	case k := <-got:
		if k != "k1" {
			t.Fatalf("got %q", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("polling did not deliver the change")
	}
}

// stream subscribes to f from now on and returns the key ids it sends,
// once the stream has told where it starts (so later changes are after it).
func stream(ctx context.Context, f *Feed) <-chan string {
	got := make(chan string, 8)
	started := make(chan struct{})
	var once sync.Once
	go f.Stream(ctx, 0, false, func(c *corev1.KeyChange) error {
		once.Do(func() { close(started) })
		if c.GetApiKeyId() != "" {
			got <- c.GetApiKeyId()
		}
		return nil
	})
	<-started
	return got
}
