package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Verifier checks a key's secret at the source of truth. It returns
// ErrInvalidKey for an unknown key or a wrong secret.
type Verifier interface {
	Verify(ctx context.Context, keyID, secret string) (*Principal, error)
}

// CoreVerifier verifies keys with the core's ApiKeyService.Verify, where
// the argon2id hash lives.
type CoreVerifier struct {
	Client corev1.ApiKeyServiceClient
}

// Verify implements Verifier. Transport failures wrap ErrUnavailable and
// the core's rate limit wraps ErrBusy, so no failure can pass as success.
func (v CoreVerifier) Verify(ctx context.Context, keyID, secret string) (*Principal, error) {
	p, err := v.Client.Verify(ctx, &corev1.VerifyRequest{ApiKeyId: keyID, Secret: secret})
	if err != nil {
		return nil, verifyError(err)
	}
	if p.GetApiKeyId() != "" && p.GetApiKeyId() != keyID {
		return nil, fmt.Errorf("%w: core answered for another key", ErrUnavailable)
	}
	out := NewPrincipal(keyID, p.GetIsRoot(), p.GetOrgIds(), p.GetActionIds())
	if p.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339Nano, p.GetExpiresAt())
		if err != nil {
			return nil, fmt.Errorf("%w: core answered an expiry that does not parse: %w", ErrUnavailable, err)
		}
		out.ExpiresAt = t
	}
	return out, nil
}

func verifyError(err error) error {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.NotFound:
		if status.Convert(err).Message() == ErrKeyExpired.Error() {
			return ErrKeyExpired
		}
		return ErrInvalidKey
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %w", ErrBusy, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// normalizeVerifyError keeps a Verifier's answer within the package's
// errors, whatever the Verifier is: anything unknown counts as unavailable.
func normalizeVerifyError(err error) error {
	if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrKeyExpired) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBusy) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
