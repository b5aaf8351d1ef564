package core

import (
	"context"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// IdempotencyStore keeps, per (key, idempotency key digest), the request a
// key was first used for and, once it finished, its encrypted answer.
type IdempotencyStore interface {
	// ClaimIdempotency takes the claim, or reports what holds it. A record
	// older than the window counts as absent; a running claim whose lease
	// ran out is taken over.
	ClaimIdempotency(ctx context.Context, c IdempotencyClaim) (corev1.ClaimResponse_State, []byte, error)
	CompleteIdempotency(ctx context.Context, keyID, digest string, answer []byte) error
	ReleaseIdempotency(ctx context.Context, keyID, digest string) error
	PruneIdempotency(ctx context.Context, before time.Time) error
}

// IdempotencyClaim is one claim, with the times the store compares.
type IdempotencyClaim struct {
	KeyID, Digest, Fingerprint string
	// Now, LeaseUntil and Expired (records created before it are gone) in
	// TimeFormat.
	Now, LeaseUntil, Expired string
}

// Idempotency is the IdempotencyService: the gateways' shared memory of
// the requests sent with an Idempotency-Key. It stores what the gateway
// sends (the answer is ciphertext) and never sees a plaintext answer.
type Idempotency struct {
	corev1.UnimplementedIdempotencyServiceServer
	store IdempotencyStore
	now   func() time.Time
}

// maxAnswer bounds a stored answer (the gateway's bodies are bounded by
// their encoding; this only keeps a broken sender from filling the store).
const maxAnswer = 4 << 20

// idempotencyField checks the identifiers a gateway sends.
func idempotencyField(name, v string) error {
	if v == "" || len(v) > 128 {
		return Errorf(CodeInvalid, "%s must be 1-128 characters", name)
	}
	return nil
}

func (s *Idempotency) Claim(ctx context.Context, req *corev1.ClaimRequest) (*corev1.ClaimResponse, error) {
	for name, v := range map[string]string{"apiKeyId": req.GetApiKeyId(), "keyDigest": req.GetKeyDigest(), "fingerprint": req.GetFingerprint()} {
		if err := idempotencyField(name, v); err != nil {
			return nil, err
		}
	}
	lease := time.Duration(req.GetLeaseMs()) * time.Millisecond
	if lease <= 0 || lease > time.Hour {
		return nil, Errorf(CodeInvalid, "leaseMs must be from 1 ms to 1 hour")
	}
	now := s.now()
	state, answer, err := s.store.ClaimIdempotency(ctx, IdempotencyClaim{
		KeyID: req.GetApiKeyId(), Digest: req.GetKeyDigest(), Fingerprint: req.GetFingerprint(),
		Now: Timestamp(now), LeaseUntil: Timestamp(now.Add(lease)), Expired: Timestamp(now.Add(-IdempotencyWindow)),
	})
	if err != nil {
		return nil, err
	}
	return &corev1.ClaimResponse{State: state, Answer: answer}, nil
}

func (s *Idempotency) Complete(ctx context.Context, req *corev1.CompleteRequest) (*corev1.Empty, error) {
	if err := idempotencyField("apiKeyId", req.GetApiKeyId()); err != nil {
		return nil, err
	}
	if err := idempotencyField("keyDigest", req.GetKeyDigest()); err != nil {
		return nil, err
	}
	if len(req.GetAnswer()) == 0 || len(req.GetAnswer()) > maxAnswer {
		return nil, Errorf(CodeInvalid, "answer must be 1 byte to %d bytes", maxAnswer)
	}
	return &corev1.Empty{}, s.store.CompleteIdempotency(ctx, req.GetApiKeyId(), req.GetKeyDigest(), req.GetAnswer())
}

func (s *Idempotency) Release(ctx context.Context, req *corev1.ReleaseRequest) (*corev1.Empty, error) {
	if err := idempotencyField("apiKeyId", req.GetApiKeyId()); err != nil {
		return nil, err
	}
	if err := idempotencyField("keyDigest", req.GetKeyDigest()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.ReleaseIdempotency(ctx, req.GetApiKeyId(), req.GetKeyDigest())
}
