// Package contract reads the operations the proto contract declares: each
// RPC of pangolin.core.v1 with its REST route, its access rule and its
// documentation. The gateway builds everything REST from it; the core
// enforces the access rules it reads here. Both read the compiled-in
// descriptors, once, at start.
package contract

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Package is the proto package whose services make up the API.
const Package protoreflect.FullName = "pangolin.core.v1"

// sourceInfo is the contract's descriptor set with comments (`make proto`
// writes it beside the generated code); the generated code carries none.
//
//go:embed contract.binpb
var sourceInfo []byte

// Operation is one RPC with what the contract says of it.
type Operation struct {
	Service protoreflect.ServiceDescriptor
	Method  protoreflect.MethodDescriptor
	// FullMethod is the gRPC method name: /pangolin.core.v1.SiteService/GetSite.
	FullMethod string
	// Route is nil for RPCs the REST API does not serve.
	Route  *apiv1.Route
	Access *apiv1.Access
	// Tag groups the service's routes in the docs.
	Tag string
	// Summary and Description come from the RPC's leading comment: its
	// first paragraph, and the rest.
	Summary, Description string
}

// Operations returns every RPC of the contract, in file and declaration
// order. The slice is shared: do not modify it.
func Operations() []*Operation { return load().ops }

// ByFullMethod returns the operation of a gRPC method name, nil if none.
func ByFullMethod(name string) *Operation { return load().byMethod[name] }

// FieldOf returns the field options of fd (zero options when it has none).
func FieldOf(fd protoreflect.FieldDescriptor) *apiv1.Field {
	f, _ := proto.GetExtension(fd.Options(), apiv1.E_Field).(*apiv1.Field)
	if f == nil {
		return &apiv1.Field{}
	}
	return f
}

// BodyKey is the key a body field is read from: its body_key option, else
// its JSON name.
func BodyKey(fd protoreflect.FieldDescriptor) string {
	if k := FieldOf(fd).GetBodyKey(); k != "" {
		return k
	}
	return fd.JSONName()
}

// Comment returns the leading comment of a contract element (message,
// field, service, method), trimmed; "" when it has none.
func Comment(d protoreflect.Descriptor) string { return load().comments[d.FullName()] }

// PathParams returns the parameter names of a route path: /org/{orgId} → [orgId].
func PathParams(path string) []string {
	var out []string
	for rest := path; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, rest[i+1:i+j])
		rest = rest[i+j+1:]
	}
}

type loaded struct {
	ops      []*Operation
	byMethod map[string]*Operation
	comments map[protoreflect.FullName]string
}

var load = sync.OnceValue(func() *loaded {
	l, err := build()
	if err != nil {
		// The descriptors are compiled in: an error here is a build defect
		// that every test catches.
		panic("contract: " + err.Error())
	}
	return l
})

func build() (*loaded, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(sourceInfo, &set); err != nil {
		return nil, fmt.Errorf("contract.binpb: %w", err)
	}
	l := &loaded{byMethod: map[string]*Operation{}, comments: map[protoreflect.FullName]string{}}
	// Touch the generated package so its files are registered.
	_ = corev1.File_pangolin_core_v1_common_proto
	for _, fdp := range set.GetFile() {
		withSource, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
		if err != nil {
			return nil, fmt.Errorf("contract.binpb: %s: %w", fdp.GetName(), err)
		}
		collectComments(withSource, l.comments)
		if withSource.Package() != Package {
			continue
		}
		// The descriptors the generated code registered carry the options
		// as typed extensions; the comments come from the set.
		compiled, err := protoregistry.GlobalFiles.FindFileByPath(fdp.GetName())
		if err != nil {
			return nil, fmt.Errorf("%s is in contract.binpb but not compiled in: run `make proto`", fdp.GetName())
		}
		services := compiled.Services()
		for i := range services.Len() {
			svc := services.Get(i)
			tag, _ := proto.GetExtension(svc.Options(), apiv1.E_Tag).(string)
			methods := svc.Methods()
			for j := range methods.Len() {
				m := methods.Get(j)
				op := &Operation{
					Service:    svc,
					Method:     m,
					FullMethod: "/" + string(svc.FullName()) + "/" + string(m.Name()),
					Tag:        tag,
				}
				op.Route, _ = proto.GetExtension(m.Options(), apiv1.E_Route).(*apiv1.Route)
				op.Access, _ = proto.GetExtension(m.Options(), apiv1.E_Access).(*apiv1.Access)
				if op.Access == nil {
					op.Access = &apiv1.Access{}
				}
				op.Summary, op.Description = splitComment(l.comments[m.FullName()])
				l.ops = append(l.ops, op)
				l.byMethod[op.FullMethod] = op
			}
		}
	}
	return l, nil
}

// collectComments records the leading comment of every element of f.
func collectComments(f protoreflect.FileDescriptor, into map[protoreflect.FullName]string) {
	locs := f.SourceLocations()
	add := func(d protoreflect.Descriptor) {
		if c := strings.TrimSpace(locs.ByDescriptor(d).LeadingComments); c != "" {
			into[d.FullName()] = unindent(c)
		}
	}
	var messages func(protoreflect.MessageDescriptors)
	messages = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			add(m)
			for j := range m.Fields().Len() {
				add(m.Fields().Get(j))
			}
			messages(m.Messages())
		}
	}
	messages(f.Messages())
	for i := range f.Services().Len() {
		s := f.Services().Get(i)
		add(s)
		for j := range s.Methods().Len() {
			add(s.Methods().Get(j))
		}
	}
}

// unindent drops the one space protoc keeps after each "//".
func unindent(c string) string {
	lines := strings.Split(c, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, " ")
	}
	return strings.Join(lines, "\n")
}

// splitComment returns the first paragraph of a comment as one line, and
// the rest.
func splitComment(c string) (summary, description string) {
	first, rest, _ := strings.Cut(c, "\n\n")
	return strings.Join(strings.Fields(first), " "), strings.TrimSpace(rest)
}

// Methods are the HTTP methods a route may declare.
var Methods = []string{"GET", "PUT", "POST", "PATCH", "DELETE"}

// IsPage reports whether fd is a list request's page (filled from the
// paging query parameters, not from a source of its own).
func IsPage(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == Package+".Page"
}

// Paths returns the method and path of the route and of each alias.
func (op *Operation) Paths() []*apiv1.Alias {
	if op.Route == nil {
		return nil
	}
	return slices.Concat([]*apiv1.Alias{{Method: op.Route.GetMethod(), Path: op.Route.GetPath()}}, op.Route.GetAliases())
}
