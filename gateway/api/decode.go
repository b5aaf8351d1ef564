package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// A decoder reads a JSON body into a request message, strictly: names match
// the fields' JSON names exactly, an unknown key is a 400 unless the route
// is lenient, a duplicate key is a 400, every value must have its field's
// JSON type, integers are integral and in range, strings are UTF-8 without
// NUL, required fields must be present and not null, and null leaves an
// optional field unset. Each failure names the field. It reads tokens
// (encoding/json's Decoder.Token), not Go structs, so that nothing about a
// field is guessed: encoding/json's own struct decoding matches names
// case-insensitively and lets a duplicate key win silently.
type decoder struct {
	fields  []*bodyField
	byName  map[string]*bodyField
	lenient bool
}

type bodyField struct {
	fd       protoreflect.FieldDescriptor
	name     string
	index    int // in its decoder's fields
	required bool
	// message decodes message values (list elements too).
	message *decoder
}

// decoders builds the decoder of each message type once. The request
// message itself is built by newBodyDecoder: only its BODY fields are
// settable from the body.
type decoders map[protoreflect.FullName]*decoder

func newBodyDecoder(req protoreflect.MessageDescriptor, lenient bool) (*decoder, error) {
	d := &decoder{byName: map[string]*bodyField{}, lenient: lenient}
	return d, decoders{}.fill(d, req, func(fd protoreflect.FieldDescriptor) bool {
		return contract.FieldOf(fd).GetSource() == apiv1.Source_SOURCE_BODY
	})
}

func (ds decoders) of(md protoreflect.MessageDescriptor) (*decoder, error) {
	if d, ok := ds[md.FullName()]; ok {
		return d, nil
	}
	d := &decoder{byName: map[string]*bodyField{}}
	ds[md.FullName()] = d
	return d, ds.fill(d, md, func(protoreflect.FieldDescriptor) bool { return true })
}

func (ds decoders) fill(d *decoder, md protoreflect.MessageDescriptor, settable func(protoreflect.FieldDescriptor) bool) error {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !settable(fd) {
			continue
		}
		if fd.IsMap() || fd.Kind() == protoreflect.BytesKind || fd.Kind() == protoreflect.GroupKind {
			return fmt.Errorf("%s: %s fields cannot be read from a JSON body", fd.FullName(), fd.Kind())
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			return fmt.Errorf("%s: oneof fields cannot be read from a JSON body", fd.FullName())
		}
		f := &bodyField{fd: fd, name: fd.JSONName(), index: len(d.fields), required: contract.FieldOf(fd).GetRequired()}
		if fd.Kind() == protoreflect.MessageKind {
			sub, err := ds.of(fd.Message())
			if err != nil {
				return err
			}
			f.message = sub
		}
		d.fields = append(d.fields, f)
		d.byName[f.name] = f
	}
	return nil
}

// decodeBody reads body (already size-limited) into m. An empty body is {}.
func (d *decoder) decodeBody(body []byte, m protoreflect.Message) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return d.checkRequired(m, nil, "")
	}
	r := &reader{raw: body, dec: json.NewDecoder(bytes.NewReader(body))}
	r.dec.UseNumber()
	tok, err := r.token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return badRequest("Validation error: Expected object, received " + received(tok))
	}
	seen, err := r.object(d, m, "")
	if err != nil {
		return err
	}
	if _, err := r.dec.Token(); err != io.EOF {
		return badRequest("Malformed JSON body: unexpected data after the JSON object")
	}
	return d.checkRequired(m, seen, "")
}

// reader walks the tokens of one body.
type reader struct {
	raw []byte
	dec *json.Decoder
}

func (r *reader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if err == nil {
		return tok, nil
	}
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return nil, badRequest(fmt.Sprintf("Malformed JSON body: %s (at byte %d)", syntax.Error(), syntax.Offset))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, badRequest("Malformed JSON body: unexpected end of JSON input")
	default:
		return nil, badRequest("Malformed JSON body")
	}
}

