package core

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ResourceAuthStore is what resource auth needs of storage. Each setter
// replaces what the resource had in one transaction; a resource deleted
// meanwhile → ResourceNotFound.
type ResourceAuthStore interface {
	GetResource(ctx context.Context, id int64) (*corev1.Resource, error)
	// SetResourcePassword makes hash the resource's only password; nil
	// removes it.
	SetResourcePassword(ctx context.Context, resourceID int64, hash *string) error
	// SetResourcePincode makes hash (of a PIN of digits digits) the
	// resource's only PIN code; nil removes it.
	SetResourcePincode(ctx context.Context, resourceID int64, hash *string, digits int32) error
	// SetResourceHeaderAuth makes auth the resource's only header
	// authentication; nil removes it.
	SetResourceHeaderAuth(ctx context.Context, resourceID int64, auth *HeaderAuth) error
	// ResourceWhitelist returns the whitelist in the order it was added.
	ResourceWhitelist(ctx context.Context, resourceID int64) ([]*corev1.WhitelistEntry, error)
	// SetResourceWhitelist makes emails (distinct) the whole whitelist:
	// entries already there stay, the others are added or removed.
	SetResourceWhitelist(ctx context.Context, resourceID int64, emails []string) error
	// AddResourceWhitelistEmail: already there → WhitelistEmailExists.
	AddResourceWhitelistEmail(ctx context.Context, resourceID int64, email string) error
	// RemoveResourceWhitelistEmail: not there → WhitelistEmailNotFound.
	RemoveResourceWhitelistEmail(ctx context.Context, resourceID int64, email string) error
}

// HeaderAuth is a resource's header authentication as stored: the hash of
// base64(user:password) and whether the extended compatibility is on.
type HeaderAuth struct {
	Hash                  string
	ExtendedCompatibility bool
}

// WhitelistEmailExists and WhitelistEmailNotFound are Pangolin's answers
// for an add of an e-mail already whitelisted and a remove of one that is
// not.
func WhitelistEmailExists() error {
	return Errorf(CodeConflict, "Email already exists in whitelist")
}

func WhitelistEmailNotFound() error {
	return Errorf(CodeNotFound, "Email not found in whitelist")
}

// maxWhitelist is the most entries one set call takes, as in Pangolin.
const maxWhitelist = 50

// pincodeDigits is the length of a resource PIN code.
const pincodeDigits = 6

// ResourceAuth is the ResourceAuthService.
type ResourceAuth struct {
	corev1.UnimplementedResourceAuthServiceServer
	store ResourceAuthStore
	// hash returns the argon2id hash of a visitor secret (password, PIN,
	// header credentials). It is the one way these secrets are hashed, so
	// that the core's bound on concurrent hashing applies to all of them.
	hash func(ctx context.Context, secret string) (string, error)
}

