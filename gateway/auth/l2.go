package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The L2 value is "<hex MAC><JSON>". The MAC (HMAC of the key id and the
// JSON under the shared secret) means that whoever can write to Redis still
// cannot mint or widen a principal: an entry we cannot verify is a miss.
//
// Orgs and actions travel as comma-joined strings: ids never contain a
// comma, and one string decodes several times faster than an array of a
// hundred, which dominated the cost of an L2 hit.
type wireEntry struct {
	Digest  string `json:"d"` // hex HMAC of the secret
	Root    bool   `json:"r,omitempty"`
	Orgs    string `json:"o"`
	Actions string `json:"a"`
	Expires int64  `json:"e"` // unix milliseconds
	// KeyExpires is the key's own expiry (unix milliseconds), 0 for
	// never: a hit past it refuses, so L2 cannot outlive it.
	KeyExpires int64 `json:"x,omitempty"`
	// Until is when the secret stops working (the one before a roll), 0
	// for with the key; Other and OtherUntil are the key's other secret
	// within a roll's grace, when the entry has it.
	Until      int64  `json:"u,omitempty"`
	Other      string `json:"s,omitempty"`
	OtherUntil int64  `json:"t,omitempty"`
	// Allowed is the allow list (comma-joined CIDRs), Rate the rate limit
	// as requests and milliseconds, PreviousUntil the roll's grace.
	Allowed       string   `json:"i,omitempty"`
	Rate          [2]int64 `json:"l,omitzero"`
	PreviousUntil int64    `json:"p,omitempty"`
}

const macHexLen = sha256.Size * 2

func (a *Authenticator) encode(keyID string, e *entry) ([]byte, error) {
	p := e.principal
	w := wireEntry{
		Digest:        hex.EncodeToString(e.secrets[0].digest[:]),
		Until:         unixMilli(e.secrets[0].until),
		Root:          p.IsRoot,
		Orgs:          strings.Join(p.OrgIDs, ","),
		Actions:       strings.Join(p.Actions, ","),
		Expires:       e.expires.UnixMilli(),
		KeyExpires:    unixMilli(p.ExpiresAt),
		Rate:          [2]int64{int64(p.RateLimit.Requests), p.RateLimit.Per.Milliseconds()},
		PreviousUntil: unixMilli(p.PreviousUntil),
	}
	if len(e.secrets) > 1 {
		w.Other, w.OtherUntil = hex.EncodeToString(e.secrets[1].digest[:]), unixMilli(e.secrets[1].until)
	}
	if len(p.AllowedIPs) > 0 {
		ips := make([]string, len(p.AllowedIPs))
		for i, ip := range p.AllowedIPs {
			ips[i] = ip.String()
		}
		w.Allowed = strings.Join(ips, ",")
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	mac := a.entryMAC(keyID, body)
	out := make([]byte, 0, macHexLen+len(body))
	out = hex.AppendEncode(out, mac)
	return append(out, body...), nil
}

func (a *Authenticator) decode(keyID string, b []byte) (*entry, error) {
	if len(b) < macHexLen {
		return nil, errors.New("entry too short")
	}
	mac, err := hex.DecodeString(string(b[:macHexLen]))
	if err != nil {
		return nil, errors.New("entry MAC is not hex")
	}
	body := b[macHexLen:]
	if !hmac.Equal(mac, a.entryMAC(keyID, body)) {
		return nil, errors.New("entry MAC does not verify (tampered, or another server.secret)")
	}
	var w wireEntry
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("entry body: %w", err)
	}
	p := NewPrincipal(keyID, w.Root, splitIDs(w.Orgs), splitIDs(w.Actions))
	p.ExpiresAt = fromUnixMilli(w.KeyExpires)
	p.PreviousUntil = fromUnixMilli(w.PreviousUntil)
	p.RateLimit = RateLimit{Requests: int(w.Rate[0]), Per: time.Duration(w.Rate[1]) * time.Millisecond}
	for _, s := range splitIDs(w.Allowed) {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, errors.New("entry allow list is malformed")
		}
		p.AllowedIPs = append(p.AllowedIPs, prefix)
	}
	e := &entry{principal: p, expires: time.UnixMilli(w.Expires)}
	for _, s := range []struct {
		hex   string
		until int64
	}{{w.Digest, w.Until}, {w.Other, w.OtherUntil}} {
		if s.hex == "" && len(e.secrets) > 0 {
			break
		}
		v := verifiedSecret{until: fromUnixMilli(s.until)}
		if n, err := hex.Decode(v.digest[:], []byte(s.hex)); err != nil || n != len(v.digest) {
			return nil, errors.New("entry digest is malformed")
		}
		e.secrets = append(e.secrets, v)
	}
	p.SecretUntil = e.secrets[0].until
	return e, nil
}

