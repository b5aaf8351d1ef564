package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
)

// Scalars: how a JSON token (or a query value, through numberValue) becomes
// a field's value, and how a mismatch is named to the client.

// value converts one non-null token to a value of f's kind. fresh is an
// empty message for message fields; start is where the token's raw text
// begins.
func (r *reader) value(f *bodyField, tok json.Token, start int64, fresh protoreflect.Value, at string) (protoreflect.Value, error) {
	fd := f.fd
	wrongType := func() (protoreflect.Value, error) {
		return protoreflect.Value{}, badRequest(fmt.Sprintf("Validation error: Expected %s, received %s at %q", expected(fd), received(tok), at))
	}
	switch fd.Kind() {
	case protoreflect.MessageKind:
		if tok != json.Delim('{') {
			return wrongType()
		}
		seen, err := r.object(f.message, fresh.Message(), at)
		if err != nil {
			return protoreflect.Value{}, err
		}
		return fresh, f.message.checkRequired(fresh.Message(), seen, at)
	case protoreflect.StringKind, protoreflect.EnumKind:
		if n, isNumber := tok.(json.Number); isNumber && f.digits {
			if !canonicalInteger(string(n)) || strings.HasPrefix(string(n), "-") {
				return wrongType()
			}
			return protoreflect.ValueOfString(string(n)), nil
		}
		s, ok := tok.(string)
		if !ok {
			return wrongType()
		}
		if !r.validString(s, start) {
			return protoreflect.Value{}, badRequest(fmt.Sprintf("Validation error: Invalid string: not UTF-8 or holds NUL at %q", at))
		}
		if fd.Kind() == protoreflect.StringKind {
			return protoreflect.ValueOfString(s), nil
		}
		ev := fd.Enum().Values().ByName(protoreflect.Name(s))
		if ev == nil {
			return protoreflect.Value{}, badRequest(fmt.Sprintf("Validation error: Invalid enum value %q at %q", s, at))
		}
		return protoreflect.ValueOfEnum(ev.Number()), nil
	case protoreflect.BoolKind:
		b, ok := tok.(bool)
		if !ok {
			return wrongType()
		}
		return protoreflect.ValueOfBool(b), nil
	}
	n, ok := tok.(json.Number)
	if !ok {
		return wrongType()
	}
	v, err := numberValue(fd.Kind(), string(n))
	if errors.Is(err, strconv.ErrSyntax) {
		return wrongType() // 1.5 or 1e3 for an integer
	}
	if err != nil {
		return protoreflect.Value{}, badRequest(fmt.Sprintf("Validation error: Number out of range (%s) at %q", kindRange(fd.Kind()), at))
	}
	return v, nil
}

// validString reports whether a decoded string is UTF-8 without NUL as the
// client sent it. encoding/json turns invalid UTF-8 and lone surrogate
// escapes into U+FFFD silently, so when the decoded string holds U+FFFD the
// raw text is checked.
func (r *reader) validString(s string, start int64) bool {
	if strings.IndexByte(s, 0) >= 0 {
		return false
	}
	if !strings.ContainsRune(s, utf8.RuneError) {
		return true
	}
	raw := r.raw[start:r.dec.InputOffset()]
	raw = raw[bytes.IndexByte(raw, '"'):]
	return utf8.Valid(raw) && !loneSurrogate(raw)
}

// loneSurrogate reports whether a raw JSON string escapes half of a
// surrogate pair without the other half.
func loneSurrogate(raw []byte) bool {
	high := false // the previous escape was a high surrogate
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			if high {
				return true
			}
			continue
		}
		i++
		if raw[i] != 'u' {
			if high {
				return true
			}
			continue
		}
		c, _ := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
		i += 4
		switch {
		case c >= 0xD800 && c < 0xDC00:
			if high {
				return true
			}
			high = true
		case c >= 0xDC00 && c < 0xE000:
			if !high {
				return true
			}
			high = false
		default:
			if high {
				return true
			}
		}
	}
	return false
}

func numberValue(k protoreflect.Kind, s string) (protoreflect.Value, error) {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), err
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := parseUint(s, 32)
		return protoreflect.ValueOfUint32(uint32(n)), err
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := parseUint(s, 64)
		return protoreflect.ValueOfUint64(n), err
	case protoreflect.FloatKind:
		f, err := strconv.ParseFloat(s, 32)
		return protoreflect.ValueOfFloat32(float32(f)), err
	default: // double
		f, err := strconv.ParseFloat(s, 64)
		return protoreflect.ValueOfFloat64(f), err
	}
}

// parseUint refuses a negative integer as out of range, not as a syntax
// error: -1 is an integer, just not one the field holds.
func parseUint(s string, bits int) (uint64, error) {
	if rest, neg := strings.CutPrefix(s, "-"); neg {
		if _, err := strconv.ParseUint(rest, 10, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, err
		}
		return 0, strconv.ErrRange
	}
	return strconv.ParseUint(s, 10, bits)
}

// kindRange says which numbers a kind holds, for out-of-range messages.
func kindRange(k protoreflect.Kind) string {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return fmt.Sprintf("integer from %d to %d", math.MinInt32, math.MaxInt32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return fmt.Sprintf("integer from %d to %d", int64(math.MinInt64), int64(math.MaxInt64))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return fmt.Sprintf("integer from 0 to %d", uint32(math.MaxUint32))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return fmt.Sprintf("integer from 0 to %d", uint64(math.MaxUint64))
	default:
		return "a finite number"
	}
}

// expected names a field's JSON type the way a JSON client thinks of it.
func expected(fd protoreflect.FieldDescriptor) string {
	if contract.FieldOf(fd).GetDigits() {
		return "string of digits or integer"
	}
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.EnumKind:
		return "string"
	case protoreflect.BoolKind:
		return "boolean"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return "number"
	case protoreflect.MessageKind:
		return "object"
	default:
		return "integer"
	}
}

// received names a token's JSON type as the messages always did
// (encoding/json's words).
func received(tok json.Token) string {
	switch tok.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number:
		return "number"
	}
	if tok == json.Delim('[') {
		return "array"
	}
	return "object"
}
