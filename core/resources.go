package core

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ResourceStore is what the resource service needs of storage.
type ResourceStore interface {
	// CreateResource stores r in its org, links the org's Admin role to it,
	// and returns it as stored. A taken fullDomain, (protocol, proxyPort)
	// or niceId → Conflict.
	CreateResource(ctx context.Context, r *corev1.Resource) (*corev1.Resource, error)
	// GetResource: missing → ResourceNotFound.
	GetResource(ctx context.Context, id int64) (*corev1.Resource, error)
	// ResourceOrg returns the org a resource lies in; missing →
	// ResourceNotFound.
	ResourceOrg(ctx context.Context, id int64) (string, error)
	// ListResources returns a page of the resources the filter selects,
	// and how many it selects.
	ListResources(ctx context.Context, f ResourceFilter, page *corev1.Page) ([]*corev1.ResourceListItem, int32, error)
	// ResourceNames returns the id and name of every resource of the org,
	// by id.
	ResourceNames(ctx context.Context, orgID string) ([]*corev1.ResourceName, error)
	// UpdateResource reads the resource, lets change modify it, and stores
	// the result, in one transaction; it returns the resource as stored. A
	// fullDomain, (protocol, proxyPort) or niceId another resource has →
	// Conflict.
	UpdateResource(ctx context.Context, id int64, change func(*corev1.Resource) error) (*corev1.Resource, error)
	// DeleteResource deletes the resource and what hangs off it.
	DeleteResource(ctx context.Context, id int64) error
	// TransferResource moves the resource, and its targets on its old
	// site, to the site.
	TransferResource(ctx context.Context, id, siteID int64) (*corev1.Resource, error)
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	GetSite(ctx context.Context, id int64) (*corev1.Site, error)
	GetOrgDomain(ctx context.Context, orgID, domainID string) (*corev1.Domain, error)
}

// ResourceFilter selects resources for a list.
type ResourceFilter struct {
	// OrgID or SiteID (or both) scope the list.
	OrgID  string
	SiteID *int64
	// Query is text in the name, niceId or fullDomain, any case.
	Query   *string
	Enabled *bool
	// Protocol: http, https, tcp or udp.
	Protocol *string
	// SortByName sorts by name (else by id); Desc reverses.
	SortByName, Desc bool
}

// ResourceNotFound is the answer for a resource id that does not exist or
// lies in an org the caller cannot reach.
func ResourceNotFound(id int64) error {
	return Errorf(CodeNotFound, "Resource with ID %d not found", id)
}

// Resources is the ResourceService.
type Resources struct {
	corev1.UnimplementedResourceServiceServer
	store ResourceStore
	// allowRaw is flags.allow_raw_resources (see Service.Configure).
	allowRaw atomic.Bool
}

// Reach resolves a resource id (access scope OBJECT, object "resource"): a
// resource in an org the caller cannot reach is as missing as one that
// never existed.
func (s *Resources) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	return reachObject(ctx, c, id.Int(), s.store.ResourceOrg, ResourceNotFound)
}

// GetResource reads a resource with the name of its site.
func (s *Resources) GetResource(ctx context.Context, req *corev1.ResourceIdRequest) (*corev1.GetResourceResponse, error) {
	r, err := s.store.GetResource(ctx, req.GetResourceId())
	if err != nil {
		return nil, err
	}
	return s.withSiteName(ctx, r)
}

func (s *Resources) withSiteName(ctx context.Context, r *corev1.Resource) (*corev1.GetResourceResponse, error) {
	out := &corev1.GetResourceResponse{Resource: r}
	if r.SiteId != nil {
		site, err := s.store.GetSite(ctx, r.GetSiteId())
		if err != nil {
			return nil, err
		}
		out.SiteName = &site.Name
	}
	return out, nil
}

// resourceKind is what a create request asks for: HTTP or raw, and the raw
// protocol.
type resourceKind struct {
	http     bool
	protocol string
}

// createFields are the body fields of both create routes.
type createFields interface {
	GetName() string
	GetSubdomain() string
	GetDomainId() string
	GetProxyPort() int32
	GetStickySession() bool
	GetPostAuthPath() string
	GetOrgId() string
}

