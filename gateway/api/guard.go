package api

import (
	"context"
	"errors"
	"net/http"

	"pangolin-gateway/gateway/auth"
	apiv1 "pangolin-gateway/proto/pangolin/api/v1"
)

// Authenticator resolves the Authorization header to a key.
type Authenticator interface {
	Authenticate(ctx context.Context, header string) (*auth.Principal, error)
}

// authorize applies the route's access rule early: first the scope, then
// the action, the same order as Pangolin, so a key without org access
// learns nothing about the action. It is a fast path, not the authority:
// the core applies the same rule to every call. An object named by id
// (SCOPE_OBJECT) is resolved to its org by the core only, which answers an
// object out of reach exactly like a missing one. Forbidden answers say
// what was missing, never the key's scope.
//
// org is the value of the route's org parameter (scope ORG).
func (o *operation) authorize(key *auth.Principal, org string) error {
	switch o.scope {
	case apiv1.Scope_SCOPE_ROOT:
		if !key.IsRoot {
			return errorf(http.StatusForbidden, "Key does not have root access")
		}
	case apiv1.Scope_SCOPE_ORG:
		if !key.IsRoot && !key.HasOrg(org) {
			return errorf(http.StatusForbidden, "Key does not have access to organization "+org)
		}
	}
	if o.action != "" && !key.HasAction(o.action) {
		return errorf(http.StatusForbidden, "Key does not have permission to perform this action: "+o.action)
	}
	return nil
}

func authError(err error) error {
	switch {
	case errors.Is(err, auth.ErrMissingKey):
		return errorf(http.StatusUnauthorized, auth.ErrMissingKey.Error())
	case errors.Is(err, auth.ErrInvalidKey):
		return errorf(http.StatusUnauthorized, "Invalid API key")
	case errors.Is(err, auth.ErrKeyExpired):
		return errorf(http.StatusUnauthorized, auth.ErrKeyExpired.Error())
	case errors.As(err, new(*auth.NotAllowedError)):
		return errorf(http.StatusForbidden, err.Error())
	case errors.Is(err, auth.ErrRateLimited):
		return errorf(http.StatusTooManyRequests, auth.ErrRateLimited.Error())
	case errors.Is(err, auth.ErrBusy):
		return errorf(http.StatusTooManyRequests, "Too many authentication attempts, retry later")
	default:
		return errorf(http.StatusServiceUnavailable, "Authentication service unavailable, retry later")
	}
}
