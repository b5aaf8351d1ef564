package api

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
)

// An encoder writes one message type as Pangolin writes that object, not as
// protojson would: names are the fields' JSON names, 64-bit integers are
// JSON numbers, an unset optional field is null (or left out when the field
// says omit_unset), scalars without presence are always written, an empty
// list is [], an unset message is null, an inline message's fields are
// written in its parent, and fields come in declaration order. Everything
// that does not depend on the value (names, escaping, which rule applies)
// is decided once, when the encoder is built.
type encoder struct {
	fields []fieldEncoder
}

type fieldEncoder struct {
	fd protoreflect.FieldDescriptor
	// name is `"jsonName":`, escaped once.
	name []byte
	// nullable: unset is null (proto3 optional scalars, messages).
	nullable  bool
	omitUnset bool
	// inline writes the message's fields in the parent's place.
	inline *encoder
	// message encodes message values (list elements too).
	message *encoder
}

// encoders builds the encoder of each message type once; recursive types
// share the encoder being built.
type encoders map[protoreflect.FullName]*encoder

func (es encoders) of(md protoreflect.MessageDescriptor) (*encoder, error) {
	if e, ok := es[md.FullName()]; ok {
		return e, nil
	}
	e := &encoder{}
	es[md.FullName()] = e
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := contract.FieldOf(fd)
		fe := fieldEncoder{
			fd:        fd,
			name:      append(appendString(nil, fd.JSONName()), ':'),
			nullable:  fd.HasPresence() && !fd.IsList(),
			omitUnset: f.GetOmitUnset(),
		}
		if fd.IsMap() {
			return nil, fmt.Errorf("%s: map fields are not supported in answers", fd.FullName())
		}
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			sub, err := es.of(fd.Message())
			if err != nil {
				return nil, err
			}
			if f.GetInline() {
				if fd.IsList() {
					return nil, fmt.Errorf("%s: a repeated field cannot be inline", fd.FullName())
				}
				fe.inline = sub
			} else {
				fe.message = sub
			}
		}
		e.fields = append(e.fields, fe)
	}
	return e, nil
}

// append writes m as a JSON object. skip is a field left out (a paged
// answer's total, written as pagination instead); nil for none.
func (e *encoder) append(b []byte, m protoreflect.Message, skip protoreflect.FieldDescriptor) []byte {
	b = append(b, '{')
	b, _ = e.appendFields(b, m, true, skip)
	return append(b, '}')
}

// appendFields writes the members of m, with a comma before each unless it
// is the object's first; it returns whether the object is still empty.
func (e *encoder) appendFields(b []byte, m protoreflect.Message, first bool, skip protoreflect.FieldDescriptor) ([]byte, bool) {
	for i := range e.fields {
		f := &e.fields[i]
		if f.fd == skip {
			continue
		}
		if f.inline != nil {
			b, first = f.inline.appendFields(b, m.Get(f.fd).Message(), first, nil)
			continue
		}
		set := !f.nullable || m.Has(f.fd)
		if !set && f.omitUnset {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.name...)
		switch {
		case !set:
			b = append(b, "null"...)
		case f.fd.IsList():
			b = f.appendList(b, m.Get(f.fd).List())
		default:
			b = f.appendValue(b, m.Get(f.fd))
		}
	}
	return b, first
}

func (f *fieldEncoder) appendList(b []byte, l protoreflect.List) []byte {
	b = append(b, '[')
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		b = f.appendValue(b, l.Get(i))
	}
	return append(b, ']')
}

func (f *fieldEncoder) appendValue(b []byte, v protoreflect.Value) []byte {
	switch f.fd.Kind() {
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64)
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32)
	case protoreflect.EnumKind:
		if ev := f.fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"')
	default: // message or group
		return f.message.append(b, v.Message(), nil)
	}
}

// appendData writes the field's value of m on its own (a route's
// data_field): a list as an array, an unset field as null.
func (f *fieldEncoder) appendData(b []byte, m protoreflect.Message) []byte {
	switch {
	case f.fd.IsList():
		return f.appendList(b, m.Get(f.fd).List())
	case f.nullable && !m.Has(f.fd):
		return append(b, "null"...)
	}
	return f.appendValue(b, m.Get(f.fd))
}
