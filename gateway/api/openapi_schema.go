package api

import (
	"encoding/json"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// The spec's schemas, from the messages: answers as the encoder writes
// them, bodies as the decoder reads them.

// scalar describes a scalar field into schema (a parameter or a property).
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
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		schema["type"], schema["minimum"] = "integer", 0
	case protoreflect.DoubleKind:
		schema["type"], schema["format"] = "number", "double"
	case protoreflect.FloatKind:
		schema["type"], schema["format"] = "number", "float"
	case protoreflect.BytesKind:
		schema["type"], schema["format"] = "string", "byte"
	case protoreflect.EnumKind:
		schema["type"] = "string"
		var names []string
		for i := range fd.Enum().Values().Len() {
			names = append(names, string(fd.Enum().Values().Get(i).Name()))
		}
		schema["enum"] = names
	}
	if e := f.GetEnumValues(); len(e) > 0 {
		schema["enum"] = e
	}
	if ex := f.GetExample(); ex != "" {
		var v any
		if json.Unmarshal([]byte(ex), &v) == nil {
			schema["example"] = v
		}
	}
}

// field describes a field's value: lists as arrays, messages by reference.
func (s *spec) field(fd protoreflect.FieldDescriptor, ref func(protoreflect.MessageDescriptor) map[string]any) map[string]any {
	var schema map[string]any
	if fd.Kind() == protoreflect.MessageKind {
		schema = ref(fd.Message())
		if fd.IsList() {
			schema = map[string]any{"type": "array", "items": schema}
		}
		if c := contract.Comment(fd); c != "" && fd.IsList() {
			schema["description"] = c
		}
		return schema
	}
	schema = map[string]any{}
	s.scalar(schema, fd)
	if fd.IsList() {
		items := map[string]any{}
		for _, k := range []string{"type", "format", "enum", "minimum"} {
			if v, ok := schema[k]; ok {
				items[k] = v
				delete(schema, k)
			}
		}
		schema["type"], schema["items"] = "array", items
	}
	return schema
}

// answerRef refers to the definition of a message as answers write it
// (skip: a paged answer's total, written as pagination).
func (s *spec) answerRef(md protoreflect.MessageDescriptor, skip protoreflect.FieldDescriptor) map[string]any {
	name := string(md.Name())
	if _, done := s.defs[name]; !done {
		s.defs[name] = nil // placeholder against cycles
		props, required := map[string]any{}, []string{}
		s.answerProperties(md, skip, props, &required)
		if skip != nil {
			props["pagination"] = s.pagination()
			required = append(required, "pagination")
		}
		def := map[string]any{"type": "object", "properties": props, "required": required}
		if c := contract.Comment(md); c != "" {
			def["description"] = c
		}
		s.defs[name] = def
	}
	return map[string]any{"$ref": "#/definitions/" + name}
}

// answerProperties describes the members the encoder writes for md: inline
// fields in their parent, unset optionals as null, omit_unset fields only
// when set (not required).
func (s *spec) answerProperties(md protoreflect.MessageDescriptor, skip protoreflect.FieldDescriptor, props map[string]any, required *[]string) {
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
		if fd.HasPresence() && !fd.IsList() && fd.Kind() != protoreflect.MessageKind {
			schema["x-nullable"] = true
		}
		props[fd.JSONName()] = schema
		if !f.GetOmitUnset() {
			*required = append(*required, fd.JSONName())
		}
	}
}

// bodyRef refers to the definition of a request's body: its BODY fields
// (nested messages: all their fields), required ones listed.
func (s *spec) bodyRef(md protoreflect.MessageDescriptor) map[string]any {
	name := strings.TrimSuffix(string(md.Name()), "Request") + "Body"
	if _, done := s.defs[name]; !done {
		s.defs[name] = nil
		props, required := map[string]any{}, []string{}
		top := md.Fields()
		for i := range top.Len() {
			fd := top.Get(i)
			if contract.FieldOf(fd).GetSource() != apiv1.Source_SOURCE_BODY {
				continue
			}
			s.bodyProperty(fd, props, &required)
		}
		slices.Sort(required)
		def := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			def["required"] = required
		}
		if c := contract.Comment(md); c != "" {
			def["description"] = c
		}
		s.defs[name] = def
	}
	return map[string]any{"$ref": "#/definitions/" + name}
}

func (s *spec) bodyProperty(fd protoreflect.FieldDescriptor, props map[string]any, required *[]string) {
	schema := s.field(fd, s.nestedBodyRef)
	f := contract.FieldOf(fd)
	switch {
	case f.GetRequired() && f.GetNullable():
		*required = append(*required, fd.JSONName())
		schema = nullableRef(schema) // present, but null leaves it unset
	case f.GetRequired():
		*required = append(*required, fd.JSONName())
	case fd.Kind() != protoreflect.MessageKind || fd.IsList():
		schema["x-nullable"] = true // null leaves the field unset
	}
	props[fd.JSONName()] = schema
}

// nullableRef marks a schema nullable; Swagger 2.0 ignores siblings of
// $ref, so a reference is wrapped in allOf.
func nullableRef(schema map[string]any) map[string]any {
	if _, ok := schema["$ref"]; ok {
		return map[string]any{"allOf": []any{schema}, "x-nullable": true}
	}
	schema["x-nullable"] = true
	return schema
}

// nestedBodyRef refers to a message inside a body (all its fields).
func (s *spec) nestedBodyRef(md protoreflect.MessageDescriptor) map[string]any {
	name := string(md.Name()) + "Input"
	if _, done := s.defs[name]; !done {
		s.defs[name] = nil
		props, required := map[string]any{}, []string{}
		fields := md.Fields()
		for i := range fields.Len() {
			s.bodyProperty(fields.Get(i), props, &required)
		}
		slices.Sort(required)
		def := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			def["required"] = required
		}
		s.defs[name] = def
	}
	return map[string]any{"$ref": "#/definitions/" + name}
}

func (s *spec) empty() map[string]any {
	s.defs["Empty"] = map[string]any{"type": "object", "properties": map[string]any{}}
	return map[string]any{"$ref": "#/definitions/Empty"}
}

func (s *spec) pagination() map[string]any {
	n := func(d string) map[string]any {
		return map[string]any{"type": "integer", "format": "int32", "description": d}
	}
	s.defs["Pagination"] = map[string]any{
		"type":        "object",
		"description": "The list's total and the paging style the request used: limit and offset, or page and pageSize.",
		"properties": map[string]any{
			"total":    n("Items in the whole list."),
			"limit":    n("Offset style."),
			"offset":   n("Offset style."),
			"page":     n("Page style."),
			"pageSize": n("Page style."),
		},
		"required": []string{"total"},
	}
	return map[string]any{"$ref": "#/definitions/Pagination"}
}
