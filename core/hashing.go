package core

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Hasher computes and checks every argon2id hash of the core: API key
// verification and creation, newt secrets, and whatever a service hashes
// next (passwords, pincodes, header auth, invitations, olm secrets). Each
// argon2id holds its memory parameter for its whole run (19 MiB with the
// core's parameters) and one CPU, so the hashes that run at once are what a
// flood of creates or logins costs the core. A Hasher runs at most
// Concurrency of them at once, whoever asks; that bound is the core's
// ceiling on hashing memory and CPU.
//
// Past the bound a caller waits in line, at most Wait, then gets a
// CodeExhausted error (gRPC ResourceExhausted, HTTP 429 "Too many …, retry
// later"): a client that floods gets told to slow down instead of every
// request getting slower. The line is shared fairly: callers are grouped by
// party (the API key on whose behalf the core acts; for key verification,
// the key being verified), slots freed go to the parties in turn, and one
// party can hold at most a bounded number of places in line. One tenant
// creating a hundred sites at once therefore delays another tenant's hash
// by about one hash per party ahead of it, not by the whole flood, and
// cannot fill the line for others (see HashLimits).
//
// A service that hashes takes the Service's Hasher (see NewService) and
// calls Hash when storing a secret and Check when verifying one; it never
// runs argon2id itself. Both are safe for concurrent use. Call them after
// the cheap checks that can refuse the request (unknown id, bad input), so
// that refused requests cost no slot.
type Hasher struct {
	concurrency int
	wait        time.Duration
	perParty    int
	maxWaiting  int

	mu     sync.Mutex
	free   int                  // slots not held; > 0 only when nobody waits
	lines  map[string][]*waiter // waiters by party, oldest first
	turns  []string             // parties with waiters, next to be served first
	waited int                  // waiters right now, all parties
}

type waiter struct {
	ready   chan struct{} // closed when the slot is handed over
	granted bool          // set under Hasher.mu with the hand-over
}

// HashLimits configure a Hasher; zero fields take the defaults.
type HashLimits struct {
	// Concurrency is the number of hashes that run at once. Default: half
	// the CPUs the process may use, between 1 and 4, so that a flood of
	// hashes leaves CPU to serve everything else and the memory bound stays
	// small (4 × 19 MiB).
	Concurrency int
	// Wait is how long a caller waits for a slot before its CodeExhausted
	// error. Default: DefaultHashWait.
	Wait time.Duration
	// PerParty bounds the places one party holds in line, and Waiting the
	// places of all parties together; past either, a request is refused at
	// once (a waiting request holds a goroutine and its message), where
	// waiting longer would only end in the 429 after Wait. The defaults,
	// 128 and 512 per slot, are about what a slot serves in the default
	// Wait (a hash takes about 35 ms on one CPU) and four times that: a
	// burst from one client waits rather than being refused, and one party
	// fills at most a quarter of the line.
	PerParty, Waiting int
}

// DefaultHashWait is how long a hash waits for a slot by default: below the
// gateway's default call timeout (core.timeout, 10s), so that a caller
// hears 429 rather than a timeout.
const DefaultHashWait = 5 * time.Second

// NewHasher returns a Hasher with limits l (zero fields: defaults).
func NewHasher(l HashLimits) *Hasher {
	if l.Concurrency <= 0 {
		l.Concurrency = DefaultHashConcurrency()
	}
	if l.Wait <= 0 {
		l.Wait = DefaultHashWait
	}
	if l.PerParty <= 0 {
		l.PerParty = 128 * l.Concurrency
	}
	if l.Waiting <= 0 {
		l.Waiting = 4 * l.PerParty
	}
	return &Hasher{
		concurrency: l.Concurrency,
		wait:        l.Wait,
		perParty:    l.PerParty,
		maxWaiting:  l.Waiting,
		free:        l.Concurrency,
		lines:       map[string][]*waiter{},
	}
}

// DefaultHashConcurrency is the Concurrency of HashLimits left at 0.
func DefaultHashConcurrency() int {
	return min(max(runtime.GOMAXPROCS(0)/2, 1), 4)
}

