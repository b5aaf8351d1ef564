package auth

import (
	"context"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Reconnect backoff of Watch.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// Watch applies the core's key change events to the caches until ctx is
// done: a reset drops everything, any other event drops its key. When the
// stream breaks it reconnects with capped exponential backoff, asking for
// the changes after the last one applied, which the core replays from its
// durable log (or answers with a reset when the log no longer reaches back).
// Call it once per Authenticator, typically in its own goroutine; it returns
// when ctx is done.
func (a *Authenticator) Watch(ctx context.Context, client corev1.ApiKeyServiceClient) {
	a.positions.client.Store(&client)
	backoff := watchMinBackoff
	failing := false   // the last attempt failed and was logged
	connected := false // some stream was open before
	for ctx.Err() == nil {
		opened, progressed, err := a.watchOnce(ctx, client, connected)
		if ctx.Err() != nil {
			return
		}
		connected = connected || opened
		if progressed {
			backoff = watchMinBackoff
		}
		// One line per outage, not one per retry.
		if opened || !failing {
			a.log.Warn("auth: key change stream lost; reconnecting", "err", err, "last_seq", a.lastSeq.Load())
		}
		failing = true
		if !pause(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, watchMaxBackoff)
	}
}

// pause waits about backoff, jittered over its upper half so that
// replicas do not retry in step; false when ctx ended first.
func pause(ctx context.Context, backoff time.Duration) bool {
	t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watchOnce runs one stream until it fails; reconnect says an earlier one
// was open. opened reports that this stream was established, progressed
// that at least one event was applied.
func (a *Authenticator) watchOnce(ctx context.Context, client corev1.ApiKeyServiceClient, reconnect bool) (opened, progressed bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	after := a.lastSeq.Load()
	// The first stream starts from now (nothing is cached yet); every later
	// one resumes after the last change applied, which the core replays
	// from its log. The core's first event tells us where we stand, so a
	// resume point exists even when no key ever changed.
	stream, err := client.WatchKeyChanges(sctx, &corev1.WatchKeyChangesRequest{AfterSeq: after, Resume: reconnect})
	if err != nil {
		return false, false, err
	}
	live := a.live.newStream()
	defer a.live.lost(live)
	// The first event means the core has fixed where this stream starts:
	// a listing read from now on reaches at least that far (see liveIDs).
	first, err := stream.Recv()
	if err != nil {
		return true, false, err
	}
	a.apply(ctx, first)
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		a.listLiveIDs(sctx, client, live, after, reconnect)
	}()
	defer func() { cancel(); <-listed }()
	for {
		change, err := stream.Recv()
		if err != nil {
			return true, true, err
		}
		a.apply(ctx, change)
	}
}

// listLiveIDs loads the live id set for stream, retrying with backoff while
// the stream lasts (the set stays unsynced meanwhile: every id goes to the
// core). Its first attempt marks the Authenticator ready and logs the
// stream as open.
func (a *Authenticator) listLiveIDs(ctx context.Context, client corev1.ApiKeyServiceClient, stream uint64, after int64, reconnect bool) {
	opened := func(liveKeys int) {
		a.readyOnce.Do(func() { close(a.ready) })
		a.log.Info("auth: key change stream open", "after_seq", after, "resume", reconnect, "live_keys", liveKeys)
	}
	backoff := watchMinBackoff
	for first := true; ; first = false {
		a.live.startListing(stream)
		lctx, cancel := context.WithTimeout(ctx, a.verifyTimeout)
		res, err := client.ListKeyIds(lctx, &corev1.ListKeyIdsRequest{})
		cancel()
		switch {
		case err == nil:
			a.live.finishListing(stream, res.GetApiKeyIds())
			if first {
				opened(len(res.GetApiKeyIds()))
			} else {
				a.log.Info("auth: live key ids listed", "live_keys", len(res.GetApiKeyIds()))
			}
			return
		case ctx.Err() != nil:
			return
		case status.Code(err) == codes.Unimplemented:
			// An older core: every key id goes to Verify, as it did.
			opened(-1)
			return
		case status.Code(err) == codes.ResourceExhausted:
			// More ids than a message may carry: retrying would only
			// read them all again. Every key id goes to Verify.
			opened(-1)
			a.log.Warn("auth: too many key ids to list; every key id goes to the core", "err", err)
			return
		}
		if first {
			opened(-1)
			a.log.Warn("auth: listing the live key ids failed; every key id goes to the core until it works", "err", err)
		}
		if !pause(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, watchMaxBackoff)
	}
}

func (a *Authenticator) apply(ctx context.Context, change *corev1.KeyChange) {
	var err error
	if change.GetReset_() {
		err = a.InvalidateAll(ctx)
	} else {
		err = a.Invalidate(ctx, change.GetApiKeyId())
	}
	if err != nil {
		// L1 is cleared regardless; a stale L2 entry expires within the TTL
		// and the other replicas delete it too.
		a.log.Warn("auth: could not delete a changed key from redis", "seq", change.GetSeq(), "err", err)
	}
	// Recorded even if lower than before: the core's answer is the truth
	// (e.g. a restored log), and re-applying an invalidation is harmless. An
	// event without a key id and no reset only carries the position.
	a.lastSeq.Store(change.GetSeq())
	a.live.note(change.GetApiKeyId(), change.GetSeq())
}

// Ready is closed once the first change stream to the core is open.
func (a *Authenticator) Ready() <-chan struct{} { return a.ready }

// LastSeq is the sequence number of the last change applied (0: none yet).
func (a *Authenticator) LastSeq() int64 { return a.lastSeq.Load() }
