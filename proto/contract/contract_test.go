package contract

import (
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
