package api

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// operation is the plan of one routed RPC, built once at start from its
// descriptors: everything serving a request needs that does not depend on
// the request.
type operation struct {
	*contract.Operation
	scope  apiv1.Scope
	action string
	// orgParam is the path parameter an org-scoped route names its org in.
	orgParam string

	req, resp protoreflect.MessageType

	path       []pathField
	query      []queryField
	queryNames map[string]bool // query fields and, when paged, paging
	// page is the request's Page field (paged routes), with its fields.
	page, pageLimit, pageOffset protoreflect.FieldDescriptor
	// total is the response's count, written as pagination (paged routes).
	total protoreflect.FieldDescriptor
	// body reads the BODY fields; nil when the request has none.
	body *decoder

	data    dataShape
	encoder *encoder
	// dataField is the response field written as data in place of the
	// response (Route.data_field), with its encoder; nil for none.
	dataField *fieldEncoder
	// status and tail are the success answer's: tail is the envelope after
	// its data, encoded once.
	status int
	tail   []byte
	hook   hook
}

// dataShape is what the envelope's data holds.
type dataShape int

const (
	dataMessage dataShape = iota
	dataNull              // the response is NoData
	dataEmpty             // the response is Empty: {}
)

var (
	noData = (&corev1.NoData{}).ProtoReflect().Descriptor().FullName()
	empty  = (&corev1.Empty{}).ProtoReflect().Descriptor().FullName()
)

// operations are the plans of every routed RPC, built once per process
// (tests build many gateways). An error means the contract declares
// something the gateway cannot serve: it refuses to start.
var operations = sync.OnceValues(func() ([]*operation, error) {
	if errs := contract.Check(); len(errs) > 0 {
		return nil, fmt.Errorf("the contract is inconsistent: %w", errors.Join(errs...))
	}
	var (
		ops  []*operation
		errs []error
		encs = encoders{}
	)
	for _, op := range contract.Operations() {
		if op.Route == nil {
			continue
		}
		o, err := newOperation(op, encs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", op.FullMethod, err))
			continue
		}
		ops = append(ops, o)
	}
	return ops, errors.Join(errs...)
})

func newOperation(op *contract.Operation, encs encoders) (*operation, error) {
	o := &operation{
		Operation:  op,
		scope:      op.Access.GetScope(),
		action:     op.Access.GetAction(),
		queryNames: map[string]bool{},
		status:     int(op.Route.GetStatus()),
	}
	var err error
	if o.req, err = protoregistry.GlobalTypes.FindMessageByName(op.Method.Input().FullName()); err != nil {
		return nil, err
	}
	if o.resp, err = protoregistry.GlobalTypes.FindMessageByName(op.Method.Output().FullName()); err != nil {
		return nil, err
	}
	if err := o.planRequest(); err != nil {
		return nil, err
	}
	if err := o.planAnswer(encs); err != nil {
		return nil, err
	}
	if o.scope == apiv1.Scope_SCOPE_ORG {
		fd := op.Method.Input().Fields().ByName(contract.OrgField(op.Access))
		if contract.FieldOf(fd).GetSource() != apiv1.Source_SOURCE_PATH {
			return nil, fmt.Errorf("org scope: the gateway reads the org from the path, but %s is no path field", fd.Name())
		}
		o.orgParam = fd.JSONName()
	}
	var ok bool
	if o.hook, ok = hooks[op.Route.GetHook()]; !ok {
		return nil, fmt.Errorf("hook %s: the gateway has no such hook (hooks.go)", op.Route.GetHook())
	}
	if o.hook.check != nil {
		if err := o.hook.check(o); err != nil {
			return nil, fmt.Errorf("hook %s: %w", op.Route.GetHook(), err)
		}
	}
	return o, nil
}

func (o *operation) planRequest() error {
	md := o.req.Descriptor()
	hasBody := false
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if contract.IsPage(fd) {
			o.page = fd
			o.pageLimit = fd.Message().Fields().ByName("limit")
			o.pageOffset = fd.Message().Fields().ByName("offset")
			for _, p := range pagingParams {
				o.queryNames[p.name] = true
			}
			continue
		}
		f := contract.FieldOf(fd)
		switch f.GetSource() {
		case apiv1.Source_SOURCE_PATH:
			p, err := newPathField(fd)
			if err != nil {
				return err
			}
			o.path = append(o.path, p)
		case apiv1.Source_SOURCE_QUERY:
			q, err := newQueryField(fd, f.GetRequired())
			if err != nil {
				return err
			}
			o.query = append(o.query, q)
			o.queryNames[q.name] = true
		case apiv1.Source_SOURCE_BODY:
			hasBody = true
		}
	}
	if hasBody {
		var err error
		o.body, err = newBodyDecoder(md, o.Route.GetLenientBody())
		return err
	}
	return nil
}

func (o *operation) planAnswer(encs encoders) error {
	md := o.resp.Descriptor()
	switch md.FullName() {
	case noData:
		o.data = dataNull
	case empty:
		o.data = dataEmpty
	default:
		var err error
		if o.encoder, err = encs.of(md); err != nil {
			return err
		}
	}
	if o.page != nil {
		o.total = md.Fields().ByName("total")
	}
	if name := o.Route.GetDataField(); name != "" {
		i := -1
		if o.encoder != nil {
			i = slices.IndexFunc(o.encoder.fields, func(f fieldEncoder) bool { return string(f.fd.Name()) == name })
		}
		if i < 0 || o.encoder.fields[i].inline != nil {
			return fmt.Errorf("data_field %q: no such field in %s", name, md.FullName())
		}
		o.dataField = &o.encoder.fields[i]
	}
	o.tail = successTail(o.status, o.Route.GetMessage())
	return nil
}

// ginPath turns a contract path into gin's, and says which gin parameter
// holds each contract parameter. Gin's tree allows one wildcard name per
// position (GET /org/:orgId/site/:niceId beside
// /org/:orgId/site/:siteId/resources panics), while the contract names a
// parameter after the field it fills. So every wildcard is named after its
// segment's position (/org/{orgId}/site/{siteId} → /org/:p1/site/:p3): two
// paths that share a prefix share its names, whatever the contract calls
// them, and params maps each contract name back to its gin name.
func ginPath(p string) (path string, params map[string]string) {
	segs := strings.Split(p, "/")
	params = map[string]string{}
	for i, seg := range segs {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			params[name] = "p" + strconv.Itoa(i)
			segs[i] = ":" + params[name]
		}
	}
	return strings.Join(segs, "/"), params
}
