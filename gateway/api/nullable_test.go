package api

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// nullableRequest builds, at run time, a request with the field option
// under test: `secret` (an optional string) and `auth` (a message) are
// required and nullable, `name` is required only.
func nullableRequest(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	opts := func(f *apiv1.Field) *descriptorpb.FieldOptions {
		o := &descriptorpb.FieldOptions{}
		proto.SetExtension(o, apiv1.E_Field, f)
		return o
	}
	body := func(required, nullable bool) *descriptorpb.FieldOptions {
		return opts(&apiv1.Field{Source: apiv1.Source_SOURCE_BODY, Required: required, Nullable: nullable})
	}
	optional := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("nullable_test.proto"),
		Package: proto.String("nullabletest"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Request"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("secret"), JsonName: proto.String("secret"), Number: proto.Int32(1), Label: &optional, Type: &str,
					Proto3Optional: proto.Bool(true), OneofIndex: proto.Int32(0), Options: body(true, true)},
				{Name: proto.String("name"), JsonName: proto.String("name"), Number: proto.Int32(2), Label: &optional, Type: &str,
					Proto3Optional: proto.Bool(true), OneofIndex: proto.Int32(1), Options: body(true, false)},
				{Name: proto.String("auth"), JsonName: proto.String("auth"), Number: proto.Int32(3), Label: &optional,
					Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(), TypeName: proto.String(".nullabletest.Auth"),
					Options: body(true, true)},
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("_secret")}, {Name: proto.String("_name")}},
		}, {
			Name: proto.String("Auth"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("user"), JsonName: proto.String("user"), Number: proto.Int32(1), Label: &optional, Type: &str,
					Options: opts(&apiv1.Field{Required: true})},
			},
		}},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().ByName("Request")
}

// A required, nullable field must be present, and may be null: null leaves
// it unset (Pangolin's `{"password": null}`, which removes a password).
func TestDecodeNullable(t *testing.T) {
	md := nullableRequest(t)
	d, err := newBodyDecoder(md, false)
	if err != nil {
		t.Fatal(err)
	}
	secret, name, auth := md.Fields().ByName("secret"), md.Fields().ByName("name"), md.Fields().ByName("auth")
	for _, c := range []struct {
		body string
		msg  string // "" when accepted
		set  []protoreflect.FieldDescriptor
	}{
		{`{"secret":null,"name":"n","auth":null}`, "", []protoreflect.FieldDescriptor{name}},
		{`{"secret":"s","name":"n","auth":{"user":"u"}}`, "", []protoreflect.FieldDescriptor{secret, name, auth}},
		{`{"secret":"","name":"n","auth":null}`, "", []protoreflect.FieldDescriptor{secret, name}},
		{`{"name":"n","auth":null}`, `Validation error: Required at "secret"`, nil},
		{`{"secret":null,"name":"n"}`, `Required at "auth"`, nil},
		{`{"secret":null,"name":null,"auth":null}`, `Required at "name"`, nil},
		{`{"secret":null,"auth":null}`, `Required at "name"`, nil},
		{``, `Required at "secret"`, nil},
		{`{"secret":1,"name":"n","auth":null}`, `Expected string, received number at "secret"`, nil},
		{`{"secret":null,"secret":null,"name":"n","auth":null}`, `Duplicate key 'secret'`, nil},
		// Inside the nullable message, its own rules apply.
		{`{"secret":null,"name":"n","auth":{}}`, `Required at "auth.user"`, nil},
		{`{"secret":null,"name":"n","auth":{"user":null}}`, `Required at "auth.user"`, nil},
	} {
		m := dynamicpb.NewMessage(md)
		err := d.decodeBody([]byte(c.body), m)
		if c.msg != "" {
			if err == nil || !strings.Contains(err.Error(), c.msg) || httpError(err).Status != 400 {
				t.Errorf("%s: want 400 %q, got %v", c.body, c.msg, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		for _, fd := range []protoreflect.FieldDescriptor{secret, name, auth} {
			want := false
			for _, s := range c.set {
				want = want || s == fd
			}
			if m.Has(fd) != want {
				t.Errorf("%s: field %s set %v, want %v", c.body, fd.Name(), m.Has(fd), want)
			}
		}
	}
}

// The spec lists a nullable field as required and nullable; a reference
// is wrapped (allOf) so that nullable is not a sibling OpenAPI 3.0 ignores.
func TestSpecNullable(t *testing.T) {
	s := newSpec(nil)
	s.bodyRef(nullableRequest(t), false)
	def := s.schemas["Body"].(map[string]any)
	props := def["properties"].(*members).values
	if req := def["required"].([]string); strings.Join(req, ",") != "auth,name,secret" {
		t.Fatalf("required %v", req)
	}
	if p := props["secret"].(map[string]any); p["nullable"] != true || p["type"] != "string" {
		t.Fatalf("secret: %v", p)
	}
	if p := props["name"].(map[string]any); p["nullable"] != nil {
		t.Fatalf("name: %v", p)
	}
	p := props["auth"].(map[string]any)
	if p["nullable"] != true || p["$ref"] != nil || p["allOf"] == nil {
		t.Fatalf("auth: %v", p)
	}
}