// Concurrency returns how many hashes run at once at most.
func (h *Hasher) Concurrency() int { return h.concurrency }

// Hash returns the argon2id PHC string of secret, computed in a slot on
// behalf of the caller ctx carries (CallerOf).
func (h *Hasher) Hash(ctx context.Context, secret string) (string, error) {
	release, err := h.acquire(ctx, partyOf(ctx))
	if err != nil {
		return "", err
	}
	defer release()
	return hashSecret(secret), nil
}

// Check reports whether secret matches the PHC string hash, computed in a
// slot on behalf of the caller ctx carries (CallerOf). A malformed hash is
// a mismatch, not an error; errors are only the Hasher's own (busy,
// cancelled).
func (h *Hasher) Check(ctx context.Context, hash, secret string) (bool, error) {
	release, err := h.acquire(ctx, partyOf(ctx))
	if err != nil {
		return false, err
	}
	defer release()
	return checkSecret(hash, secret), nil
}

// HashStats is a snapshot of a Hasher.
type HashStats struct {
	Running, Waiting int
}

// Stats returns how many hashes run and wait right now.
func (h *Hasher) Stats() HashStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return HashStats{Running: h.concurrency - h.free, Waiting: h.waited}
}

// errHashBusy is the answer past the bound.
func errHashBusy() error {
	return Errorf(CodeExhausted, "Too many concurrent requests, retry later")
}

// acquire takes a slot for party, waiting in its line at most h.wait.
func (h *Hasher) acquire(ctx context.Context, party string) (release func(), err error) {
	if ctx.Err() != nil {
		return nil, Errorf(CodeUnavailable, "Request cancelled")
	}
	h.mu.Lock()
	if h.free > 0 {
		h.free--
		h.mu.Unlock()
		return h.release, nil
	}
	line := h.lines[party]
	if len(line) >= h.perParty || h.waited >= h.maxWaiting {
		h.mu.Unlock()
		return nil, errHashBusy()
	}
	w := &waiter{ready: make(chan struct{})}
	if len(line) == 0 {
		h.turns = append(h.turns, party)
	}
	h.lines[party] = append(line, w)
	h.waited++
	h.mu.Unlock()

	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case <-w.ready:
		return h.release, nil
	case <-timer.C:
		err = errHashBusy()
	case <-ctx.Done():
		err = Errorf(CodeUnavailable, "Request cancelled")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.granted { // handed over while giving up: pass it on
		h.releaseLocked()
		return nil, err
	}
	h.remove(party, w)
	return nil, err
}

// release hands the slot to the next party in turn, or frees it.
func (h *Hasher) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

func (h *Hasher) releaseLocked() {
	if len(h.turns) == 0 {
		h.free++
		return
	}
	party := h.turns[0]
	line := h.lines[party]
	w := line[0]
	h.turns = h.turns[1:]
	if len(line) == 1 {
		delete(h.lines, party)
	} else {
		h.lines[party] = line[1:]
		h.turns = append(h.turns, party) // served: back of the round
	}
	h.waited--
	w.granted = true
	close(w.ready)
}

// remove takes w, which gave up, out of party's line.
func (h *Hasher) remove(party string, w *waiter) {
	line := slices.DeleteFunc(h.lines[party], func(x *waiter) bool { return x == w })
	h.waited--
	if len(line) > 0 {
		h.lines[party] = line
		return
	}
	delete(h.lines, party)
	h.turns = slices.DeleteFunc(h.turns, func(p string) bool { return p == party })
}

type hashPartyKey struct{}

// withHashParty makes the hashes under ctx count against party instead of
// the caller: key verification runs before there is a caller, and counts
// against the key being verified.
func withHashParty(ctx context.Context, party string) context.Context {
	return context.WithValue(ctx, hashPartyKey{}, party)
}

func partyOf(ctx context.Context) string {
	if p, ok := ctx.Value(hashPartyKey{}).(string); ok {
		return "verify:" + p
	}
	return "caller:" + CallerOf(ctx).GetApiKeyId()
}