// kindOf reads http, protocol and mode (newer Pangolin's form) into one
// kind: http wins, then mode, then a proxyPort means raw.
func kindOf(http *bool, protocol, mode *string, proxyPort *int32) (resourceKind, error) {
	if protocol != nil && *protocol != "tcp" && *protocol != "udp" {
		return resourceKind{}, Errorf(CodeInvalid, "Validation error: protocol must be one of 'tcp', 'udp' at \"protocol\"")
	}
	if mode != nil && *mode != "http" && *mode != "tcp" && *mode != "udp" {
		return resourceKind{}, Errorf(CodeInvalid, "Validation error: mode must be one of 'http', 'tcp', 'udp' at \"mode\"")
	}
	k := resourceKind{protocol: "tcp"}
	switch {
	case http != nil:
		k.http = *http
		if protocol != nil {
			k.protocol = *protocol
		}
		if mode != nil && (*mode == "http") != k.http {
			return k, Errorf(CodeInvalid, "Validation error: mode %q contradicts http %t at \"mode\"", *mode, k.http)
		}
	case mode != nil:
		k.http = *mode == "http"
		if !k.http {
			k.protocol = *mode
		}
		if protocol != nil && !k.http && *protocol != k.protocol {
			return k, Errorf(CodeInvalid, "Validation error: mode %q contradicts protocol %q at \"protocol\"", *mode, *protocol)
		}
	case proxyPort != nil:
		if protocol != nil {
			k.protocol = *protocol
		}
	default:
		return k, Errorf(CodeInvalid, "Validation error: http field is required (or mode) at \"http\"")
	}
	if k.http && protocol != nil && *protocol == "udp" {
		return k, Errorf(CodeInvalid, "Validation error: an HTTP resource cannot be udp at \"protocol\"")
	}
	return k, nil
}

// CreateResource creates a resource of an org (newer Pangolin's path).
func (s *Resources) CreateResource(ctx context.Context, req *corev1.CreateResourceRequest) (*corev1.Resource, error) {
	k, err := kindOf(req.Http, req.Protocol, req.Mode, req.ProxyPort)
	if err != nil {
		return nil, err
	}
	return s.create(ctx, req, k, nil, req.Subdomain != nil, req.DomainId != nil, req.ProxyPort != nil, req.EnableProxy, req.PostAuthPath != nil)
}

// CreateSiteResource creates a resource on a site of the org (1.8 path).
func (s *Resources) CreateSiteResource(ctx context.Context, req *corev1.CreateSiteResourceRequest) (*corev1.Resource, error) {
	k, err := kindOf(req.Http, req.Protocol, req.Mode, req.ProxyPort)
	if err != nil {
		return nil, err
	}
	siteID := req.GetSiteId()
	return s.create(ctx, req, k, &siteID, req.Subdomain != nil, req.DomainId != nil, req.ProxyPort != nil, req.EnableProxy, req.PostAuthPath != nil)
}

