package core

import (
	"context"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Caller is the API key on whose behalf the core acts, as stored: whether
// it is root, the orgs it is linked to and the actions it holds. The
// transport resolves it once per call from the key id the gateway sends,
// never from what the request says, and applies the method's access rule
// before the domain runs; the domain reads it for the rules that depend on
// it (a key grants only what it holds).
type Caller struct {
	*corev1.Principal
}

// Admin is the server administrator (the core's own subcommands): every
// org, every action.
var Admin = Caller{&corev1.Principal{IsRoot: true, ActionIds: Actions}}

// Reaches reports whether the caller may act in the org: root keys reach
// every org, org keys the orgs they are linked to.
func (c Caller) Reaches(orgID string) bool {
	return c.GetIsRoot() || slices.Contains(c.GetOrgIds(), orgID)
}

// Holds reports whether the caller was granted the action (root keys too
// must hold each action, as in Pangolin).
func (c Caller) Holds(action string) bool { return slices.Contains(c.GetActionIds(), action) }

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf returns the caller ctx carries; without one, a caller that may
// do nothing, so a call that skipped the transport's check cannot act.
func CallerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// Reach decides whether a caller may act on the object an id names
// (access scope OBJECT): nil when it may, otherwise the error the API
// answers. An object in an org the caller cannot reach answers exactly like
// a missing one, so ids and org names of other tenants cannot be probed.
type Reach func(ctx context.Context, c Caller, id protoreflect.Value) error

// reachObject is every Reach: the object's org comes from orgOf (whose
// error, for a missing object, is its NotFound), and an org the caller
// cannot reach answers notFound too, exactly as a missing object does: no
// oracle for other tenants' ids.
func reachObject[ID any](ctx context.Context, c Caller, id ID, orgOf func(context.Context, ID) (string, error), notFound func(ID) error) error {
	orgID, err := orgOf(ctx, id)
	if err != nil {
		return err
	}
	if !c.Reaches(orgID) {
		return notFound(id)
	}
	auditOrg(ctx, orgID)
	return nil
}
