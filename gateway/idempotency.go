package gateway

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"pangolin-gateway/gateway/api"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// idempotency makes the writes (PUT, POST, DELETE) sent with an
// Idempotency-Key safe to retry: one request per (calling key,
// idempotency key) runs within 24 hours; a retry of the same method, path
// and body gets the first answer again, on any replica.
//
// The records live in the core's database, not in Redis: every replica
// reaches it, a Redis restart, eviction or outage cannot forget a key and
// run a retry twice, the embedded default (no Redis) works the same, and
// the core is needed for the write anyway. Requests without the header
// pay nothing; those with it pay two small core calls.
//
// Answers are sealed here with AES-256-GCM before they leave the gateway
// (a new key's secret, a newt secret or a token may be in them), bound to
// their calling key and idempotency key, under a key derived from the
// gateways' shared secret: the core stores ciphertext only.
type idempotency struct {
	authn   api.Authenticator
	client  corev1.IdempotencyServiceClient
	aead    cipher.AEAD
	maxBody int64
	// timeout bounds each call to the core; lease is how long a claim
	// holds while its request runs (a retry past it runs the request,
	// assuming the replica that claimed it died).
	timeout, lease time.Duration
	log            *slog.Logger
}

const (
	replayedHeader = "Idempotent-Replayed"
	// maxStoredAnswer bounds an answer kept for replay; write answers are
	// far smaller.
	maxStoredAnswer = 1 << 20
)

// newIdempotency derives the answers' key from secret (server.secret, or
// core.token when it is unset): every replica derives the same.
func newIdempotency(secret []byte, authn api.Authenticator, client corev1.IdempotencyServiceClient,
	maxBody int64, timeout time.Duration, log *slog.Logger) (*idempotency, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "pangolin-gateway idempotent answers v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &idempotency{authn: authn, client: client, aead: aead, maxBody: maxBody,
		timeout: timeout, lease: timeout + 5*time.Second, log: log}, nil
}

func (i *idempotency) middleware(c *gin.Context) {
	values, ok := c.Request.Header[api.IdempotencyHeader]
	if !ok || !api.IdempotentMethod(c.Request.Method) || c.FullPath() == "" {
		c.Next()
		return
	}
	if len(values) != 1 || !validIdempotencyKey(values[0]) {
		api.Abort(c, http.StatusBadRequest, "Idempotency-Key must be one header of 1-255 printable ASCII characters")
		return
	}
	ctx := c.Request.Context()
	key, err := i.authn.Authenticate(ctx, c.GetHeader("Authorization"))
	if err != nil {
		c.Next() // the route refuses the key itself
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, i.maxBody+1))
	if err != nil {
		api.Abort(c, http.StatusBadRequest, "Could not read the request body")
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	if int64(len(body)) > i.maxBody {
		c.Next() // the route answers 413
		return
	}
	rec := idempotencyRecord{keyID: key.KeyID, digest: digest(values[0])}
	cctx, cancel := context.WithTimeout(ctx, i.timeout)
	claim, err := i.client.Claim(cctx, &corev1.ClaimRequest{
		ApiKeyId: rec.keyID, KeyDigest: rec.digest, LeaseMs: int32(i.lease / time.Millisecond),
		Fingerprint: digest(c.Request.Method, c.Request.URL.RequestURI(), string(body)),
	})
	cancel()
	if err != nil {
		i.log.WarnContext(ctx, "gateway: claiming an idempotency key failed", "err", err)
		api.Abort(c, http.StatusServiceUnavailable, "Service temporarily unavailable, retry later")
		return
	}
	switch claim.GetState() {
	case corev1.ClaimResponse_STATE_MISMATCH:
		api.Abort(c, http.StatusUnprocessableEntity, "Idempotency-Key was already used for a different request")
	case corev1.ClaimResponse_STATE_RUNNING:
		api.Abort(c, http.StatusConflict, "A request with this Idempotency-Key is still in progress, retry later")
	case corev1.ClaimResponse_STATE_DONE:
		i.replay(c, rec, claim.GetAnswer())
	default:
		i.run(c, rec)
	}
}