// object reads the members of an object whose '{' was read, into m, and
// returns which of d's fields it held.
func (r *reader) object(d *decoder, m protoreflect.Message, at string) ([]bool, error) {
	var (
		seen    = make([]bool, len(d.fields))
		keys    map[string]bool // every key, once one is unknown (duplicates)
		unknown []string
	)
	for r.dec.More() {
		tok, err := r.token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // the tokenizer allows only strings as keys
		f := d.byName[key]
		if f == nil {
			if keys == nil {
				keys = map[string]bool{}
				for i, s := range seen {
					if s {
						keys[d.fields[i].name] = true
					}
				}
			}
			if keys[key] {
				return nil, duplicate(key, at)
			}
			keys[key] = true
			unknown = append(unknown, "'"+key+"'")
			if err := r.skip(); err != nil {
				return nil, err
			}
			continue
		}
		if seen[f.index] {
			return nil, duplicate(key, at)
		}
		seen[f.index] = true
		if keys != nil {
			keys[key] = true
		}
		if err := r.field(f, m, join(at, key)); err != nil {
			return nil, err
		}
	}
	if _, err := r.token(); err != nil { // '}'
		return nil, err
	}
	if len(unknown) > 0 && !d.lenient {
		return nil, badRequest("Validation error: Unrecognized key(s) in object: " + strings.Join(unknown, ", ") + where(at))
	}
	return seen, nil
}

// checkRequired refuses a required field that is absent or null (null
// leaves a field unset, so both are one check for messages and optional
// fields; seen covers the rest).
func (d *decoder) checkRequired(m protoreflect.Message, seen []bool, at string) error {
	for i, f := range d.fields {
		if !f.required {
			continue
		}
		present := seen != nil && seen[i]
		if present && (f.fd.HasPresence() && !f.fd.IsList()) {
			present = m.Has(f.fd)
		}
		if !present {
			return badRequest(fmt.Sprintf("Validation error: Required at %q", join(at, f.name)))
		}
	}
	return nil
}

// field reads the value of f into m.
func (r *reader) field(f *bodyField, m protoreflect.Message, at string) error {
	start := r.dec.InputOffset()
	tok, err := r.token()
	if err != nil {
		return err
	}
	if tok == nil {
		// null: unset. A required field refuses it (checkRequired) unless
		// it is a list or a scalar without presence, checked here.
		if f.required && (f.fd.IsList() || !f.fd.HasPresence()) {
			return badRequest(fmt.Sprintf("Validation error: Required at %q", at))
		}
		return nil
	}
	if !f.fd.IsList() {
		v, err := r.value(f, tok, start, m.NewField(f.fd), at)
		if err != nil {
			return err
		}
		m.Set(f.fd, v)
		return nil
	}
	if tok != json.Delim('[') {
		return badRequest(fmt.Sprintf("Validation error: Expected array, received %s at %q", received(tok), at))
	}
	list := m.Mutable(f.fd).List()
	for i := 0; r.dec.More(); i++ {
		start := r.dec.InputOffset()
		tok, err := r.token()
		if err != nil {
			return err
		}
		el := at + "[" + strconv.Itoa(i) + "]"
		if tok == nil {
			return badRequest(fmt.Sprintf("Validation error: Expected %s, received null at %q", expected(f.fd), el))
		}
		var fresh protoreflect.Value
		if f.message != nil {
			fresh = list.NewElement()
		}
		v, err := r.value(f, tok, start, fresh, el)
		if err != nil {
			return err
		}
		list.Append(v)
	}
	_, err = r.token() // ']'
	return err
}

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

// skip reads past one value (of an ignored key).
func (r *reader) skip() error {
	depth := 0
	for {
		tok, err := r.token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
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

func duplicate(key, at string) error {
	return badRequest(fmt.Sprintf("Validation error: Duplicate key '%s' in object%s", key, where(at)))
}

// join is the path of a member of the object at at: name, a.b, a[0].b.
func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

func where(at string) string {
	if at == "" {
		return ""
	}
	return fmt.Sprintf(" at %q", at)
}
