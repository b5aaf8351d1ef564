package contract

import (
	"fmt"
	"regexp"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

var actionID = regexp.MustCompile(`^[a-z][A-Za-z]+$`)

// Check returns every way the contract's declarations are incomplete or
// inconsistent: an RPC without an access rule, a path parameter without its
// field, a field without a source, a paged route without Page or total. The
// contract's tests fail on any; the gateway refuses to start on any.
func Check() []error {
	var errs []error
	seen := map[string]string{}
	for _, op := range Operations() {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", op.FullMethod, fmt.Sprintf(format, args...)))
		}
		a := op.Access
		switch a.GetScope() {
		case apiv1.Scope_SCOPE_UNSPECIFIED:
			fail("no access option (scope)")
			continue
		case apiv1.Scope_SCOPE_INTERNAL:
			if op.Route != nil {
				fail("internal RPCs have no route")
			}
			continue
		case apiv1.Scope_SCOPE_PUBLIC:
			if a.GetAction() != "" {
				fail("public routes need no action")
			}
		case apiv1.Scope_SCOPE_KEY, apiv1.Scope_SCOPE_ORG:
			// Pangolin serves a few without an action (/api-key/me,
			// user-resources).
		default:
			if !actionID.MatchString(a.GetAction()) {
				fail("action %q is not an action id", a.GetAction())
			}
		}
		if a.GetAction() != "" && !actionID.MatchString(a.GetAction()) {
			fail("action %q is not an action id", a.GetAction())
		}
		r := op.Route
		if r == nil {
			fail("no route: only SCOPE_INTERNAL RPCs may lack one")
			continue
		}
		if op.Summary == "" || op.Tag == "" {
			fail("no summary (leading comment) or no tag (service option)")
		}
		if r.GetStatus() < 200 || r.GetStatus() > 299 {
			fail("success status %d", r.GetStatus())
		}
		if r.GetMessage() == "" && r.GetHook() != apiv1.Hook_HOOK_HEALTH {
			fail("no success message")
		}
		req := op.Method.Input()
		for _, p := range op.Paths() {
			id := p.GetMethod() + " " + p.GetPath()
			if other, dup := seen[id]; dup {
				fail("%s is also declared by %s", id, other)
			}
			seen[id] = op.FullMethod
			if !slices.Contains(Methods, p.GetMethod()) {
				fail("%s: method must be one of %v", id, Methods)
			}
			params := PathParams(p.GetPath())
			for _, name := range params {
				fd := req.Fields().ByJSONName(name)
				if fd == nil || FieldOf(fd).GetSource() != apiv1.Source_SOURCE_PATH {
					fail("%s: path parameter {%s} is no path field of %s", id, name, req.FullName())
				}
			}
			for i := range req.Fields().Len() {
				fd := req.Fields().Get(i)
				if FieldOf(fd).GetSource() == apiv1.Source_SOURCE_PATH && !slices.Contains(params, fd.JSONName()) {
					fail("%s: path field %s is not in the path", id, fd.JSONName())
				}
			}
		}
		var page protoreflect.FieldDescriptor
		for i := range req.Fields().Len() {
			fd := req.Fields().Get(i)
			if IsPage(fd) {
				page = fd
				continue
			}
			f := FieldOf(fd)
			if f.GetAlsoInBody() && f.GetSource() != apiv1.Source_SOURCE_PATH {
				fail("also_in_body: %s is no path field", fd.FullName())
			}
			switch f.GetSource() {
			case apiv1.Source_SOURCE_UNSPECIFIED:
				fail("request field %s has no source (path, query or body)", fd.FullName())
			case apiv1.Source_SOURCE_PATH, apiv1.Source_SOURCE_QUERY:
				if fd.IsList() || fd.Kind() == protoreflect.MessageKind {
					fail("path or query field %s must be a scalar", fd.FullName())
				}
			case apiv1.Source_SOURCE_BODY_KEYS:
				if !fd.IsList() || fd.Kind() != protoreflect.StringKind {
					fail("body keys field %s must be a repeated string", fd.FullName())
				}
			}
			if (f.GetBodyKey() != "" || f.GetDigits()) && (f.GetSource() != apiv1.Source_SOURCE_BODY || fd.Parent() != req) {
				fail("body_key, digits: %s is no top-level body field", fd.FullName())
			}
			if f.GetDigits() && (fd.Kind() != protoreflect.StringKind || fd.IsList()) {
				fail("digits: %s is no string field", fd.FullName())
			}
			if f.GetNullable() && f.GetSource() != apiv1.Source_SOURCE_BODY {
				fail("nullable field %s: only body fields can be sent as null", fd.FullName())
			}
		}
		errs = append(errs, checkNullable(req, op.FullMethod)...)
		paged := r.GetPaging() != apiv1.Paging_PAGING_NONE
		total := op.Method.Output().Fields().ByName("total")
		if name := r.GetDataField(); name != "" {
			fd := op.Method.Output().Fields().ByName(protoreflect.Name(name))
			switch {
			case fd == nil:
				fail("data_field %q is no field of %s", name, op.Method.Output().FullName())
			case paged:
				fail("data_field: a paged answer's data carries its pagination")
			case FieldOf(fd).GetInline():
				fail("data_field %q: an inline field has no value of its own", name)
			}
		}
		if paged != (page != nil) {
			fail("paged routes, and only they, have a Page field")
		}
		if paged && (total == nil || total.Kind() != protoreflect.Int32Kind) {
			fail("paged routes answer an int32 total")
		}
		switch a.GetScope() {
		case apiv1.Scope_SCOPE_ORG:
			if fd := req.Fields().ByName(orgField(a)); fd == nil || fd.Kind() != protoreflect.StringKind {
				fail("org scope: no string field %s in %s", orgField(a), req.FullName())
			}
		case apiv1.Scope_SCOPE_OBJECT:
			fd := req.Fields().ByName(protoreflect.Name(a.GetField()))
			if a.GetObject() == "" || fd == nil {
				fail("object scope: object kind and the request field naming it are required")
			} else if FieldOf(fd).GetSource() != apiv1.Source_SOURCE_PATH {
				fail("object scope: %s must come from the path", fd.Name())
			}
		}
	}
	return errs
}

// checkNullable checks the nullable option on the fields of md and of the
// messages under it: it means "required key, null allowed", so it needs
// required, and a field that null can leave unset (one with presence, not
// a list: a list or a plain scalar has no unset state to tell apart).
func checkNullable(md protoreflect.MessageDescriptor, method string) []error {
	var errs []error
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			f := FieldOf(fd)
			if f.GetNullable() && (!f.GetRequired() || fd.IsList() || !fd.HasPresence()) {
				errs = append(errs, fmt.Errorf("%s: nullable field %s must be required and optional (a proto3 optional scalar or a message, not a list)", method, fd.FullName()))
			}
			if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() {
				walk(fd.Message())
			}
		}
	}
	walk(md)
	return errs
}

// OrgField is the request field an org-scoped operation reads the org from.
func OrgField(a *apiv1.Access) protoreflect.Name { return orgField(a) }

func orgField(a *apiv1.Access) protoreflect.Name {
	if a.GetField() != "" {
		return protoreflect.Name(a.GetField())
	}
	return "org_id"
}
