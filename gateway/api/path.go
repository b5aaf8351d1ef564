package api

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// pathField is a request field filled from a path parameter of the same
// (JSON) name.
type pathField struct {
	fd   protoreflect.FieldDescriptor
	name string
	// bits of an integer id; 0 for strings.
	bits int
}

func newPathField(fd protoreflect.FieldDescriptor) (pathField, error) {
	p := pathField{fd: fd, name: fd.JSONName()}
	switch fd.Kind() {
	case protoreflect.StringKind:
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		p.bits = 31
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		p.bits = 63
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		p.bits = 32
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		p.bits = 64
	default:
		return p, fmt.Errorf("%s: a path parameter is a string or an integer id, not %s", fd.FullName(), fd.Kind())
	}
	return p, nil
}

// value checks and converts a parameter. Ids are positive integers in
// canonical decimal only (no sign, no leading zero: /site/03 is not
// /site/3); strings are UTF-8 without NUL, which no store keeps safely.
func (p pathField) value(raw string) (protoreflect.Value, error) {
	if p.bits == 0 {
		if raw == "" || !utf8.ValidString(raw) || strings.IndexByte(raw, 0) >= 0 {
			return protoreflect.Value{}, badRequest(fmt.Sprintf("Invalid %s: %q is not a non-empty UTF-8 string without NUL", p.name, raw))
		}
		return protoreflect.ValueOfString(raw), nil
	}
	n, ok := positiveDecimal(raw, p.bits)
	if !ok {
		return protoreflect.Value{}, badRequest(fmt.Sprintf("Invalid %s: %q is not a positive integer", p.name, raw))
	}
	switch p.fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(n), nil
	default:
		return protoreflect.ValueOfInt64(int64(n)), nil
	}
}

// positiveDecimal parses [1-9][0-9]* of at most bits bits.
func positiveDecimal(s string, bits int) (uint64, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return n, err == nil
}
