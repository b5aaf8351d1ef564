package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// The spec's schemas, from the messages: answers as the encoder writes
// them, bodies as the decoder reads them. Both are closed
// (additionalProperties: false) because both codecs are: an answer holds
// only its message's fields, and a body with another key is a 400 unless
// the route is lenient.

// scalar describes a scalar field into schema (a parameter's or a
// property's).
func (s *spec) scalar(schema map[string]any, fd protoreflect.FieldDescriptor) {
	f := contract.FieldOf(fd)
	if c := contract.Comment(fd); c != "" {
		schema["description"] = c
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		schema["type"] = "string"
	case protoreflect.BoolKind:
		schema["type"] = "boolean"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		schema["type"], schema["format"] = "integer", "int32"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		schema["type"], schema["format"] = "integer", "int64"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		schema["type"], schema["format"], schema["minimum"] = "integer", "int64", 0
		schema["maximum"] = uint64(1)<<32 - 1
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		schema["type"], schema["minimum"] = "integer", 0
	case protoreflect.DoubleKind:
		schema["type"], schema["format"] = "number", "double"
	case protoreflect.FloatKind:
		schema["type"], schema["format"] = "number", "float"
	case protoreflect.BytesKind:
		schema["type"], schema["format"] = "string", "byte"
	case protoreflect.EnumKind:
		schema["type"] = "string"
		var names []any
		for i := range fd.Enum().Values().Len() {
			names = append(names, string(fd.Enum().Values().Get(i).Name()))
		}
		schema["enum"] = names
	}
	if e := f.GetEnumValues(); len(e) > 0 {
		var values []any
		for _, v := range e {
			values = append(values, v)
		}
		schema["enum"] = values
	}
	if ex, ok := example(fd); ok && !fd.IsList() {
		schema["example"] = ex
	}
}

// field describes a field's value: lists as arrays, messages by reference.
func (s *spec) field(fd protoreflect.FieldDescriptor, ref func(protoreflect.MessageDescriptor) map[string]any) map[string]any {
	if fd.Kind() == protoreflect.MessageKind {
		schema := ref(fd.Message())
		if fd.IsList() {
			schema = map[string]any{"type": "array", "items": schema}
			if c := contract.Comment(fd); c != "" {
				schema["description"] = c
			}
		}
		return schema
	}
	schema := map[string]any{}
	s.scalar(schema, fd)
	if fd.IsList() {
		items := map[string]any{}
		for _, k := range []string{"type", "format", "enum", "minimum", "maximum"} {
			if v, ok := schema[k]; ok {
				items[k] = v
				delete(schema, k)
			}
		}
		schema["type"], schema["items"] = "array", items
		if ex, ok := example(fd); ok {
			schema["example"] = ex
		}
	}
	return schema
}

// nullable makes schema accept null. A reference cannot carry siblings in
// OpenAPI 3.0, so a nullable message is allOf its one reference.
func nullable(schema map[string]any, fd protoreflect.FieldDescriptor) map[string]any {
	if _, ref := schema["$ref"]; ref {
		schema = map[string]any{"allOf": []any{schema}}
		if c := contract.Comment(fd); c != "" {
			schema["description"] = c
		}
	}
	schema["nullable"] = true
	return schema
}

// members is a JSON object that keeps its members in the order they were
// set: properties in declaration order, as answers write them, so the
// examples the UI shows read like real answers.
type members struct {
	keys   []string
	values map[string]any
}

func (m *members) set(k string, v any) {
	if m.values == nil {
		m.values = map[string]any{}
	}
	if _, ok := m.values[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.values[k] = v
}

func ordered(kv ...any) *members {
	m := &members{}
	for i := 0; i < len(kv); i += 2 {
		m.set(kv[i].(string), kv[i+1])
	}
	return m
}

func (m *members) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		b.Write(key)
		b.WriteByte(':')
		v, err := json.Marshal(m.values[k])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// answerRef refers to the schema of a message as answers write it (skip: a
// paged answer's total, written as pagination).
func (s *spec) answerRef(md protoreflect.MessageDescriptor, skip protoreflect.FieldDescriptor) map[string]any {
	name, paged := answerName(md), skip != nil
	if first, seen := s.pagedAnswers[name]; !seen {
		s.pagedAnswers[name] = paged
	} else if first != paged {
		// The same message written with and without pagination: two
		// schemas.
		name += map[bool]string{true: "Page", false: "Whole"}[paged]
	}
	if _, done := s.schemas[name]; !done {
		s.schemas[name] = nil // placeholder against cycles
		props, required := &members{}, []string{}
		s.answerProperties(md, skip, props, &required)
		if skip != nil {
			props.set("pagination", s.pagination())
			required = append(required, "pagination")
		}
		def := map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
		if len(required) == 0 {
			delete(def, "required")
		}
		if c := contract.Comment(md); c != "" {
			def["description"] = c
		}
		s.schemas[name] = def
	}
	return ref(name)
}

// answerName names the schema of an answer message. A generated client
// names the answer of each operation <OperationId>Response, so a message
// named GetOrgResponse is the GetOrgData schema, not a second type of the
// same name.
func answerName(md protoreflect.MessageDescriptor) string {
	name := string(md.Name())
	if base, ok := strings.CutSuffix(name, "Response"); ok {
		return base + "Data"
	}
	return name
}

// answerProperties describes the members the encoder writes for md: inline
// fields in their parent, unset optionals and messages as null, omit_unset
// fields only when set (not required), every other field always.
func (s *spec) answerProperties(md protoreflect.MessageDescriptor, skip protoreflect.FieldDescriptor, props *members, required *[]string) {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd == skip {
			continue
		}
		f := contract.FieldOf(fd)
		if f.GetInline() {
			s.answerProperties(fd.Message(), nil, props, required)
			continue
		}
		schema := s.field(fd, func(md protoreflect.MessageDescriptor) map[string]any { return s.answerRef(md, nil) })
		s.answerExample(schema, fd)
		if fd.HasPresence() && !fd.IsList() {
			schema = nullable(schema, fd)
		}
		props.set(fd.JSONName(), schema)
		if !f.GetOmitUnset() {
			*required = append(*required, fd.JSONName())
		}
	}
}

