package auth

import (
	"errors"
	"strings"
)

// The answers an HTTP layer maps to 401, 503 and 429. Their messages are
// safe to show to clients; wrapped errors may carry details for logs.
var (
	// ErrMissingKey says what the header must look like: the usual
	// mistake is a key sent without the Bearer scheme.
	ErrMissingKey = errors.New("API key required: send Authorization: Bearer <apiKeyId>.<secret>")
	ErrInvalidKey = errors.New("Invalid API key")
	// ErrKeyExpired: the secret is right but the key is past its expiry.
	ErrKeyExpired  = errors.New("API key expired")
	ErrUnavailable = errors.New("Authentication service unavailable")
	ErrBusy        = errors.New("Too many authentication attempts, retry later")
	// ErrRateLimited: the key's own rate limit is spent (429).
	ErrRateLimited = errors.New("Rate limit exceeded for this API key, retry later")
)

// NotAllowedError refuses a key used from an address its allow list does
// not hold (403); its message names the address.
type NotAllowedError struct{ Addr string }

func (e *NotAllowedError) Error() string {
	addr := e.Addr
	if addr == "" {
		addr = "an unknown address"
	}
	return "Key not allowed from " + addr
}

const (
	bearerPrefix = "Bearer "
	keyIDLen     = 15
	// maxSecretLen is generous: real secrets are 40 chars.
	maxSecretLen = 64
)

// ParseBearer splits an Authorization header of the form
// "Bearer <keyId>.<secret>". An empty or non-Bearer header (the scheme is
// case-sensitive, as in Pangolin) is ErrMissingKey; a Bearer token of the
// wrong shape, including one without a dot, is ErrInvalidKey. It does no
// I/O and does not allocate: it runs before anything else on every request.
func ParseBearer(header string) (keyID, secret string, err error) {
	token, ok := strings.CutPrefix(header, bearerPrefix)
	if !ok || token == "" {
		return "", "", ErrMissingKey
	}
	if len(token) > keyIDLen+1+maxSecretLen {
		return "", "", ErrInvalidKey
	}
	keyID, secret, ok = strings.Cut(token, ".")
	if !ok || len(keyID) != keyIDLen || secret == "" || len(secret) > maxSecretLen ||
		!lowerAlnum(keyID) || !lowerAlnum(secret) {
		return "", "", ErrInvalidKey
	}
	return keyID, secret, nil
}

// lowerAlnum reports whether s holds only [a-z0-9]. Secrets are base32
// (a-z2-7) but accepting the wider set costs nothing: a wrong secret fails
// verification anyway.
func lowerAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
