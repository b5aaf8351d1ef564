package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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
	return principalOf(keyID, p)
}

// principalOf is the core's answer as a Principal. Anything that does not
// parse is the core's fault, never a reason to grant more.
func principalOf(keyID string, p *corev1.Principal) (*Principal, error) {
	out := NewPrincipal(keyID, p.GetIsRoot(), p.GetOrgIds(), p.GetActionIds())
	var err error
	if out.ExpiresAt, err = optionalTime(p.ExpiresAt); err != nil {
		return nil, fmt.Errorf("%w: core answered an expiry that does not parse: %w", ErrUnavailable, err)
	}
	if out.PreviousUntil, err = optionalTime(p.PreviousSecretExpiresAt); err != nil {
		return nil, fmt.Errorf("%w: core answered a grace that does not parse: %w", ErrUnavailable, err)
	}
	if p.GetPreviousSecret() {
		out.SecretUntil = out.PreviousUntil
	}
	for _, s := range p.GetAllowedIps() {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%w: core answered an allow list that does not parse: %w", ErrUnavailable, err)
		}
		out.AllowedIPs = append(out.AllowedIPs, prefix)
	}
	if r := p.GetRateLimit(); r != nil {
		if r.GetRequests() < 1 || r.GetPerSeconds() < 1 {
			return nil, fmt.Errorf("%w: core answered a rate limit of %d per %d s", ErrUnavailable, r.GetRequests(), r.GetPerSeconds())
		}
		out.RateLimit = RateLimit{Requests: int(r.GetRequests()), Per: time.Duration(r.GetPerSeconds()) * time.Second}
	}
	return out, nil
}

// optionalTime parses an optional RFC 3339 time; nil is the zero time.
func optionalTime(s *string) (time.Time, error) {
	if s == nil {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, *s)
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