// SetResourcePassword sets the password (4-100 characters) or, for null,
// removes it.
func (s *ResourceAuth) SetResourcePassword(ctx context.Context, req *corev1.SetResourcePasswordRequest) (*corev1.Empty, error) {
	var hash *string
	if req.Password != nil {
		if err := checkSecretLength("password", req.GetPassword()); err != nil {
			return nil, err
		}
		h, err := s.hash(ctx, req.GetPassword())
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	return &corev1.Empty{}, s.store.SetResourcePassword(ctx, req.GetResourceId(), hash)
}

// SetResourcePincode sets the PIN code (6 digits) or, for null, removes it.
func (s *ResourceAuth) SetResourcePincode(ctx context.Context, req *corev1.SetResourcePincodeRequest) (*corev1.Empty, error) {
	var hash *string
	if req.Pincode != nil {
		if !isDigits(req.GetPincode(), pincodeDigits) {
			return nil, Errorf(CodeInvalid, "Validation error: pincode must be exactly %d digits", pincodeDigits)
		}
		h, err := s.hash(ctx, req.GetPincode())
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	return &corev1.Empty{}, s.store.SetResourcePincode(ctx, req.GetResourceId(), hash, pincodeDigits)
}

// SetResourceHeaderAuth sets the header authentication when user,
// password and extendedCompatibility are all given, and removes it when
// any is null. Values given are validated either way.
func (s *ResourceAuth) SetResourceHeaderAuth(ctx context.Context, req *corev1.SetResourceHeaderAuthRequest) (*corev1.Empty, error) {
	for _, f := range []struct {
		name  string
		value *string
	}{{"user", req.User}, {"password", req.Password}} {
		if f.value != nil {
			if err := checkSecretLength(f.name, *f.value); err != nil {
				return nil, err
			}
		}
	}
	var auth *HeaderAuth
	if req.User != nil && req.Password != nil && req.ExtendedCompatibility != nil {
		// What the visitor's header carries: base64 of user:password.
		h, err := s.hash(ctx, base64.StdEncoding.EncodeToString([]byte(req.GetUser()+":"+req.GetPassword())))
		if err != nil {
			return nil, err
		}
		auth = &HeaderAuth{Hash: h, ExtendedCompatibility: req.GetExtendedCompatibility()}
	}
	return &corev1.Empty{}, s.store.SetResourceHeaderAuth(ctx, req.GetResourceId(), auth)
}

// SetResourceWhitelist replaces the whitelist of a resource whose
// whitelist is enabled.
func (s *ResourceAuth) SetResourceWhitelist(ctx context.Context, req *corev1.SetResourceWhitelistRequest) (*corev1.Empty, error) {
	if len(req.GetEmails()) > maxWhitelist {
		return nil, Errorf(CodeInvalid, "Validation error: emails must hold at most %d entries", maxWhitelist)
	}
	emails := make([]string, 0, len(req.GetEmails()))
	for i, e := range req.GetEmails() {
		email, err := whitelistEmail(fmt.Sprintf("emails[%d]", i), e)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(emails, email) {
			emails = append(emails, email)
		}
	}
	if err := s.whitelistEnabled(ctx, req.GetResourceId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.SetResourceWhitelist(ctx, req.GetResourceId(), emails)
}

// GetResourceWhitelist lists the whitelist (whether or not it is enabled).
func (s *ResourceAuth) GetResourceWhitelist(ctx context.Context, req *corev1.ResourceIdRequest) (*corev1.ResourceWhitelist, error) {
	list, err := s.store.ResourceWhitelist(ctx, req.GetResourceId())
	return &corev1.ResourceWhitelist{Whitelist: list}, err
}

// AddResourceWhitelistEmail adds one entry to an enabled whitelist.
func (s *ResourceAuth) AddResourceWhitelistEmail(ctx context.Context, req *corev1.ResourceWhitelistEmailRequest) (*corev1.Empty, error) {
	email, err := whitelistEmail("email", req.GetEmail())
	if err != nil {
		return nil, err
	}
	if err := s.whitelistEnabled(ctx, req.GetResourceId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.AddResourceWhitelistEmail(ctx, req.GetResourceId(), email)
}

// RemoveResourceWhitelistEmail removes one entry from an enabled whitelist.
func (s *ResourceAuth) RemoveResourceWhitelistEmail(ctx context.Context, req *corev1.ResourceWhitelistEmailRequest) (*corev1.Empty, error) {
	email, err := whitelistEmail("email", req.GetEmail())
	if err != nil {
		return nil, err
	}
	if err := s.whitelistEnabled(ctx, req.GetResourceId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.RemoveResourceWhitelistEmail(ctx, req.GetResourceId(), email)
}

// whitelistEnabled refuses changes to the whitelist of a resource whose
// whitelist is off, as Pangolin does: they would not take effect.
func (s *ResourceAuth) whitelistEnabled(ctx context.Context, resourceID int64) error {
	r, err := s.store.GetResource(ctx, resourceID)
	if err != nil {
		return err
	}
	if !r.GetEmailWhitelistEnabled() {
		return Errorf(CodeInvalid, "Email whitelist is not enabled for this resource")
	}
	return nil
}

// checkSecretLength applies Pangolin's 4-100 characters to a password or
// a header-auth user.
func checkSecretLength(field, v string) error {
	if n := utf8.RuneCountInString(v); n < 4 || n > 100 {
		return Errorf(CodeInvalid, "Validation error: %s must be 4-100 characters", field)
	}
	return nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Whitelist entries as Pangolin validates them: an e-mail address (zod's
// rule: no leading dot, no "..", a domain of letter-digit-hyphen labels
// and a TLD of 2+ letters) or a wildcard `*@domain.tld` whose `*` is the
// whole local part.
var (
	emailPattern    = regexp.MustCompile(`(?i)^[a-z0-9_'+\-.]*[a-z0-9_+-]@([a-z0-9][a-z0-9-]*\.)+[a-z]{2,}$`)
	wildcardPattern = regexp.MustCompile(`^\*@[\w.-]+\.[a-zA-Z]{2,}$`)
)

// maxEmailLength bounds an entry: the longest address SMTP carries.
const maxEmailLength = 254

// whitelistEmail validates an entry and returns it lower-cased.
func whitelistEmail(field, v string) (string, error) {
	ok := len(v) <= maxEmailLength && (wildcardPattern.MatchString(v) ||
		emailPattern.MatchString(v) && !strings.HasPrefix(v, ".") && !strings.Contains(v, ".."))
	if !ok {
		return "", Errorf(CodeInvalid,
			"Validation error: Invalid email address at %q: an e-mail address or *@domain.tld (the wildcard must be the entire local part), at most %d characters",
			field, maxEmailLength)
	}
	return strings.ToLower(v), nil
}
