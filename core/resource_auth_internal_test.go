package core

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// authStore records what resource auth hands to storage.
type authStore struct {
	ResourceAuthStore
	password, pincode *string
	digits            int32
	header            *HeaderAuth
	calls             int
}

func (s *authStore) SetResourcePassword(_ context.Context, _ int64, hash *string) error {
	s.password, s.calls = hash, s.calls+1
	return nil
}

func (s *authStore) SetResourcePincode(_ context.Context, _ int64, hash *string, digits int32) error {
	s.pincode, s.digits, s.calls = hash, digits, s.calls+1
	return nil
}

func (s *authStore) SetResourceHeaderAuth(_ context.Context, _ int64, auth *HeaderAuth) error {
	s.header, s.calls = auth, s.calls+1
	return nil
}

// Every visitor secret is hashed through the service's one hashing entry
// point, nothing reaches storage in clear, null removes, and a failing
// hash (the core's bound refusing) stores nothing.
func TestResourceAuthHashesThroughOneEntryPoint(t *testing.T) {
	var hashed []string
	store := &authStore{}
	s := &ResourceAuth{store: store, hash: func(_ context.Context, secret string) (string, error) {
		hashed = append(hashed, secret)
		return "hash(" + secret + ")", nil
	}}
	ctx := context.Background()
	if _, err := s.SetResourcePassword(ctx, &corev1.SetResourcePasswordRequest{ResourceId: 1, Password: proto.String("correct-horse")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetResourcePincode(ctx, &corev1.SetResourcePincodeRequest{ResourceId: 1, Pincode: proto.String("012345")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetResourceHeaderAuth(ctx, &corev1.SetResourceHeaderAuthRequest{ResourceId: 1, User: proto.String("robot"),
		Password: proto.String("pa:ss word"), ExtendedCompatibility: proto.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	header := base64.StdEncoding.EncodeToString([]byte("robot:pa:ss word"))
	if len(hashed) != 3 || hashed[0] != "correct-horse" || hashed[1] != "012345" || hashed[2] != header {
		t.Fatalf("hashed %q", hashed)
	}
	if *store.password != "hash(correct-horse)" || *store.pincode != "hash(012345)" || store.digits != 6 ||
		store.header.Hash != "hash("+header+")" || store.header.ExtendedCompatibility {
		t.Fatalf("stored %v %v %v", *store.password, *store.pincode, store.header)
	}

	// Null removes; no hash is computed.
	hashed = nil
	s.SetResourcePassword(ctx, &corev1.SetResourcePasswordRequest{ResourceId: 1})
	s.SetResourcePincode(ctx, &corev1.SetResourcePincodeRequest{ResourceId: 1})
	for _, req := range []*corev1.SetResourceHeaderAuthRequest{
		{ResourceId: 1, Password: proto.String("pass"), ExtendedCompatibility: proto.Bool(true)},
		{ResourceId: 1, User: proto.String("user"), ExtendedCompatibility: proto.Bool(true)},
		{ResourceId: 1, User: proto.String("user"), Password: proto.String("pass")},
	} {
		store.header = &HeaderAuth{}
		if _, err := s.SetResourceHeaderAuth(ctx, req); err != nil || store.header != nil {
			t.Fatalf("%v: %v, stored %v", req, err, store.header)
		}
	}
	if store.password != nil || store.pincode != nil || len(hashed) != 0 {
		t.Fatalf("null did not remove: %v %v, hashed %q", store.password, store.pincode, hashed)
	}

	// A value given is checked even when another null removes.
	calls := store.calls
	_, err := s.SetResourceHeaderAuth(ctx, &corev1.SetResourceHeaderAuthRequest{ResourceId: 1, User: proto.String("abc")})
	if ErrorCode(err) != CodeInvalid || err.Error() != "Validation error: user must be 4-100 characters" || store.calls != calls {
		t.Fatalf("short user: %v", err)
	}

	busy := Errorf(CodeExhausted, "busy")
	s.hash = func(context.Context, string) (string, error) { return "", busy }
	if _, err := s.SetResourcePassword(ctx, &corev1.SetResourcePasswordRequest{ResourceId: 1, Password: proto.String("correct-horse")}); !errors.Is(err, busy) || store.calls != calls {
		t.Fatalf("failing hash: %v, %d calls", err, store.calls-calls)
	}
}

func TestWhitelistEmail(t *testing.T) {
	for in, want := range map[string]string{
		"ann@example.com": "ann@example.com", "Ann.Lee+x@Mail.Example.COM": "ann.lee+x@mail.example.com",
		"*@example.org": "*@example.org", "*@Sub.Example.ORG": "*@sub.example.org", "o'brien@example.ie": "o'brien@example.ie",
		"a_b-c@x-y.example.io": "a_b-c@x-y.example.io",
		// Refused.
		"": "", "ann": "", "ann@": "", "@example.com": "", "ann@example": "", "ann@example.c": "", "ann@example.c0m": "",
		".ann@example.com": "", "ann.@example.com": "", "a..b@example.com": "", "ann@-example.com": "", "ann@example..com": "",
		"a*@example.com": "", "*a@example.com": "", "*@example": "", "*@*.example.com": "", "ann lee@example.com": "",
		"ann@exa mple.com": "", "ann@example.com\n": "", "ann@ex\u00e4mple.com": "",
		"a@x.com": "a@x.com",
	} {
		got, err := whitelistEmail("email", in)
		if want == "" {
			if err == nil || ErrorCode(err) != CodeInvalid {
				t.Errorf("%q: accepted as %q", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	long := "a@" + strings.Repeat("x", 250) + ".com"
	if _, err := whitelistEmail("emails[3]", long); err == nil || !strings.Contains(err.Error(), `"emails[3]"`) {
		t.Errorf("a %d-character address: %v", len(long), err)
	}
}