func (s *Resources) create(ctx context.Context, in createFields, k resourceKind, siteID *int64,
	hasSub, hasDomain, hasPort bool, enableProxy *bool, hasPostAuth bool) (*corev1.Resource, error) {
	if err := checkName("name", in.GetName()); err != nil {
		return nil, err
	}
	if _, err := s.store.GetOrg(ctx, in.GetOrgId()); err != nil {
		return nil, err
	}
	if siteID != nil {
		site, err := s.store.GetSite(ctx, *siteID)
		if err != nil {
			return nil, err
		}
		if site.GetOrgId() != in.GetOrgId() {
			return nil, SiteNotFound(*siteID)
		}
	}
	r := &corev1.Resource{
		OrgId:         in.GetOrgId(),
		SiteId:        siteID,
		ResourceGuid:  newGUID(),
		Name:          in.GetName(),
		Sso:           true,
		Http:          k.http,
		Protocol:      k.protocol,
		Enabled:       true,
		StickySession: in.GetStickySession(),
		EnableProxy:   proto.Bool(true),
		// Newer Pangolin's defaults.
		ProxyProtocolVersion: proto.Int32(1),
		MaintenanceModeType:  proto.String("forced"),
	}
	if k.http {
		if hasPort {
			return nil, Errorf(CodeInvalid, "Validation error: proxyPort applies to raw resources only (http: false) at \"proxyPort\"")
		}
		if enableProxy != nil {
			return nil, Errorf(CodeInvalid, "Validation error: enableProxy applies to raw resources only (http: false) at \"enableProxy\"")
		}
		if !hasDomain {
			return nil, Errorf(CodeInvalid, "Validation error: domainId is required for an HTTP resource at \"domainId\"")
		}
		r.Ssl = true
		if err := s.placeUnder(ctx, r, in.GetDomainId(), in.GetSubdomain()); err != nil {
			return nil, err
		}
		if hasPostAuth {
			if err := checkPath("postAuthPath", in.GetPostAuthPath()); err != nil {
				return nil, err
			}
			r.PostAuthPath = emptyAsUnset(proto.String(in.GetPostAuthPath()))
		}
	} else {
		if !s.allowRaw.Load() {
			return nil, Errorf(CodeInvalid, "Raw resources are not allowed: set flags.allow_raw_resources to true in the server's config")
		}
		for _, f := range []struct {
			set  bool
			name string
		}{{hasSub, "subdomain"}, {hasDomain, "domainId"}, {hasPostAuth, "postAuthPath"}} {
			if f.set {
				return nil, Errorf(CodeInvalid, "Validation error: %s applies to HTTP resources only at %q", f.name, f.name)
			}
		}
		if !hasPort {
			return nil, Errorf(CodeInvalid, "Validation error: proxyPort is required for a raw resource at \"proxyPort\"")
		}
		if err := checkPort("proxyPort", in.GetProxyPort()); err != nil {
			return nil, err
		}
		r.ProxyPort = proto.Int32(in.GetProxyPort())
		if enableProxy != nil {
			r.EnableProxy = enableProxy
		}
	}
	// Generated nice ids can collide; the store's uniqueness check decides.
	for range 100 {
		r.NiceId = newNiceID()
		stored, err := s.store.CreateResource(ctx, r)
		if !isNiceIDConflict(err) {
			return stored, err
		}
	}
	return nil, fmt.Errorf("no free resource nice id in org %s after 100 tries", r.GetOrgId())
}

func isNiceIDConflict(err error) bool {
	return ErrorCode(err) == CodeConflict && strings.HasPrefix(err.Error(), "A resource with niceId")
}

// placeUnder sets r's domain, subdomain and fullDomain: the domain must be
// a verified domain of r's org (another org's is as unknown as a missing
// one); the subdomain follows the domain's type (entities.md §3).
func (s *Resources) placeUnder(ctx context.Context, r *corev1.Resource, domainID, sub string) error {
	d, err := s.store.GetOrgDomain(ctx, r.GetOrgId(), domainID)
	if ErrorCode(err) == CodeNotFound {
		return Errorf(CodeInvalid, "Validation error: domain %s not found in organization %s at \"domainId\"", domainID, r.GetOrgId())
	}
	if err != nil {
		return err
	}
	if !d.GetVerified() {
		return Errorf(CodeInvalid, "Domain %s is not verified", d.GetBaseDomain())
	}
	sub = strings.ToLower(sub)
	if sub != "" {
		if strings.Contains(sub, "*") {
			return Errorf(CodeInvalid, "Validation error: wildcard subdomains are not supported at \"subdomain\"")
		}
		if !subdomainPattern.MatchString(sub) {
			return Errorf(CodeInvalid, "Validation error: subdomain must be dot-separated labels of letters, digits, '-' or '_' (no scheme) at \"subdomain\"")
		}
	}
	full := d.GetBaseDomain()
	if sub != "" && d.GetType() != DomainCNAME {
		full = sub + "." + full
	}
	if len(full) > 253 {
		return Errorf(CodeInvalid, "Validation error: %s is longer than a host name may be at \"subdomain\"", full)
	}
	r.DomainId, r.FullDomain, r.Subdomain = &d.DomainId, &full, nil
	if full != d.GetBaseDomain() {
		r.Subdomain = &sub
	}
	return nil
}

