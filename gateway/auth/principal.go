package auth

import (
	"net/netip"
	"slices"
	"time"
)

// Principal is what an authenticated API key may do. It is shared between
// concurrent requests (the caches hand out the same value): treat it as
// read-only.
type Principal struct {
	KeyID string
	// IsRoot keys may act on every org; HasOrg does not look at it, so
	// guards decide explicitly what a root key may skip.
	IsRoot  bool
	OrgIDs  []string
	Actions []string
	// ExpiresAt is when the key stops working; zero: never. Every cache
	// hit checks it, so an expiry needs no invalidation to take effect.
	ExpiresAt time.Time
	// AllowedIPs are the addresses the key works from; empty: anywhere.
	AllowedIPs []netip.Prefix
	// RateLimit bounds the key's requests; zero: no limit.
	RateLimit RateLimit
	// PreviousUntil is, after a roll, when the secret before stops
	// working; until then a secret that does not match the cached one may
	// be the other one, which only the core can tell.
	PreviousUntil time.Time
	// SecretUntil is when the secret this principal was verified with
	// stops working: PreviousUntil for the secret before a roll, zero for
	// the key's own.
	SecretUntil time.Time

	// Sets built once by NewPrincipal: the guards ask on every request.
	orgs    map[string]struct{}
	actions map[string]struct{}
}

// NewPrincipal returns a Principal with its lookup sets built. A Principal
// written as a literal works too; its Has* methods then scan the slices.
func NewPrincipal(keyID string, isRoot bool, orgIDs, actions []string) *Principal {
	return &Principal{
		KeyID:   keyID,
		IsRoot:  isRoot,
		OrgIDs:  orgIDs,
		Actions: actions,
		orgs:    set(orgIDs),
		actions: set(actions),
	}
}

// RateLimit is at most Requests per Per, in bursts of at most Requests.
type RateLimit struct {
	Requests int
	Per      time.Duration
}

// AllowsFrom reports whether the key may be used from addr (the client's
// address, "" when unknown): always without an allow list, otherwise when
// the list holds it. The core applies the same rule to every call.
func (p *Principal) AllowsFrom(addr string) bool {
	if len(p.AllowedIPs) == 0 {
		return true
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, prefix := range p.AllowedIPs {
		if prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// Expired reports whether the key is past its expiry at now.
func (p *Principal) Expired(now time.Time) bool {
	return p != nil && !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt)
}

// HasOrg reports whether the key is linked to org id. It ignores IsRoot.
func (p *Principal) HasOrg(id string) bool {
	if p == nil {
		return false
	}
	if p.orgs == nil {
		return slices.Contains(p.OrgIDs, id)
	}
	_, ok := p.orgs[id]
	return ok
}

// HasAction reports whether the key holds action id. Root keys must hold
// their actions too (as in Pangolin), so IsRoot is not consulted.
func (p *Principal) HasAction(id string) bool {
	if p == nil {
		return false
	}
	if p.actions == nil {
		return slices.Contains(p.Actions, id)
	}
	_, ok := p.actions[id]
	return ok
}

func set(items []string) map[string]struct{} {
	m := make(map[string]struct{}, len(items))
	for _, it := range items {
		m[it] = struct{}{}
	}
	return m
}