// unixMilli is t in unix milliseconds, 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func splitIDs(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// entryMAC is separated from the secret digests by its "entry\x00" prefix
// (secrets never contain a NUL byte).
func (a *Authenticator) entryMAC(keyID string, body []byte) []byte {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("entry\x00"))
	m.Write([]byte(keyID))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

// getL2 returns the key's L2 entry, or nil on any miss: absent, expired,
// unverifiable, or Redis unavailable.
func (a *Authenticator) getL2(ctx context.Context, keyID string) *entry {
	if a.redis == nil || !a.health.usable() {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, a.redisTimeout)
	defer cancel()
	b, err := a.redis.Get(rctx, a.prefix+keyID).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		a.health.succeeded()
		return nil
	case err != nil:
		if ctx.Err() == nil { // the caller giving up says nothing about Redis
			a.health.failed("get", err)
		}
		return nil
	}
	a.health.succeeded()
	e, err := a.decode(keyID, b)
	if err != nil {
		if !a.badEntryLogged.Swap(true) {
			a.log.Warn("auth: ignoring a Redis cache entry that cannot be verified (logged once)", "err", err)
		}
		return nil
	}
	if !time.Now().Before(e.expires) {
		return nil
	}
	return e
}

// setL2 stores e until its expiry. Called with the key's stripe locked.
func (a *Authenticator) setL2(ctx context.Context, keyID string, e *entry) {
	if a.redis == nil || !a.health.usable() {
		return
	}
	ttl := time.Until(e.expires)
	if ttl < time.Millisecond {
		return
	}
	val, err := a.encode(keyID, e)
	if err != nil {
		a.log.Error("auth: encoding cache entry", "err", err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, a.redisTimeout)
	defer cancel()
	if err := a.redis.Set(rctx, a.prefix+keyID, val, ttl).Err(); err != nil {
		a.health.failed("set", err)
		// The SET may still land (we only stopped waiting). Delete it so
		// that it cannot outlive an invalidation that follows.
		_ = a.delL2(ctx, keyID)
	}
}

// delL2 deletes the key from L2. Unlike reads and writes it is attempted
// even while Redis looks down: a missed delete leaves a stale entry.
func (a *Authenticator) delL2(ctx context.Context, keyID string) error {
	if a.redis == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, a.redisTimeout)
	defer cancel()
	if err := a.redis.Del(rctx, a.prefix+keyID).Err(); err != nil {
		a.health.failed("del", err)
		return fmt.Errorf("auth: redis del: %w", err)
	}
	a.health.succeeded()
	return nil
}

// purgeL2 deletes every key under the prefix, on every master of a cluster.
func (a *Authenticator) purgeL2(ctx context.Context) error {
	if a.redis == nil {
		return nil
	}
	var err error
	switch c := a.redis.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return a.purgeNode(ctx, node)
		})
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, shard *redis.Client) error {
			return a.purgeNode(ctx, shard)
		})
	default:
		err = a.purgeNode(ctx, a.redis)
	}
	if err != nil {
		a.health.failed("purge", err)
		return fmt.Errorf("auth: redis purge: %w", err)
	}
	a.health.succeeded()
	return nil
}

// purgeNode SCANs one node and UNLINKs what it finds, one key per command
// (pipelined), since a cluster node refuses multi-key commands across slots.
func (a *Authenticator) purgeNode(ctx context.Context, c redis.Cmdable) error {
	match := globEscape(a.prefix) + "*"
	var cursor uint64
	for {
		rctx, cancel := context.WithTimeout(ctx, a.redisTimeout)
		keys, next, err := c.Scan(rctx, cursor, match, 1000).Result()
		if err == nil && len(keys) > 0 {
			_, err = c.Pipelined(rctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(rctx, k)
				}
				return nil
			})
		}
		cancel()
		if err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// redisHealth skips L2 reads and writes for a second after a failure, so a
// sick Redis costs at most one timeout per second instead of one per miss,
// and logs only when the state changes (never per request).
type redisHealth struct {
	retryAt atomic.Int64 // unix nanoseconds; 0 while healthy
	down    atomic.Bool
	log     *slog.Logger
	// fallback says what serves while Redis is down, for the log.
	fallback string
}

const redisRetryAfter = time.Second

func (h *redisHealth) usable() bool {
	r := h.retryAt.Load()
	return r == 0 || time.Now().UnixNano() >= r
}

func (h *redisHealth) failed(op string, err error) {
	redisErrors.WithLabelValues(op).Inc()
	h.retryAt.Store(time.Now().Add(redisRetryAfter).UnixNano())
	if !h.down.Swap(true) {
		fallback := h.fallback
		if fallback == "" {
			fallback = "serving from the in-process cache and the core"
		}
		h.log.Warn("auth: redis unavailable; "+fallback, "op", op, "err", err)
	}
}

func (h *redisHealth) succeeded() {
	if h.down.Load() && h.down.Swap(false) {
		h.retryAt.Store(0)
		h.log.Info("auth: redis available again")
	}
}
