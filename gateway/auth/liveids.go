package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// liveIDs is what the gateway knows of which key ids exist: the ids the
// core listed once the current change stream had started, plus every id the
// stream named since (a change may be a creation). It never drops an id: a
// deleted key's id only costs a core call, where Verify refuses it without
// hashing. So it errs only towards asking the core, and while it is not
// synced (no listing yet, stream lost, a core without ListKeyIds) every id
// goes to the core as before.
//
// Why the listing plus the stream misses no key: the listing is read after
// the stream's first event, so after the log position the stream starts
// from. A key created before the listing is in it; one created after has a
// change with a later sequence number, which the stream delivers.
type liveIDs struct {
	mu      sync.RWMutex
	ids     map[string]struct{}
	synced  bool
	stream  uint64              // counts streams, so a late listing of an old one is dropped
	listing map[string]struct{} // ids noted while a listing is in flight
	applied int64               // sequence number of the last change noted
	grew    chan struct{}       // closed and replaced when applied moves or sync is lost
}

func newLiveIDs() *liveIDs {
	return &liveIDs{grew: make(chan struct{})}
}

// has reports whether id may exist, and whether the set is synced (when it
// is not, found says nothing).
func (l *liveIDs) has(id string) (found, synced bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, found = l.ids[id]
	return found, l.synced
}

// newStream starts a stream's life: not synced until its listing lands.
func (l *liveIDs) newStream() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stream++
	l.setUnsynced()
	return l.stream
}

// lost ends stream's life, unless a newer one began.
func (l *liveIDs) lost(stream uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stream == stream {
		l.setUnsynced()
	}
}

func (l *liveIDs) setUnsynced() {
	l.synced = false
	l.listing = nil
	close(l.grew) // waiters re-check, see unsynced, ask the core
	l.grew = make(chan struct{})
}

// startListing collects the ids noted from now on, for finishListing.
func (l *liveIDs) startListing(stream uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stream == stream {
		l.listing = map[string]struct{}{}
	}
}

// finishListing makes ids, with the ids noted since startListing, the set.
func (l *liveIDs) finishListing(stream uint64, ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stream != stream || l.listing == nil {
		return
	}
	set := make(map[string]struct{}, len(ids)+len(l.listing))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	for id := range l.listing {
		set[id] = struct{}{}
	}
	l.ids, l.listing, l.synced = set, nil, true
}

// note records a change the stream applied: its key id may exist now.
func (l *liveIDs) note(id string, seq int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id != "" {
		if l.ids == nil {
			l.ids = map[string]struct{}{}
		}
		l.ids[id] = struct{}{}
		if l.listing != nil {
			l.listing[id] = struct{}{}
		}
	}
	// As lastSeq: the stream's word is the truth, even if lower (a restored
	// log starts again from where the core says).
	l.applied = seq
	close(l.grew)
	l.grew = make(chan struct{})
}

// caughtUp waits (up to max) until the stream has applied seq. False: the
// set lost sync, or the wait ended first.
func (l *liveIDs) caughtUp(ctx context.Context, seq int64, max time.Duration) bool {
	timer := time.NewTimer(max)
	defer timer.Stop()
	for {
		l.mu.RLock()
		synced, applied, grew := l.synced, l.applied, l.grew
		l.mu.RUnlock()
		switch {
		case !synced:
			return false
		case applied >= seq:
			return true
		}
		select {
		case <-grew:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// positions reads the core's change log position for the requests that
// need it, one call at a time shared by every request waiting: a request
// joins the next call that starts after it arrived (an earlier answer could
// predate a key it asks about), and calls start at most once per interval,
// so a flood of unknown ids costs the core a few calls per second.
type positions struct {
	client   atomic.Pointer[corev1.ApiKeyServiceClient]
	interval time.Duration
	timeout  time.Duration

	mu      sync.Mutex
	next    *positionCall // the call the next arrivals join; not started
	running bool
	last    time.Time // start of the last call
}

var errNoClient = errors.New("auth: no core client (Watch not started)")

type positionCall struct {
	done chan struct{}
	seq  int64
	err  error
}

const (
	positionInterval = 20 * time.Millisecond
	// maxCatchUp bounds the wait for the stream to apply a position; past
	// it the core is asked (Verify) as if the set were not synced.
	maxCatchUp = time.Second
)

func (p *positions) get(ctx context.Context) (int64, error) {
	p.mu.Lock()
	if p.next == nil {
		p.next = &positionCall{done: make(chan struct{})}
	}
	c := p.next
	if !p.running {
		p.running = true
		go p.run()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.seq, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run makes the calls while requests wait for one.
func (p *positions) run() {
	for {
		p.mu.Lock()
		if p.next == nil {
			p.running = false
			p.mu.Unlock()
			return
		}
		wait := time.Until(p.last.Add(p.interval))
		p.mu.Unlock()
		if wait > 0 {
			time.Sleep(wait) // arrivals meanwhile join the same call
		}
		p.mu.Lock()
		c := p.next
		p.next = nil
		p.last = time.Now()
		p.mu.Unlock()

		c.seq, c.err = p.fetch()
		close(c.done)
	}
}

func (p *positions) fetch() (int64, error) {
	client := p.client.Load()
	if client == nil {
		return 0, errNoClient
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	res, err := (*client).KeyChangePosition(ctx, &corev1.KeyChangePositionRequest{})
	if err != nil {
		return 0, err
	}
	return res.GetSeq(), nil
}
