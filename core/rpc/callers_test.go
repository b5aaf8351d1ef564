package rpc

import (
	"context"
	"errors"
	"testing"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// principalStore answers every key as a root key and counts its reads;
// during, when set, runs inside each read.
type principalStore struct {
	reads  int
	during func()
}

func (s *principalStore) Principal(_ context.Context, id string) (*corev1.Principal, error) {
	s.reads++
	if s.during != nil {
		s.during()
	}
	if id == "gone" {
		return nil, core.Errorf(core.CodeNotFound, "API key not found")
	}
	return &corev1.Principal{ApiKeyId: id, IsRoot: true}, nil
}

// The core's caller cache serves a key only while the feed is current, and
// forgets the keys the log names.
func TestCallerCache(t *testing.T) {
	ctx := context.Background()
	log := &logStore{}
	feed := NewFeed(log, time.Hour, quiet)
	store := &principalStore{}
	c := newCallers(store, feed, nil)
	resolve := func(what string, id string, wantReads int) {
		t.Helper()
		if _, err := c.resolve(ctx, id, ""); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if store.reads != wantReads {
			t.Fatalf("%s: %d reads of the store, want %d", what, store.reads, wantReads)
		}
	}
	poll := func() {
		t.Helper()
		if err := feed.poll(ctx); err != nil {
			t.Fatal(err)
		}
	}

	resolve("feed not started", "k", 1)
	resolve("feed not started, again", "k", 2)
	poll() // the first poll forgets everything: it knows nothing before it
	resolve("feed current", "k", 3)
	resolve("feed current, cached", "k", 3)
	resolve("other key", "j", 4)

	log.add("k")
	poll()
	resolve("changed key", "k", 5)
	resolve("unchanged key", "j", 5)
	resolve("changed key, cached again", "k", 5)

	// No successful poll for longer than the feed's delay: not trusted.
	log.fail = errors.New("database unreachable")
	if err := feed.poll(ctx); err == nil {
		t.Fatal("poll of a failing log succeeded")
	}
	feed.mu.Lock()
	feed.polledAt = time.Time{} // long ago
	feed.mu.Unlock()
	resolve("feed not current", "k", 6)
	log.fail = nil
	poll()
	resolve("feed current again", "k", 6)

	// A change applied while a read was under way: the read may predate the
	// change, so it is not cached.
	store.during = func() { c.forget([]string{"other"}) }
	resolve("read racing a change", "fresh", 7)
	store.during = nil
	resolve("after the race", "fresh", 8)
	resolve("cached", "fresh", 8)

	if _, err := c.resolve(ctx, "gone", ""); core.ErrorCode(err) != core.CodeUnauthenticated || err.Error() != "Invalid API key" {
		t.Fatalf("unknown key: %v", err)
	}
}

// A cached caller past its expiry is refused at once: reaching the instant
// is no change the feed reports, so the cache itself must honour it.
func TestCallerCacheHonoursExpiry(t *testing.T) {
	ctx := context.Background()
	feed := NewFeed(&logStore{}, time.Hour, quiet)
	store := &principalStore{}
	c := newCallers(store, feed, nil)
	if err := feed.poll(ctx); err != nil {
		t.Fatal(err)
	}
	past := core.Timestamp(time.Now().Add(-time.Millisecond))
	future := core.Timestamp(time.Now().Add(time.Hour))
	c.cache["old"] = core.Caller{Principal: &corev1.Principal{ApiKeyId: "old", IsRoot: true, ExpiresAt: &past}}
	c.cache["new"] = core.Caller{Principal: &corev1.Principal{ApiKeyId: "new", IsRoot: true, ExpiresAt: &future}}
	if _, err := c.resolve(ctx, "old", ""); core.ErrorCode(err) != core.CodeUnauthenticated || err.Error() != "API key expired" {
		t.Fatalf("expired cached key: %v, want Unauthenticated \"API key expired\"", err)
	}
	if _, err := c.resolve(ctx, "new", ""); err != nil {
		t.Fatalf("key expiring in an hour: %v", err)
	}
	if store.reads != 0 {
		t.Fatalf("%d reads of the store, want 0: both answers come from the cache", store.reads)
	}
}
