package core

import (
	"net/netip"
	"regexp"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// orgIDPattern is newer Pangolin's rule: groups of lowercase letters, digits
// and underscores joined by single hyphens, 1-32 characters in all.
var orgIDPattern = regexp.MustCompile(`^[a-z0-9_]+(-[a-z0-9_]+)*$`)

var niceIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)

func checkName(field, v string) error {
	if n := utf8.RuneCountInString(v); n < 1 || n > 255 {
		return Errorf(CodeInvalid, "Validation error: %s must be 1-255 characters", field)
	}
	return nil
}

func checkOrgID(id string) error {
	if len(id) < 1 || len(id) > 32 || !orgIDPattern.MatchString(id) {
		return Errorf(CodeInvalid, "Validation error: orgId must be 1-32 lowercase letters, digits or underscores, in groups joined by single hyphens")
	}
	return nil
}

func checkNiceID(id string) error {
	if len(id) < 1 || len(id) > 255 || !niceIDPattern.MatchString(id) {
		return Errorf(CodeInvalid, "Validation error: niceId must be 1-255 letters, digits or hyphens")
	}
	return nil
}

// parseIPv4Prefix parses a CIDR such as 100.90.128.0/24.
func parseIPv4Prefix(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p, true
}

// setsAnyBut reports whether msg has a field set other than the one named
// (an update request names its object and carries what changes).
func setsAnyBut(msg proto.Message, except protoreflect.Name) bool {
	found := false
	msg.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		found = fd.Name() != except
		return !found
	})
	return found
}
