package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/core"
	"pangolin-gateway/proto/contract"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// access is the core's one guard: for every call it reads the method's
// access rule from the contract, resolves the calling key, applies the
// rule (scope, then action), puts the Caller in the context and, after
// the method, maps its error to a gRPC status. The gateway applies the
// same rules early, but only this one is the authority: a call that
// reaches the core for a key without the action is refused, whatever any
// cache said.
type access struct {
	callers *callers
	objects map[string]core.Reach
	log     *slog.Logger
}

// newAccess checks that the core can enforce every rule the contract
// declares: each object kind has a resolver, and no stream needs its
// request to be checked (a stream's request arrives after the handler
// starts, too late to refuse the call).
func newAccess(callers *callers, objects map[string]core.Reach, log *slog.Logger) (*access, error) {
	for _, op := range contract.Operations() {
		a := op.Access
		needsRequest := a.GetScope() == apiv1.Scope_SCOPE_ORG || a.GetScope() == apiv1.Scope_SCOPE_OBJECT
		if needsRequest && (op.Method.IsStreamingClient() || op.Method.IsStreamingServer()) {
			return nil, fmt.Errorf("%s: streams cannot have scope %s", op.FullMethod, a.GetScope())
		}
		if a.GetScope() == apiv1.Scope_SCOPE_OBJECT && objects[a.GetObject()] == nil {
			return nil, fmt.Errorf("%s: the core has no resolver for objects of kind %q", op.FullMethod, a.GetObject())
		}
	}
	return &access{callers: callers, objects: objects, log: log}, nil
}

func (a *access) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	msg, _ := req.(proto.Message)
	ctx, err := a.authorize(ctx, info.FullMethod, msg)
	var res any
	if err == nil {
		res, err = next(ctx, req)
	}
	err = a.status(ctx, info.FullMethod, err)
	// One debug line per call: which replica served what (the tests of
	// dns:/// balancing read it); no request content.
	if a.log.Enabled(ctx, slog.LevelDebug) {
		a.log.DebugContext(ctx, "core: call", "method", info.FullMethod, "code", status.Code(err).String())
	}
	return res, err
}

func (a *access) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx, err := a.authorize(ss.Context(), info.FullMethod, nil)
	if err == nil {
		err = next(srv, callerStream{ss, ctx})
	}
	return a.status(ctx, info.FullMethod, err)
}

// callerStream is a stream whose context carries the Caller.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s callerStream) Context() context.Context { return s.ctx }

// authorize applies the method's access rule to the call and returns ctx
// with the Caller. req is nil for streams (whose rules need no request).
func (a *access) authorize(ctx context.Context, method string, req proto.Message) (context.Context, error) {
	if strings.HasPrefix(method, grpcHealth) {
		return ctx, nil // the one service that is not ours: no key, no rule
	}
	op := contract.ByFullMethod(method)
	if op == nil || op.Access.GetScope() == apiv1.Scope_SCOPE_UNSPECIFIED {
		// A method registered without a rule is a defect: refuse, loudly.
		a.log.Error("core: refused a call to a method without an access rule", "method", method)
		return ctx, status.Error(codes.PermissionDenied, "Method has no access rule")
	}
	rule := op.Access
	switch rule.GetScope() {
	case apiv1.Scope_SCOPE_PUBLIC, apiv1.Scope_SCOPE_INTERNAL:
		return ctx, nil
	}
	keyID := firstIncoming(ctx, corev1.MetadataKeyID)
	if keyID == "" {
		return ctx, core.Errorf(core.CodeUnauthenticated, "API key required")
	}
	c, err := a.callers.resolve(ctx, keyID, firstIncoming(ctx, corev1.MetadataClientAddress))
	if err != nil {
		return ctx, err
	}
	switch rule.GetScope() {
	case apiv1.Scope_SCOPE_KEY:
	case apiv1.Scope_SCOPE_ROOT:
		if !c.GetIsRoot() {
			return ctx, core.Errorf(core.CodeForbidden, "Key does not have root access")
		}
	case apiv1.Scope_SCOPE_ORG:
		// An org key gets the same answer whether or not the org exists:
		// no existence oracle.
		orgID := field(req, contract.OrgField(rule)).String()
		if !c.Reaches(orgID) {
			return ctx, core.Errorf(core.CodeForbidden, "Key does not have access to organization %s", orgID)
		}
	case apiv1.Scope_SCOPE_OBJECT:
		id := field(req, protoreflect.Name(rule.GetField()))
		if err := a.objects[rule.GetObject()](ctx, c, id); err != nil {
			return ctx, err
		}
	default:
		a.log.Error("core: refused a call with an unknown access scope", "method", method, "scope", rule.GetScope())
		return ctx, status.Error(codes.PermissionDenied, "Method has no access rule")
	}
	if action := rule.GetAction(); action != "" && !c.Holds(action) {
		return ctx, core.Errorf(core.CodeForbidden, "Key does not have permission to perform this action: %s", action)
	}
	return core.WithCaller(ctx, c), nil
}

// field reads a request field named by an access rule (contract.Check
// makes sure the request has it).
func field(req proto.Message, name protoreflect.Name) protoreflect.Value {
	if req == nil {
		return protoreflect.Value{}
	}
	m := req.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(name)
	if fd == nil {
		return protoreflect.Value{}
	}
	return m.Get(fd)
}

// status maps a core error to its gRPC status, once for every method;
// messages of *core.Error are client-safe. Anything else is logged here
// with the method and answered without its cause: SQL and driver text
// never reach clients.
func (a *access) status(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (the link, the stream, the guard)
	}
	code := map[core.Code]codes.Code{
		core.CodeInvalid:         codes.InvalidArgument,
		core.CodeNotFound:        codes.NotFound,
		core.CodeConflict:        codes.AlreadyExists,
		core.CodeForbidden:       codes.PermissionDenied,
		core.CodeUnauthenticated: codes.Unauthenticated,
		core.CodeUnavailable:     codes.Unavailable,
		core.CodeExhausted:       codes.ResourceExhausted,
	}[core.ErrorCode(err)]
	switch {
	case code != codes.OK:
		return status.Error(code, err.Error())
	case ctx.Err() != nil:
		return status.Error(codes.Unavailable, "Request cancelled")
	}
	a.log.ErrorContext(ctx, "core: call failed", "method", method, "err", err)
	return status.Error(codes.Internal, "An error occurred")
}
