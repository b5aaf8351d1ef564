package contract

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// Every RPC carries a complete, consistent declaration; an RPC without an
// access option fails here.
func TestContractIsComplete(t *testing.T) {
	if len(Operations()) == 0 {
		t.Fatal("no operations loaded")
	}
	for _, err := range Check() {
		t.Error(err)
	}
}

// The check catches what it is meant to: an operation without access.
func TestCheckRefusesAnRPCWithoutAccess(t *testing.T) {
	l := load()
	op := l.ops[0]
	saved := op.Access
	op.Access = &apiv1.Access{}
	defer func() { op.Access = saved }()
	if errs := Check(); len(errs) == 0 {
		t.Fatal("Check accepted an RPC without an access option")
	}
}

// The check refuses a data_field that names no field, or one on a paged
// route.
func TestCheckRefusesABadDataField(t *testing.T) {
	for _, op := range load().ops {
		r := op.Route
		if r == nil || r.GetPaging() == apiv1.Paging_PAGING_NONE {
			continue
		}
		for _, field := range []string{"no_such_field", "total"} {
			op.Route = proto.Clone(r).(*apiv1.Route)
			op.Route.DataField = field
			errs := Check()
			op.Route = r
			if len(errs) == 0 {
				t.Fatalf("Check accepted data_field %q on %s", field, op.FullMethod)
			}
		}
		return
	}
	t.Fatal("no paged route to try")
}

// The embedded descriptor set (comments for the docs) matches the compiled
// code: `make proto` writes both, and a forgotten half fails here.
func TestSourceInfoMatchesCompiledCode(t *testing.T) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(sourceInfo, &set); err != nil {
		t.Fatal(err)
	}
	for _, fdp := range set.GetFile() {
		compiled, err := protoregistry.GlobalFiles.FindFileByPath(fdp.GetName())
		if err != nil {
			t.Errorf("%s: not compiled in", fdp.GetName())
			continue
		}
		want := protodesc.ToFileDescriptorProto(compiled)
		got := proto.Clone(fdp).(*descriptorpb.FileDescriptorProto)
		got.SourceCodeInfo = nil
		if !proto.Equal(got, want) {
			t.Errorf("%s: contract.binpb differs from the generated code: run `make proto`", fdp.GetName())
		}
	}
}

func TestComments(t *testing.T) {
	op := ByFullMethod("/pangolin.core.v1.SiteService/CreateSite")
	if op == nil || op.Summary != "Create a site" || op.Description == "" {
		t.Fatalf("CreateSite: %+v", op)
	}
}

func TestPathParams(t *testing.T) {
	got := PathParams("/org/{orgId}/api-key/{apiKeyId}/actions")
	if len(got) != 2 || got[0] != "orgId" || got[1] != "apiKeyId" {
		t.Fatal(got)
	}
}

// nullable means "required key, null allowed": it needs required and a
// field null can leave unset.
func TestCheckNullable(t *testing.T) {
	opts := func(required, nullable bool) *descriptorpb.FieldOptions {
		o := &descriptorpb.FieldOptions{}
		proto.SetExtension(o, apiv1.E_Field, &apiv1.Field{Source: apiv1.Source_SOURCE_BODY, Required: required, Nullable: nullable})
		return o
	}
	optional := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	repeated := descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING
	field := func(name string, n int32, label descriptorpb.FieldDescriptorProto_Label, o *descriptorpb.FieldOptions, oneof *int32) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Label: &label, Type: &str,
			Options: o, OneofIndex: oneof, Proto3Optional: proto.Bool(oneof != nil)}
	}
	file := &descriptorpb.FileDescriptorProto{
		Name: proto.String("nullable_check_test.proto"), Package: proto.String("nullablecheck"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Request"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("good", 1, optional, opts(true, true), proto.Int32(0)),
				field("not_required", 2, optional, opts(false, true), proto.Int32(1)),
				field("no_presence", 3, optional, opts(true, true), nil),
				field("list", 4, repeated, opts(true, true), nil),
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("_good")}, {Name: proto.String("_not_required")}},
		}},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	errs := checkNullable(fd.Messages().ByName("Request"), "/test")
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	joined := strings.Join(got, "\n")
	if len(errs) != 3 || strings.Contains(joined, "Request.good") || !strings.Contains(joined, "Request.not_required") ||
		!strings.Contains(joined, "Request.no_presence") || !strings.Contains(joined, "Request.list") {
		t.Fatalf("checkNullable: %s", joined)
	}
}
