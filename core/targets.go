package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// TargetStore is what the target service needs of storage.
type TargetStore interface {
	GetResource(ctx context.Context, id int64) (*corev1.Resource, error)
	GetSite(ctx context.Context, id int64) (*corev1.Site, error)
	// CreateTarget stores t and returns it as stored.
	CreateTarget(ctx context.Context, t *corev1.Target) (*corev1.Target, error)
	// GetTarget: missing → TargetNotFound.
	GetTarget(ctx context.Context, id int64) (*corev1.Target, error)
	// TargetOrg returns the org of the target's resource; missing →
	// TargetNotFound.
	TargetOrg(ctx context.Context, id int64) (string, error)
	ListTargets(ctx context.Context, resourceID int64, page *corev1.Page) ([]*corev1.TargetListItem, int32, error)
	// UpdateTarget reads the target, lets change modify it, and stores the
	// result, in one transaction.
	UpdateTarget(ctx context.Context, id int64, change func(*corev1.Target) error) (*corev1.Target, error)
	DeleteTarget(ctx context.Context, id int64) error
	// SiteInternalPorts returns the internal ports the site's targets use.
	SiteInternalPorts(ctx context.Context, siteID int64) ([]int32, error)
}

// TargetNotFound answers for a target that does not exist or whose
// resource lies in an org the caller cannot reach.
func TargetNotFound(id int64) error {
	return Errorf(CodeNotFound, "Target with ID %d not found", id)
}

// Internal ports of targets: Pangolin's range.
const (
	minInternalPort = 40000
	maxInternalPort = 65534
)

// Targets is the TargetService.
type Targets struct {
	corev1.UnimplementedTargetServiceServer
	store TargetStore
}

// Reach resolves a target id (access scope OBJECT, object "target").
func (s *Targets) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	return reachObject(ctx, c, id.Int(), s.store.TargetOrg, TargetNotFound)
}

// CreateTarget adds a target to a resource.
func (s *Targets) CreateTarget(ctx context.Context, req *corev1.CreateTargetRequest) (*corev1.Target, error) {
	r, err := s.store.GetResource(ctx, req.GetResourceId())
	if err != nil {
		return nil, err
	}
	t := &corev1.Target{ResourceId: r.GetResourceId(), Enabled: true, Priority: 100, HcHealth: "unknown"}
	copySetFields(req, t)
	if req.SiteId == nil {
		if r.SiteId == nil {
			return nil, Errorf(CodeInvalid, "Validation error: siteId is required (the resource has no site of its own) at \"siteId\"")
		}
		t.SiteId = r.GetSiteId()
	}
	if req.Mode == nil {
		t.Mode = proto.String("http")
		if !r.GetHttp() {
			t.Mode = proto.String(r.GetProtocol())
		}
	}
	if t.GetHcEnabled() {
		t.HcHealth = "unhealthy"
	}
	if err := checkTarget(t); err != nil {
		return nil, err
	}
	if err := s.placeOnSite(ctx, r.GetOrgId(), t, true); err != nil {
		return nil, err
	}
	return s.store.CreateTarget(ctx, t)
}

// placeOnSite checks t's site against the resource's org (another org's
// site is as missing as one that does not exist) and its IP against a
// wireguard site's subnet, and picks an internal port on newt and
// wireguard sites when newPort is set or t has none.
func (s *Targets) placeOnSite(ctx context.Context, orgID string, t *corev1.Target, newPort bool) error {
	site, err := s.store.GetSite(ctx, t.GetSiteId())
	if ErrorCode(err) == CodeNotFound || err == nil && site.GetOrgId() != orgID {
		return SiteNotFound(t.GetSiteId())
	}
	if err != nil {
		return err
	}
	if site.GetType() == SiteWireGuard {
		subnet, perr := netip.ParsePrefix(site.GetSubnet())
		ip, ierr := netip.ParseAddr(t.GetIp())
		if perr != nil || ierr != nil || !subnet.Contains(ip) {
			return Errorf(CodeInvalid, "Target IP is not within the site subnet")
		}
	}
	if site.GetType() == SiteLocal {
		t.InternalPort = nil
		return nil
	}
	if !newPort && t.InternalPort != nil {
		return nil
	}
	used, err := s.store.SiteInternalPorts(ctx, t.GetSiteId())
	if err != nil {
		return err
	}
	port, ok := freeInternalPort(used)
	if !ok {
		return Errorf(CodeInvalid, "No available internal port")
	}
	t.InternalPort = &port
	return nil
}