// answerExample gives an answer's scalar the example of a request field
// of the same name and type, when it has none of its own: the sample
// answers the UI shows then read like real ones (orgId "acme", not
// "string").
func (s *spec) answerExample(schema map[string]any, fd protoreflect.FieldDescriptor) {
	if _, has := schema["example"]; has || fd.IsList() || fd.Kind() == protoreflect.MessageKind {
		return
	}
	ex, ok := s.opExamples[fd.JSONName()]
	if !ok {
		if ex, ok = s.fieldExamples[fd.JSONName()]; !ok {
			return
		}
	}
	switch ex.(type) {
	case string:
		ok = schema["type"] == "string" && schema["enum"] == nil
	case float64:
		ok = schema["type"] == "integer" || schema["type"] == "number"
	case bool:
		ok = schema["type"] == "boolean"
	default:
		ok = false
	}
	if ok {
		schema["example"] = ex
	}
}

// bodyRef refers to the schema of a request's body: its BODY fields
// (nested messages: all their fields), required ones listed, and the path
// parameters the body may repeat (also_in_body: accepted and ignored).
func (s *spec) bodyRef(md protoreflect.MessageDescriptor, lenient bool) map[string]any {
	name := strings.TrimSuffix(string(md.Name()), "Request") + "Body"
	if _, done := s.schemas[name]; !done {
		s.schemas[name] = nil
		var fields []protoreflect.FieldDescriptor
		top := md.Fields()
		for i := range top.Len() {
			fd := top.Get(i)
			if f := contract.FieldOf(fd); f.GetSource() == apiv1.Source_SOURCE_BODY || f.GetAlsoInBody() {
				fields = append(fields, fd)
			}
		}
		def := s.bodyObject(fields, !lenient)
		if c := contract.Comment(md); c != "" {
			def["description"] = c
		}
		if lenient {
			def["description"] = join2(strings.TrimSpace(toString(def["description"])), "Other fields are ignored.")
		}
		s.schemas[name] = def
	}
	return ref(name)
}

func toString(v any) string { s, _ := v.(string); return s }

// bodyObject describes fields as the decoder reads them: required ones
// must be present and not null, unless nullable (present, and null leaves
// the field unset); any other may be left out or be null (which leaves it
// unset).
func (s *spec) bodyObject(fields []protoreflect.FieldDescriptor, closed bool) map[string]any {
	props, required := &members{}, []string{}
	for _, fd := range fields {
		schema := s.field(fd, s.nestedBodyRef)
		f := contract.FieldOf(fd)
		if f.GetDigits() {
			// A string of digits or a non-negative integer.
			schema = map[string]any{"description": schema["description"], "example": schema["example"], "oneOf": []any{
				map[string]any{"type": "string", "pattern": "^[0-9]+$"},
				map[string]any{"type": "integer", "format": "int64", "minimum": 0},
			}}
		}
		if f.GetRequired() {
			required = append(required, contract.BodyKey(fd))
		}
		if !f.GetRequired() || f.GetNullable() {
			schema = nullable(schema, fd)
		}
		props.set(contract.BodyKey(fd), schema)
	}
	slices.Sort(required)
	def := map[string]any{"type": "object", "properties": props}
	if closed {
		def["additionalProperties"] = false
	}
	if len(required) > 0 {
		def["required"] = required
	}
	return def
}

// nestedBodyRef refers to a message inside a body (all its fields).
func (s *spec) nestedBodyRef(md protoreflect.MessageDescriptor) map[string]any {
	name := string(md.Name()) + "Input"
	if _, done := s.schemas[name]; !done {
		s.schemas[name] = nil
		var fields []protoreflect.FieldDescriptor
		for i := range md.Fields().Len() {
			fields = append(fields, md.Fields().Get(i))
		}
		def := s.bodyObject(fields, true)
		if c := contract.Comment(md); c != "" {
			def["description"] = c
		}
		s.schemas[name] = def
	}
	return ref(name)
}

func (s *spec) empty() map[string]any {
	s.schemas["Empty"] = map[string]any{"type": "object", "properties": &members{}, "additionalProperties": false}
	return ref("Empty")
}

func (s *spec) pagination() map[string]any {
	n := func(d string) map[string]any {
		return map[string]any{"type": "integer", "format": "int32", "description": d}
	}
	s.schemas["Pagination"] = map[string]any{
		"type":                 "object",
		"description":          "The list's total and the paging style the request used: limit and offset, or page and pageSize.",
		"additionalProperties": false,
		"properties": ordered(
			"total", n("Items in the whole list."),
			"limit", n("Offset style."),
			"offset", n("Offset style."),
			"page", n("Page style."),
			"pageSize", n("Page style."),
		),
		"required": []string{"total"},
	}
	return ref("Pagination")
}