// idempotencyRecord names one record: the calling key and the digest of
// the idempotency key (the header itself is not stored).
type idempotencyRecord struct{ keyID, digest string }

func (r idempotencyRecord) aad() []byte { return []byte(r.keyID + "\x00" + r.digest) }

// run serves the request and stores its answer. Answers a retry should
// not get again (5xx: the core failed or was unreachable; 429: busy) are
// not stored: the claim is released and a retry runs the request.
func (i *idempotency) run(c *gin.Context, rec idempotencyRecord) {
	w := &teeWriter{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()
	// The answer is stored before it is flushed to the client (net/http
	// sends it when the handler returns), so a retry finds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), i.timeout)
	defer cancel()
	status := w.Status()
	if status >= 500 || status == http.StatusTooManyRequests || w.overflow {
		if _, err := i.client.Release(ctx, &corev1.ReleaseRequest{ApiKeyId: rec.keyID, KeyDigest: rec.digest}); err != nil {
			i.log.WarnContext(ctx, "gateway: releasing an idempotency key failed; a retry waits for its lease", "err", err)
		}
		return
	}
	_, err := i.client.Complete(ctx, &corev1.CompleteRequest{
		ApiKeyId: rec.keyID, KeyDigest: rec.digest, Answer: i.seal(rec, status, w.body.Bytes()),
	})
	if err != nil {
		i.log.WarnContext(ctx, "gateway: storing an idempotent answer failed; a retry after its lease runs again", "err", err)
	}
}

// replay answers with the stored answer.
func (i *idempotency) replay(c *gin.Context, rec idempotencyRecord, sealed []byte) {
	status, body, err := i.open(rec, sealed)
	if err != nil {
		i.log.WarnContext(c.Request.Context(), "gateway: a stored idempotent answer cannot be opened (was server.secret changed?)", "err", err)
		api.Abort(c, http.StatusUnprocessableEntity, "The answer stored for this Idempotency-Key cannot be replayed; send a new key")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set(replayedHeader, "true")
	c.Writer.WriteHeader(status)
	c.Writer.Write(body)
	c.Abort()
}

// seal encrypts status and body: nonce, then the GCM ciphertext of the
// status (2 bytes) and the body, bound to the record.
func (i *idempotency) seal(rec idempotencyRecord, status int, body []byte) []byte {
	plain := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(body)), uint16(status))
	plain = append(plain, body...)
	nonce := make([]byte, i.aead.NonceSize(), i.aead.NonceSize()+len(plain)+i.aead.Overhead())
	rand.Read(nonce)
	return i.aead.Seal(nonce, nonce, plain, rec.aad())
}

func (i *idempotency) open(rec idempotencyRecord, sealed []byte) (int, []byte, error) {
	n := i.aead.NonceSize()
	if len(sealed) < n {
		return 0, nil, errors.New("stored answer too short")
	}
	plain, err := i.aead.Open(nil, sealed[:n], sealed[n:], rec.aad())
	if err != nil {
		return 0, nil, err
	}
	if len(plain) < 2 {
		return 0, nil, errors.New("stored answer has no status")
	}
	return int(binary.BigEndian.Uint16(plain)), plain[2:], nil
}

// validIdempotencyKey: 1-255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > api.MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// digest is the hex SHA-256 of parts, each length-prefixed so that no two
// lists of parts share one.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p))))
		io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// teeWriter keeps a copy of the answer it writes, up to maxStoredAnswer.
type teeWriter struct {
	gin.ResponseWriter
	body     bytes.Buffer
	overflow bool
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.keep(b)
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) WriteString(s string) (int, error) {
	w.keep([]byte(s))
	return w.ResponseWriter.WriteString(s)
}

func (w *teeWriter) keep(b []byte) {
	if w.body.Len()+len(b) > maxStoredAnswer {
		w.overflow = true
		return
	}
	w.body.Write(b)
}
