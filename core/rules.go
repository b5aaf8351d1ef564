package core

import (
	"context"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// RuleStore is what the rule service needs of storage.
type RuleStore interface {
	GetResource(ctx context.Context, id int64) (*corev1.Resource, error)
	// CreateRule stores r and returns it as stored.
	CreateRule(ctx context.Context, r *corev1.Rule) (*corev1.Rule, error)
	// ListRules returns a page of the resource's rules by priority, then
	// id, and how many it has.
	ListRules(ctx context.Context, resourceID int64, page *corev1.Page) ([]*corev1.Rule, int32, error)
	// UpdateRule reads the resource's rule, lets change modify it and
	// stores the result, in one transaction; a rule of another resource →
	// RuleNotFound.
	UpdateRule(ctx context.Context, resourceID, ruleID int64, change func(*corev1.Rule) error) (*corev1.Rule, error)
	// DeleteRule deletes the resource's rule; a rule of another resource →
	// RuleNotFound.
	DeleteRule(ctx context.Context, resourceID, ruleID int64) error
}

// RuleNotFound answers for a rule that is not one of the resource's.
func RuleNotFound(id int64) error {
	return Errorf(CodeNotFound, "Resource rule with ID %d not found", id)
}

var (
	ruleActions = []string{"ACCEPT", "DROP", "PASS"}
	ruleMatches = []string{"CIDR", "IP", "PATH", "COUNTRY", "ASN"}
	ruleMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// Rules is the RuleService.
type Rules struct {
	corev1.UnimplementedRuleServiceServer
	store RuleStore
}

// CreateRule adds a rule to an HTTP resource.
func (s *Rules) CreateRule(ctx context.Context, req *corev1.CreateRuleRequest) (*corev1.Rule, error) {
	res, err := s.store.GetResource(ctx, req.GetResourceId())
	if err != nil {
		return nil, err
	}
	if !res.GetHttp() {
		return nil, Errorf(CodeInvalid, "Rules can only be added to HTTP resources")
	}
	r := &corev1.Rule{
		ResourceId: req.GetResourceId(), Enabled: true, Priority: req.GetPriority(),
		Action: req.GetAction(), Match: req.GetMatch(), Value: req.GetValue(), Method: req.Method,
	}
	if req.Enabled != nil {
		r.Enabled = req.GetEnabled()
	}
	if err := checkRule(r); err != nil {
		return nil, err
	}
	return s.store.CreateRule(ctx, r)
}

// ListRules lists a resource's rules by priority.
func (s *Rules) ListRules(ctx context.Context, req *corev1.ListRulesRequest) (*corev1.ListRulesResponse, error) {
	list, total, err := s.store.ListRules(ctx, req.GetResourceId(), req.GetPage())
	return &corev1.ListRulesResponse{Rules: list, Total: total}, err
}

// UpdateRule changes the fields given.
func (s *Rules) UpdateRule(ctx context.Context, req *corev1.UpdateRuleRequest) (*corev1.Rule, error) {
	if ruleFieldsSet(req) == 0 {
		return nil, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	return s.store.UpdateRule(ctx, req.GetResourceId(), req.GetRuleId(), func(r *corev1.Rule) error {
		if req.Action != nil {
			r.Action = req.GetAction()
		}
		if req.Match != nil {
			r.Match = req.GetMatch()
		}
		if req.Value != nil {
			r.Value = req.GetValue()
		}
		if req.Priority != nil {
			r.Priority = req.GetPriority()
		}
		if req.Enabled != nil {
			r.Enabled = req.GetEnabled()
		}
		if req.Method != nil {
			r.Method = emptyAsUnset(req.Method)
		}
		return checkRule(r)
	})
}

func ruleFieldsSet(req *corev1.UpdateRuleRequest) int {
	n := 0
	for _, set := range []bool{req.Action != nil, req.Match != nil, req.Value != nil, req.Priority != nil, req.Enabled != nil, req.Method != nil} {
		if set {
			n++
		}
	}
	return n
}

// DeleteRule removes a rule of the resource.
func (s *Rules) DeleteRule(ctx context.Context, req *corev1.RuleIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteRule(ctx, req.GetResourceId(), req.GetRuleId())
}

// checkRule validates a rule; a COUNTRY or ASN value is upper-cased.
func checkRule(r *corev1.Rule) error {
	if !slices.Contains(ruleActions, r.GetAction()) {
		return Errorf(CodeInvalid, "Validation error: action must be one of 'ACCEPT', 'DROP', 'PASS' at \"action\"")
	}
	if !slices.Contains(ruleMatches, r.GetMatch()) {
		return Errorf(CodeInvalid, "Validation error: match must be one of 'CIDR', 'IP', 'PATH', 'COUNTRY', 'ASN' at \"match\"")
	}
	if r.Method != nil && !slices.Contains(ruleMethods, r.GetMethod()) {
		return Errorf(CodeInvalid, "Validation error: method must be one of %s at \"method\"", strings.Join(ruleMethods, ", "))
	}
	v := r.GetValue()
	switch r.GetMatch() {
	case "CIDR":
		if _, err := netip.ParsePrefix(v); err != nil {
			return Errorf(CodeInvalid, "Invalid CIDR provided at \"value\": %q", v)
		}
	case "IP":
		if ip, err := netip.ParseAddr(v); err != nil || ip.Zone() != "" {
			return Errorf(CodeInvalid, "Invalid IP provided at \"value\": %q", v)
		}
	case "PATH":
		if !IsURLGlob(v) {
			return Errorf(CodeInvalid, "Invalid URL glob pattern provided at \"value\": %q", v)
		}
	case "COUNTRY":
		if !countryPattern.MatchString(v) {
			return Errorf(CodeInvalid, "Invalid country code provided at \"value\": %q (two letters, ISO 3166-1)", v)
		}
		r.Value = strings.ToUpper(v)
	case "ASN":
		if !asnPattern.MatchString(v) {
			return Errorf(CodeInvalid, "Invalid ASN provided at \"value\": %q (AS64496 or 64496)", v)
		}
		r.Value = strings.ToUpper(v)
	}
	return nil
}

var (
	countryPattern = regexp.MustCompile(`^[A-Za-z]{2}$`)
	asnPattern     = regexp.MustCompile(`^([Aa][Ss])?[0-9]{1,10}$`)
)

// IsURLGlob reports whether p is a path pattern as Pangolin accepts it:
// "/" alone, or segments separated by "/" (a leading one optional) of
// letters, digits and -._~!$&'()*+,;#=@: (* is the wildcard), with %XX
// escapes, and no empty segment but a trailing one.
func IsURLGlob(p string) bool {
	if p == "/" {
		return true
	}
	p = strings.TrimPrefix(p, "/")
	if p == "" || len(p) > 2048 {
		return false
	}
	segments := strings.Split(p, "/")
	for i, seg := range segments {
		if seg == "" && i != len(segments)-1 {
			return false
		}
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			switch {
			case c == '%':
				if j+2 >= len(seg) || !isHex(seg[j+1]) || !isHex(seg[j+2]) {
					return false
				}
				j += 2
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			case strings.IndexByte("-._~!$&'()*+,;#=@:", c) >= 0:
			default:
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
