package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// A decoder reads a JSON body into a request message, strictly: names match
// the fields' JSON names exactly, an unknown key is a 400 unless the route
// is lenient, a duplicate key is a 400, every value must have its field's
// JSON type, integers are integral and in range, strings are UTF-8 without
// NUL, required fields must be present and not null (nullable ones may be
// null), and null leaves an optional field unset. Each failure names the
// field. It reads tokens
// (encoding/json's Decoder.Token), not Go structs, so that nothing about a
// field is guessed: encoding/json's own struct decoding matches names
// case-insensitively and lets a duplicate key win silently.
type decoder struct {
	fields  []*bodyField
	byName  map[string]*bodyField
	lenient bool
	// echoes are path parameters the body may repeat (Field.also_in_body):
	// accepted once and ignored.
	echoes map[string]bool
	// keys is the request's SOURCE_BODY_KEYS field, nil without one: it
	// gets the JSON names of the keys the body holds.
	keys protoreflect.FieldDescriptor
}

type bodyField struct {
	fd       protoreflect.FieldDescriptor
	name     string
	index    int // in its decoder's fields
	required bool
	// nullable (with required): the key must be present, null leaves the
	// field unset.
	nullable bool
	// digits: a string field that takes a non-negative JSON integer too,
	// as its decimal text (Field.digits).
	digits bool
	// message decodes message values (list elements too).
	message *decoder
}

// decoders builds the decoder of each message type once. The request
// message itself is built by newBodyDecoder: only its BODY fields are
// settable from the body.
type decoders map[protoreflect.FullName]*decoder

func newBodyDecoder(req protoreflect.MessageDescriptor, lenient bool) (*decoder, error) {
	d := &decoder{byName: map[string]*bodyField{}, lenient: lenient, echoes: map[string]bool{}}
	fields := req.Fields()
	for i := range fields.Len() {
		f := contract.FieldOf(fields.Get(i))
		if f.GetAlsoInBody() && f.GetSource() == apiv1.Source_SOURCE_PATH {
			d.echoes[fields.Get(i).JSONName()] = true
		}
		if f.GetSource() == apiv1.Source_SOURCE_BODY_KEYS {
			d.keys = fields.Get(i)
		}
	}
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
		opts := contract.FieldOf(fd)
		f := &bodyField{fd: fd, name: contract.BodyKey(fd), index: len(d.fields), required: opts.GetRequired(),
			nullable: opts.GetNullable(), digits: opts.GetDigits()}
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
	if d.keys != nil {
		keys := m.Mutable(d.keys).List()
		for i, f := range d.fields {
			if seen[i] {
				keys.Append(protoreflect.ValueOfString(f.name))
			}
		}
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
			if !d.echoes[key] {
				unknown = append(unknown, "'"+key+"'")
			}
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

// checkRequired refuses a required field that is absent, or null unless it
// is nullable (null leaves a field unset, so both are one check for
// messages and optional fields; seen covers the rest).
func (d *decoder) checkRequired(m protoreflect.Message, seen []bool, at string) error {
	for i, f := range d.fields {
		if !f.required {
			continue
		}
		present := seen != nil && seen[i]
		if present && !f.nullable && f.fd.HasPresence() && !f.fd.IsList() {
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
		// it is nullable, or a list or a scalar without presence, checked
		// here (contract.Check allows nullable on neither).
		if f.required && !f.nullable && (f.fd.IsList() || !f.fd.HasPresence()) {
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