// freeInternalPort picks a random port of the internal range that used
// does not hold.
func freeInternalPort(used []int32) (int32, bool) {
	taken := map[int32]bool{}
	for _, p := range used {
		taken[p] = true
	}
	n := maxInternalPort - minInternalPort + 1
	start := rand.IntN(n)
	for i := range n {
		p := int32(minInternalPort + (start+i)%n)
		if !taken[p] {
			return p, true
		}
	}
	return 0, false
}

// copySetFields copies each field set in req onto the field of t with the
// same name (the request fields are named after the target's).
func copySetFields(req proto.Message, t *corev1.Target) {
	dst := t.ProtoReflect()
	req.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		to := dst.Descriptor().Fields().ByName(fd.Name())
		if to == nil || fd.Name() == "target_id" || fd.Name() == "resource_id" {
			return true
		}
		if fd.IsList() {
			l := dst.Mutable(to).List()
			l.Truncate(0)
			for i := range v.List().Len() {
				l.Append(v.List().Get(i))
			}
			return true
		}
		dst.Set(to, v)
		return true
	})
}

var (
	targetModes   = []string{"http", "tcp", "udp", "ssh", "rdp", "vnc"}
	pathMatches   = []string{"exact", "prefix", "regex"}
	pathRewrites  = []string{"exact", "prefix", "regex", "stripPrefix"}
	hcSchemes     = []string{"http", "https"}
	hcModes       = []string{"http", "tcp"}
	httpMethodSet = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// checkTarget validates a target's fields, naming the first that is wrong.
func checkTarget(t *corev1.Target) error {
	if t.GetSiteId() < 1 {
		return Errorf(CodeInvalid, "Validation error: siteId must be a positive id at \"siteId\"")
	}
	if !isTargetHost(t.GetIp()) {
		return Errorf(CodeInvalid, "Validation error: ip must be an IPv4 or IPv6 address or a host name at \"ip\"")
	}
	if err := checkPort("port", t.GetPort()); err != nil {
		return err
	}
	if t.Method != nil && (len(t.GetMethod()) < 1 || len(t.GetMethod()) > 10 || strings.ContainsFunc(t.GetMethod(), func(r rune) bool { return r <= ' ' || r > '~' })) {
		return Errorf(CodeInvalid, "Validation error: method must be 1-10 printable characters at \"method\"")
	}
	for _, e := range []struct {
		name  string
		value *string
		allow []string
	}{
		{"mode", t.Mode, targetModes}, {"pathMatchType", t.PathMatchType, pathMatches},
		{"rewritePathType", t.RewritePathType, pathRewrites}, {"hcScheme", t.HcScheme, hcSchemes}, {"hcMode", t.HcMode, hcModes},
	} {
		if e.value != nil && !slices.Contains(e.allow, *e.value) {
			return Errorf(CodeInvalid, "Validation error: %s must be one of '%s' at %q", e.name, strings.Join(e.allow, "', '"), e.name)
		}
	}
	for _, p := range []struct {
		name  string
		value *string
	}{{"path", t.Path}, {"rewritePath", t.RewritePath}, {"hcPath", t.HcPath}} {
		if p.value != nil && (len(*p.value) > 2048 || strings.ContainsFunc(*p.value, func(r rune) bool { return r < ' ' || r == 0x7f })) {
			return Errorf(CodeInvalid, "Validation error: %s must be at most 2048 characters without control characters at %q", p.name, p.name)
		}
	}
	if t.GetPriority() < 1 || t.GetPriority() > 1000 {
		return Errorf(CodeInvalid, "Validation error: priority must be from 1 to 1000 at \"priority\"")
	}
	if t.GetHcEnabled() && t.GetHcHostname() == "" {
		return Errorf(CodeInvalid, "Validation error: hcHostname is required when hcEnabled is true at \"hcHostname\"")
	}
	if t.HcHostname != nil && t.GetHcHostname() != "" && !isTargetHost(t.GetHcHostname()) {
		return Errorf(CodeInvalid, "Validation error: hcHostname must be an IP address or a host name at \"hcHostname\"")
	}
	if t.HcPort != nil {
		if err := checkPort("hcPort", t.GetHcPort()); err != nil {
			return err
		}
	}
	for _, n := range []struct {
		name  string
		value *int32
	}{{"hcInterval", t.HcInterval}, {"hcUnhealthyInterval", t.HcUnhealthyInterval}, {"hcTimeout", t.HcTimeout},
		{"hcHealthyThreshold", t.HcHealthyThreshold}, {"hcUnhealthyThreshold", t.HcUnhealthyThreshold}} {
		if n.value != nil && (*n.value < 1 || *n.value > 86400) {
			return Errorf(CodeInvalid, "Validation error: %s must be from 1 to 86400 at %q", n.name, n.name)
		}
	}
	if t.HcStatus != nil && (t.GetHcStatus() < 100 || t.GetHcStatus() > 599) {
		return Errorf(CodeInvalid, "Validation error: hcStatus must be an HTTP status from 100 to 599 at \"hcStatus\"")
	}
	if t.HcMethod != nil && !slices.Contains(httpMethodSet, strings.ToUpper(t.GetHcMethod())) {
		return Errorf(CodeInvalid, "Validation error: hcMethod must be one of %s at \"hcMethod\"", strings.Join(httpMethodSet, ", "))
	}
	if t.HcTlsServerName != nil && t.GetHcTlsServerName() != "" && !hostnameOrIPPattern.MatchString(strings.ToLower(t.GetHcTlsServerName())) {
		return Errorf(CodeInvalid, "Validation error: hcTlsServerName must be a host name at \"hcTlsServerName\"")
	}
	if len(t.HcHeaders) > 100 {
		return Errorf(CodeInvalid, "Validation error: at most 100 headers at \"hcHeaders\"")
	}
	for i, h := range t.HcHeaders {
		if err := checkHeader(fmt.Sprintf("hcHeaders[%d]", i), h); err != nil {
			return err
		}
	}
	return nil
}

// isTargetHost accepts an IP address or a host name (labels of letters,
// digits, '-' and '_').
func isTargetHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return !strings.Contains(s, "%") // no IPv6 zone
	}
	return len(s) <= 253 && hostnameOrIPPattern.MatchString(strings.ToLower(s))
}

