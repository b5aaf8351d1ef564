package core

import (
	"net/netip"
	"slices"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// A key's own limits beyond its actions: an expiry, the addresses it
// works from and a rate limit. The core checks the first two on every call
// (the caller's address comes from the gateway); the gateways enforce the
// rate limit, which needs no authority beyond the limit itself.

// Bounds of the limits a key can be given.
const (
	MaxAllowedIPs       = 100
	MaxRateRequests     = 1_000_000
	MaxRatePerSeconds   = 86400
	MaxRollGraceSeconds = 86400
)

// keyLimits are the limits a create or update sets, checked and in
// stored form. nil fields are "none".
type keyLimits struct {
	expiresAt  *string
	allowedIPs []string
	rateLimit  *corev1.RateLimit
}

// ErrNotAllowedFrom is the answer to a call with a key whose allow list
// does not hold the client's address ("" when the gateway did not say).
func ErrNotAllowedFrom(addr string) error {
	if addr == "" {
		addr = "an unknown address"
	}
	return Errorf(CodeForbidden, "Key not allowed from %s", addr)
}

// KeyAllows reports whether the key may be used from addr: any address
// when it has no allow list, otherwise one its list holds. An address that
// does not parse (or none) is refused by a key with a list.
func KeyAllows(p *corev1.Principal, addr string) bool {
	if len(p.GetAllowedIps()) == 0 {
		return true
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, s := range p.GetAllowedIps() {
		if prefix, err := netip.ParsePrefix(s); err == nil && prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// checkAllowedIPs validates an allow list of addresses and CIDRs, IPv4 or
// IPv6, and returns it in stored form: every entry a masked CIDR (an
// address is its /32 or /128), without duplicates. Empty means anywhere.
func checkAllowedIPs(entries []string) ([]string, error) {
	if len(entries) > MaxAllowedIPs {
		return nil, Errorf(CodeInvalid, "Validation error: allowedIps holds at most %d entries", MaxAllowedIPs)
	}
	out := make([]string, 0, len(entries))
	for i, e := range entries {
		prefix, ok := parseAllowed(e)
		if !ok {
			return nil, Errorf(CodeInvalid, "Validation error: allowedIps[%d] must be an IP address or CIDR such as 203.0.113.7 or 2001:db8::/32", i)
		}
		if s := prefix.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// parseAllowed reads an address or CIDR; IPv4-mapped IPv6 counts as IPv4
// and zones are refused (an allow list names hosts, not interfaces).
func parseAllowed(s string) (netip.Prefix, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		if ip.Zone() != "" {
			return netip.Prefix{}, false
		}
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// checkRateLimit validates a rate limit; nil is none.
func checkRateLimit(r *corev1.RateLimit) error {
	switch {
	case r == nil:
		return nil
	case r.GetRequests() < 1 || r.GetRequests() > MaxRateRequests:
		return Errorf(CodeInvalid, "Validation error: rateLimit.requests must be between 1 and %d", MaxRateRequests)
	case r.GetPerSeconds() < 1 || r.GetPerSeconds() > MaxRatePerSeconds:
		return Errorf(CodeInvalid, "Validation error: rateLimit.perSeconds must be between 1 and %d", MaxRatePerSeconds)
	}
	return nil
}

// checkLimits validates the limits of a create, in stored form.
func checkLimits(expiresAt *string, allowedIPs []string, rate *corev1.RateLimit) (keyLimits, error) {
	var l keyLimits
	var err error
	if l.expiresAt, err = checkExpiry(expiresAt); err != nil {
		return l, err
	}
	if l.allowedIPs, err = checkAllowedIPs(allowedIPs); err != nil {
		return l, err
	}
	l.rateLimit = rate
	return l, checkRateLimit(rate)
}

// mayLimit checks limits a caller sets on a key, as mayGrant checks
// actions: a key cannot give another key more than it has itself. Each
// limit of the caller's bounds the one set: an expiry no later than its
// own, an allow list within its own, a rate limit with no more requests,
// at once or over time. Only the limits set are checked (an update
// leaves the others alone): set holds their JSON names.
func mayLimit(c Caller, l keyLimits, set func(name string) bool) error {
	if own := c.Principal.GetExpiresAt(); own != "" && set("expiresAt") {
		if l.expiresAt == nil || later(*l.expiresAt, own) {
			return Errorf(CodeForbidden, "Key cannot set expiresAt later than its own (%s)", own)
		}
	}
	if own := c.Principal.GetAllowedIps(); len(own) > 0 && set("allowedIps") {
		if len(l.allowedIPs) == 0 {
			return Errorf(CodeForbidden, "Key cannot set allowedIps wider than its own: it must hold addresses within %v", own)
		}
		for _, s := range l.allowedIPs {
			if !within(s, own) {
				return Errorf(CodeForbidden, "Key cannot set allowedIps wider than its own: %s is outside them", s)
			}
		}
	}
	if own := c.Principal.GetRateLimit(); own != nil && set("rateLimit") {
		r := l.rateLimit
		// r/rs <= o/os, compared without division.
		if r == nil || r.GetRequests() > own.GetRequests() ||
			int64(r.GetRequests())*int64(own.GetPerSeconds()) > int64(own.GetRequests())*int64(r.GetPerSeconds()) {
			return Errorf(CodeForbidden, "Key cannot set a rateLimit above its own (%d requests per %d seconds)", own.GetRequests(), own.GetPerSeconds())
		}
	}
	return nil
}

// later reports whether stored time a is after b; both are TimeFormat.
func later(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA != nil || errB != nil || ta.After(tb)
}

// within reports whether the stored CIDR s lies inside one of the stored
// CIDRs of list.
func within(s string, list []string) bool {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return false
	}
	for _, o := range list {
		q, err := netip.ParsePrefix(o)
		if err == nil && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}