var subdomainPattern = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$`)

func checkPort(field string, p int32) error {
	if p < 1 || p > 65535 {
		return Errorf(CodeInvalid, "Validation error: %s must be a port from 1 to 65535 at %q", field, field)
	}
	return nil
}

// checkPath accepts a URL path: "/" then printable characters without
// spaces, at most 2048.
func checkPath(field, p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 2048 || !strings.HasPrefix(p, "/") || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return Errorf(CodeInvalid, "Validation error: %s must be a path starting with '/', without spaces at %q", field, field)
	}
	return nil
}

// ListResources lists an org's resources.
func (s *Resources) ListResources(ctx context.Context, req *corev1.ListResourcesRequest) (*corev1.ListResourcesResponse, error) {
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	f, err := listFilter(req.Query, req.Enabled, req.Protocol, req.SortBy, req.Order)
	if err != nil {
		return nil, err
	}
	f.OrgID, f.SiteID = req.GetOrgId(), req.SiteId
	list, total, err := s.store.ListResources(ctx, f, req.GetPage())
	return &corev1.ListResourcesResponse{Resources: list, Total: total}, err
}

// ListSiteResources lists the resources of a site.
func (s *Resources) ListSiteResources(ctx context.Context, req *corev1.ListSiteResourcesRequest) (*corev1.ListResourcesResponse, error) {
	site, err := s.store.GetSite(ctx, req.GetSiteId())
	if err != nil {
		return nil, err
	}
	f, err := listFilter(req.Query, req.Enabled, req.Protocol, req.SortBy, req.Order)
	if err != nil {
		return nil, err
	}
	f.OrgID, f.SiteID = site.GetOrgId(), &req.SiteId
	list, total, err := s.store.ListResources(ctx, f, req.GetPage())
	return &corev1.ListResourcesResponse{Resources: list, Total: total}, err
}

func listFilter(query *string, enabled *bool, protocol, sortBy, order *string) (ResourceFilter, error) {
	f := ResourceFilter{Query: query, Enabled: enabled, Protocol: protocol}
	if protocol != nil && !slices.Contains([]string{"http", "https", "tcp", "udp"}, *protocol) {
		return f, Errorf(CodeInvalid, "Validation error: protocol must be one of 'http', 'https', 'tcp', 'udp' at \"protocol\"")
	}
	if sortBy != nil {
		if *sortBy != "name" {
			return f, Errorf(CodeInvalid, "Validation error: sort_by must be 'name' at \"sort_by\"")
		}
		f.SortByName = true
	}
	if order != nil {
		if *order != "asc" && *order != "desc" {
			return f, Errorf(CodeInvalid, "Validation error: order must be 'asc' or 'desc' at \"order\"")
		}
		f.Desc = *order == "desc"
	}
	return f, nil
}

// ListResourceNames lists the ids and names of an org's resources.
func (s *Resources) ListResourceNames(ctx context.Context, req *corev1.OrgResourcesRequest) (*corev1.ResourceNames, error) {
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	names, err := s.store.ResourceNames(ctx, req.GetOrgId())
	return &corev1.ResourceNames{Resources: names}, err
}

// httpOnly and rawOnly name the update fields of one kind of resource.
var (
	httpOnly = []protoreflect.Name{"subdomain", "domain_id", "ssl", "sso", "block_access", "email_whitelist_enabled",
		"apply_rules", "tls_server_name", "set_host_header", "skip_to_idp_id", "headers", "maintenance_mode_enabled",
		"maintenance_mode_type", "maintenance_title", "maintenance_message", "maintenance_estimated_time", "post_auth_path"}
	rawOnly = []protoreflect.Name{"proxy_port", "enable_proxy", "proxy_protocol", "proxy_protocol_version"}
)

// UpdateResource changes the fields given; which fields a resource takes
// depends on its stored http flag.
func (s *Resources) UpdateResource(ctx context.Context, req *corev1.UpdateResourceRequest) (*corev1.Resource, error) {
	if !setsAnyBut(req, "resource_id") {
		return nil, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	if err := checkResourceUpdate(req); err != nil {
		return nil, err
	}
	if req.ProxyPort != nil && !s.allowRaw.Load() {
		return nil, Errorf(CodeInvalid, "Raw resources are not allowed: set flags.allow_raw_resources to true in the server's config")
	}
	// The domain is read before the transaction (a domain rarely changes;
	// the store's unique index decides on fullDomain).
	var domain *corev1.Resource
	return s.store.UpdateResource(ctx, req.GetResourceId(), func(r *corev1.Resource) error {
		wrong := rawOnly
		if !r.GetHttp() {
			wrong = httpOnly
		}
		var bad []string
		m := req.ProtoReflect()
		for _, name := range wrong {
			if fd := m.Descriptor().Fields().ByName(name); m.Has(fd) {
				bad = append(bad, "'"+fd.JSONName()+"'")
			}
		}
		if len(bad) > 0 {
			kind := "an HTTP"
			if !r.GetHttp() {
				kind = "a raw"
			}
			return Errorf(CodeInvalid, "Validation error: Unrecognized key(s) in object: %s (not fields of %s resource)", strings.Join(bad, ", "), kind)
		}
		if req.DomainId != nil || req.Subdomain != nil {
			domainID, sub := r.GetDomainId(), r.GetSubdomain()
			if req.DomainId != nil {
				domainID = req.GetDomainId()
			}
			if req.Subdomain != nil {
				sub = req.GetSubdomain()
			}
			if domainID == "" {
				return Errorf(CodeInvalid, "Validation error: the resource has no domain: send domainId at \"domainId\"")
			}
			if domain == nil {
				domain = &corev1.Resource{OrgId: r.GetOrgId()}
				if err := s.placeUnder(ctx, domain, domainID, sub); err != nil {
					domain = nil
					return err
				}
			}
			r.DomainId, r.Subdomain, r.FullDomain = domain.DomainId, domain.Subdomain, domain.FullDomain
		}
		applyResourceUpdate(r, req)
		return nil
	})
}

// checkResourceUpdate validates the fields given, whatever the resource.
func checkResourceUpdate(req *corev1.UpdateResourceRequest) error {
	if req.Name != nil {
		if err := checkName("name", req.GetName()); err != nil {
			return err
		}
	}
	if req.NiceId != nil {
		if err := checkNiceID(req.GetNiceId()); err != nil {
			return err
		}
	}
	for _, h := range []struct {
		name  string
		value *string
	}{{"tlsServerName", req.TlsServerName}, {"setHostHeader", req.SetHostHeader}} {
		if v := h.value; v != nil && *v != "" && !hostnameOrIPPattern.MatchString(strings.ToLower(*v)) {
			return Errorf(CodeInvalid, "Validation error: %s must be a host name, or \"\" to clear it at %q", h.name, h.name)
		}
	}
	if req.PostAuthPath != nil {
		if err := checkPath("postAuthPath", req.GetPostAuthPath()); err != nil {
			return err
		}
	}
	if req.SkipToIdpId != nil && req.GetSkipToIdpId() < 1 {
		return Errorf(CodeInvalid, "Validation error: skipToIdpId must be a positive id at \"skipToIdpId\"")
	}
	if len(req.Headers) > 100 {
		return Errorf(CodeInvalid, "Validation error: at most 100 headers at \"headers\"")
	}
	for i, h := range req.Headers {
		if err := checkHeader(fmt.Sprintf("headers[%d]", i), h); err != nil {
			return err
		}
	}
	if t := req.MaintenanceModeType; t != nil && *t != "forced" && *t != "automatic" {
		return Errorf(CodeInvalid, "Validation error: maintenanceModeType must be one of 'forced', 'automatic' at \"maintenanceModeType\"")
	}
	for _, f := range []struct {
		name  string
		value *string
		max   int
	}{{"maintenanceTitle", req.MaintenanceTitle, 255}, {"maintenanceMessage", req.MaintenanceMessage, 2000},
		{"maintenanceEstimatedTime", req.MaintenanceEstimatedTime, 100}} {
		if f.value != nil && utf8.RuneCountInString(*f.value) > f.max {
			return Errorf(CodeInvalid, "Validation error: %s must be at most %d characters at %q", f.name, f.max, f.name)
		}
	}
	if req.ProxyPort != nil {
		if err := checkPort("proxyPort", req.GetProxyPort()); err != nil {
			return err
		}
	}
	if req.ProxyProtocolVersion != nil && req.GetProxyProtocolVersion() < 1 {
		return Errorf(CodeInvalid, "Validation error: proxyProtocolVersion must be at least 1 at \"proxyProtocolVersion\"")
	}
	return nil
}

// applyResourceUpdate copies the fields req carries onto r; "" clears the
// nullable text fields.
func applyResourceUpdate(r *corev1.Resource, req *corev1.UpdateResourceRequest) {
	if req.Name != nil {
		r.Name = req.GetName()
	}
	if req.NiceId != nil {
		r.NiceId = req.GetNiceId()
	}
	for _, b := range []struct {
		in  *bool
		out *bool
	}{{req.Ssl, &r.Ssl}, {req.Sso, &r.Sso}, {req.BlockAccess, &r.BlockAccess}, {req.EmailWhitelistEnabled, &r.EmailWhitelistEnabled},
		{req.ApplyRules, &r.ApplyRules}, {req.Enabled, &r.Enabled}, {req.StickySession, &r.StickySession},
		{req.MaintenanceModeEnabled, &r.MaintenanceModeEnabled}, {req.ProxyProtocol, &r.ProxyProtocol}} {
		if b.in != nil {
			*b.out = *b.in
		}
	}
	for _, t := range []struct {
		in  *string
		out **string
	}{{req.TlsServerName, &r.TlsServerName}, {req.SetHostHeader, &r.SetHostHeader}, {req.PostAuthPath, &r.PostAuthPath},
		{req.MaintenanceModeType, &r.MaintenanceModeType}, {req.MaintenanceTitle, &r.MaintenanceTitle},
		{req.MaintenanceMessage, &r.MaintenanceMessage}, {req.MaintenanceEstimatedTime, &r.MaintenanceEstimatedTime}} {
		if t.in != nil {
			*t.out = emptyAsUnset(proto.String(*t.in))
		}
	}
	if req.SkipToIdpId != nil {
		r.SkipToIdpId = req.SkipToIdpId
	}
	if len(req.Headers) > 0 {
		r.Headers = req.Headers
	}
	if req.ProxyPort != nil {
		r.ProxyPort = req.ProxyPort
	}
	if req.EnableProxy != nil {
		r.EnableProxy = req.EnableProxy
	}
	if req.ProxyProtocolVersion != nil {
		r.ProxyProtocolVersion = req.ProxyProtocolVersion
	}
}

var (
	hostnameOrIPPattern = regexp.MustCompile(`^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*$`)
	headerNamePattern   = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
)

// checkHeader accepts an HTTP header: a token name, a value without
// control characters.
func checkHeader(at string, h *corev1.Header) error {
	if !headerNamePattern.MatchString(h.GetName()) {
		return Errorf(CodeInvalid, "Validation error: a header name is letters, digits and !#$%%&'*+.^_`|~- at %q", at+".name")
	}
	if len(h.GetValue()) > 8192 || strings.ContainsFunc(h.GetValue(), func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return Errorf(CodeInvalid, "Validation error: a header value has no control characters (at most 8192 bytes) at %q", at+".value")
	}
	return nil
}

// DeleteResource removes a resource and everything under it.
func (s *Resources) DeleteResource(ctx context.Context, req *corev1.ResourceIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteResource(ctx, req.GetResourceId())
}

// TransferResource moves a resource to another site of its org.
func (s *Resources) TransferResource(ctx context.Context, req *corev1.TransferResourceRequest) (*corev1.Resource, error) {
	r, err := s.store.GetResource(ctx, req.GetResourceId())
	if err != nil {
		return nil, err
	}
	if req.GetSiteId() < 1 {
		return nil, Errorf(CodeInvalid, "Validation error: siteId must be a positive id at \"siteId\"")
	}
	site, err := s.store.GetSite(ctx, req.GetSiteId())
	if ErrorCode(err) == CodeNotFound || err == nil && site.GetOrgId() != r.GetOrgId() {
		return nil, SiteNotFound(req.GetSiteId())
	}
	if err != nil {
		return nil, err
	}
	if r.GetSiteId() == req.GetSiteId() {
		return nil, Errorf(CodeInvalid, "Resource is already on site %d", req.GetSiteId())
	}
	return s.store.TransferResource(ctx, req.GetResourceId(), req.GetSiteId())
}

// newGUID returns a random (version 4) UUID, a resource's resourceGuid.
func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