// ListTargets lists a resource's targets.
func (s *Targets) ListTargets(ctx context.Context, req *corev1.ListTargetsRequest) (*corev1.ListTargetsResponse, error) {
	list, total, err := s.store.ListTargets(ctx, req.GetResourceId(), req.GetPage())
	return &corev1.ListTargetsResponse{Targets: list, Total: total}, err
}

// GetTarget reads a target.
func (s *Targets) GetTarget(ctx context.Context, req *corev1.TargetIdRequest) (*corev1.Target, error) {
	return s.store.GetTarget(ctx, req.GetTargetId())
}

// UpdateTarget changes the fields given.
func (s *Targets) UpdateTarget(ctx context.Context, req *corev1.UpdateTargetRequest) (*corev1.Target, error) {
	current, err := s.store.GetTarget(ctx, req.GetTargetId())
	if err != nil {
		return nil, err
	}
	r, err := s.store.GetResource(ctx, current.GetResourceId())
	if err != nil {
		return nil, err
	}
	return s.store.UpdateTarget(ctx, req.GetTargetId(), func(t *corev1.Target) error {
		oldSite := t.GetSiteId()
		wasEnabled := t.GetHcEnabled()
		copySetFields(req, t)
		if t.GetHcEnabled() && !wasEnabled {
			t.HcHealth = "unhealthy"
		}
		if !t.GetHcEnabled() {
			t.HcHealth = "unknown"
		}
		if err := checkTarget(t); err != nil {
			return err
		}
		return s.placeOnSite(ctx, r.GetOrgId(), t, t.GetSiteId() != oldSite)
	})
}

// DeleteTarget removes a target.
func (s *Targets) DeleteTarget(ctx context.Context, req *corev1.TargetIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteTarget(ctx, req.GetTargetId())
}
