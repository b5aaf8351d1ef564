package core

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// SiteResourceStore is what the private resource service needs of
// storage. The rules on what a site resource names (its site, the roles,
// users and clients granted it) are checked in the transaction that
// writes, with the answers of resource_access.go.
type SiteResourceStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	GetSite(ctx context.Context, id int64) (*corev1.Site, error)
	// CreateSiteResource stores r with its grants (and the org's Admin
	// role) and returns it as stored. A site not of the org →
	// SiteNotFound; a niceId another resource or site resource of the org
	// has, or an alias another site resource of the org has → Conflict.
	// Its aliasAddress is what alias answers, asked in the transaction.
	CreateSiteResource(ctx context.Context, r *corev1.SiteResource, g SiteResourceGrants, alias AliasAddress) (*corev1.SiteResource, error)
	// GetSiteResource: missing → SiteResourceNotFound.
	GetSiteResource(ctx context.Context, id int64) (*corev1.SiteResource, error)
	// SiteResourceOrg returns the org a site resource lies in; missing →
	// SiteResourceNotFound.
	SiteResourceOrg(ctx context.Context, id int64) (string, error)
	ListSiteResources(ctx context.Context, f SiteResourceFilter, page *corev1.Page) ([]*corev1.SiteResourceListItem, int32, error)
	// UpdateSiteResource reads the site resource (locked), lets change
	// modify it and stores the result with the rules of create; its id and
	// org never change.
	UpdateSiteResource(ctx context.Context, id int64, change func(*corev1.SiteResource) error, alias AliasAddress) (*corev1.SiteResource, error)
	DeleteSiteResource(ctx context.Context, id int64) error

	SiteResourceRoles(ctx context.Context, id int64) ([]*corev1.ResourceRole, error)
	SiteResourceUsers(ctx context.Context, id int64) ([]*corev1.ResourceUser, error)
	SiteResourceClients(ctx context.Context, id int64) ([]*corev1.SiteResourceClient, error)
	// The grant changes of ResourceAccessStore, for site resources; and
	// for clients: a client not of the org → ClientsNotInOrg, a user's
	// device → UserClientRefused.
	SetSiteResourceRoles(ctx context.Context, id int64, roleIDs []int64) error
	AddSiteResourceRole(ctx context.Context, id, roleID int64) error
	RemoveSiteResourceRole(ctx context.Context, id, roleID int64) error
	SetSiteResourceUsers(ctx context.Context, id int64, userIDs []string) error
	AddSiteResourceUser(ctx context.Context, id int64, userID string) error
	RemoveSiteResourceUser(ctx context.Context, id int64, userID string) error
	SetSiteResourceClients(ctx context.Context, id int64, clientIDs []int64) error
	AddSiteResourceClient(ctx context.Context, id, clientID int64) error
	RemoveSiteResourceClient(ctx context.Context, id, clientID int64) error
	// AddClientSiteResources grants the client the site resources (all of
	// its org, else SiteResourcesNotFound) it has not been granted yet, and
	// returns those; none left → Conflict.
	AddClientSiteResources(ctx context.Context, clientID int64, ids []int64) ([]int64, error)
}

// SiteResourceGrants are the roles, users and clients a new site resource
// is granted besides the org's Admin role.
type SiteResourceGrants struct {
	RoleIDs   []int64
	UserIDs   []string
	ClientIDs []int64
}

// AliasAddress chooses a site resource's alias address, given the alias
// addresses the org's other site resources use; nil for none.
type AliasAddress func(r *corev1.SiteResource, used []string) (*string, error)

// SiteResourceFilter selects site resources for a list.
type SiteResourceFilter struct {
	OrgID  string
	SiteID *int64
	// Query is text in the name, niceId, destination or alias, any case.
	Query            *string
	Mode             *string
	SortByName, Desc bool
}

// SiteResourceNotFound is the answer for a site resource id that does not
// exist or lies in an org the caller cannot reach.
func SiteResourceNotFound(int64) error { return Errorf(CodeNotFound, "Site resource not found") }

// SiteResourcesNotFound answers a list of site resource ids one of which
// is missing or of another org than the client's.
func SiteResourcesNotFound() error {
	return Errorf(CodeNotFound, "One or more site resources not found")
}

// Site resource modes.
const (
	ModeHost = "host"
	ModeCIDR = "cidr"
)

// PrivateResources is the PrivateResourceService.
type PrivateResources struct {
	corev1.UnimplementedPrivateResourceServiceServer
	store SiteResourceStore
}

// Reach resolves a site resource id (access scope OBJECT, object
// "site_resource"): one in an org the caller cannot reach is as missing as
// one that never existed.
func (s *PrivateResources) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	return reachObject(ctx, c, id.Int(), s.store.SiteResourceOrg, SiteResourceNotFound)
}

// CreatePrivateResource validates and stores a site resource with its
// grants.
func (s *PrivateResources) CreatePrivateResource(ctx context.Context, in *corev1.CreatePrivateResourceRequest) (*corev1.SiteResource, error) {
	if in.GetSiteId() <= 0 {
		return nil, Errorf(CodeInvalid, "Validation error: siteId must be a positive integer at \"siteId\"")
	}
	r := &corev1.SiteResource{
		OrgId: in.GetOrgId(), SiteId: in.GetSiteId(), Name: in.GetName(), Mode: in.GetMode(), Destination: &in.Destination,
		Enabled: in.Enabled == nil || in.GetEnabled(), Alias: in.Alias, TcpPortRangeString: "*", UdpPortRangeString: "*",
		DisableIcmp: in.GetDisableIcmp(),
	}
	if in.TcpPortRangeString != nil {
		r.TcpPortRangeString = in.GetTcpPortRangeString()
	}
	if in.UdpPortRangeString != nil {
		r.UdpPortRangeString = in.GetUdpPortRangeString()
	}
	if in.NiceId != nil {
		if err := checkNiceID(in.GetNiceId()); err != nil {
			return nil, err
		}
	}
	roleIDs, err := positiveIDs("roleIds", in.GetRoleIds())
	if err != nil {
		return nil, err
	}
	clientIDs, err := positiveIDs("clientIds", in.GetClientIds())
	if err != nil {
		return nil, err
	}
	org, err := s.store.GetOrg(ctx, in.GetOrgId())
	if err != nil {
		return nil, err
	}
	if err := checkSiteResource(org, r); err != nil {
		return nil, err
	}
	g := SiteResourceGrants{RoleIDs: roleIDs, UserIDs: distinct(in.GetUserIds()), ClientIDs: clientIDs}
	alias := aliasAddress(org)
	if in.NiceId != nil {
		r.NiceId = in.GetNiceId()
		return s.store.CreateSiteResource(ctx, r, g, alias)
	}
	// Generated nice ids can collide; the store's uniqueness check decides.
	for range 100 {
		r.NiceId = newNiceID()
		stored, err := s.store.CreateSiteResource(ctx, r, g, alias)
		if ErrorCode(err) != CodeConflict || !strings.Contains(err.Error(), "niceId") {
			return stored, err
		}
	}
	return nil, fmt.Errorf("no free nice id in org %s after 100 tries", r.OrgId)
}

var (
	// aliasPattern is a DNS name whose labels may hold the wildcards * and ?.
	aliasPattern = regexp.MustCompile(`^([a-zA-Z0-9*?]([a-zA-Z0-9*?-]{0,61}[a-zA-Z0-9*?])?\.)+[a-zA-Z0-9*?]([a-zA-Z0-9*?-]{0,61}[a-zA-Z0-9*?])?$`)
	// destHostPattern is a host name: letters, digits and hyphens, in dot-separated labels.
	destHostPattern = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
)

// checkSiteResource applies the rules of a site resource's fields to r,
// as created or as updated.
func checkSiteResource(org *corev1.Org, r *corev1.SiteResource) error {
	if err := checkName("name", r.GetName()); err != nil {
		return err
	}
	dest := r.GetDestination()
	if r.Destination == nil || dest == "" {
		return Errorf(CodeInvalid, "Validation error: destination is required at \"destination\"")
	}
	if r.Alias != nil && (len(r.GetAlias()) > 253 || !aliasPattern.MatchString(r.GetAlias())) {
		return Errorf(CodeInvalid, "Validation error: alias must be a DNS name (labels may hold * and ?) at \"alias\"")
	}
	var inside netip.Prefix
	switch r.GetMode() {
	case ModeHost:
		if ip, err := netip.ParseAddr(dest); err == nil {
			if !ip.Is4() {
				return Errorf(CodeInvalid, "Validation error: destination must be an IPv4 address or a host name at \"destination\"")
			}
			inside = netip.PrefixFrom(ip, 32)
		} else if len(dest) > 253 || !destHostPattern.MatchString(dest) {
			return Errorf(CodeInvalid, "Validation error: destination must be an IPv4 address or a host name at \"destination\"")
		} else if r.Alias == nil {
			return Errorf(CodeInvalid, "Validation error: a host name destination needs an alias at \"alias\"")
		}
	case ModeCIDR:
		p, ok := parseIPv4Prefix(dest)
		if !ok {
			return Errorf(CodeInvalid, "Validation error: destination must be an IPv4 CIDR at \"destination\"")
		}
		inside = p
	default:
		return Errorf(CodeInvalid, "Validation error: mode must be one of 'host', 'cidr' at \"mode\"")
	}
	if inside.IsValid() {
		for _, s := range []*string{org.Subnet, org.UtilitySubnet} {
			if p, ok := parseIPv4Prefix(ptrValue(s)); ok && p.Overlaps(inside) {
				return Errorf(CodeInvalid, "Validation error: destination %s overlaps the organization's network %s at \"destination\"", dest, p)
			}
		}
	}
	for field, v := range map[string]string{"tcpPortRangeString": r.GetTcpPortRangeString(), "udpPortRangeString": r.GetUdpPortRangeString()} {
		if !validPortRanges(v) {
			return Errorf(CodeInvalid, "Validation error: %s must be \"*\", \"\" or a comma list of ports and ranges (a-b) of 1-65535 at %q", field, field)
		}
	}
	return nil
}

func ptrValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// validPortRanges accepts "*", "" or a comma list of ports and a-b ranges
// (a ≤ b) of 1-65535.
func validPortRanges(s string) bool {
	if s == "*" || s == "" {
		return true
	}
	port := func(p string) (int, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		return n, err == nil && n >= 1 && n <= 65535 && !strings.HasPrefix(strings.TrimSpace(p), "+")
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, ok := port(lo)
		if !ok {
			return false
		}
		if isRange {
			b, ok := port(hi)
			if !ok || a > b {
				return false
			}
		}
	}
	return true
}

// aliasAddress is how a site resource's alias address is chosen in org: a
// host resource with an alias keeps its address, or gets the first free
// address of the org's utility subnet past its first /29 (kept for the
// server's own use, as in Pangolin); others have none. An org without a
// utility subnet gives none.
func aliasAddress(org *corev1.Org) AliasAddress {
	return func(r *corev1.SiteResource, used []string) (*string, error) {
		utility, ok := parseIPv4Prefix(ptrValue(org.UtilitySubnet))
		if r.GetMode() != ModeHost || r.Alias == nil || !ok {
			return nil, nil
		}
		if r.AliasAddress != nil {
			return r.AliasAddress, nil
		}
		// The first /29 taken: its eight addresses are never handed out.
		reserved := []string{}
		for a, i := utility.Masked().Addr(), 0; i < 8 && utility.Contains(a); a, i = a.Next(), i+1 {
			reserved = append(reserved, a.String())
		}
		ip, ok := firstFreeAddress(utility, append(reserved, used...))
		if !ok {
			return nil, Errorf(CodeConflict, "No free alias address in the utility subnet of organization %s", org.GetOrgId())
		}
		return &ip, nil
	}
}

// ListPrivateResources lists the site resources of an org.
func (s *PrivateResources) ListPrivateResources(ctx context.Context, req *corev1.ListPrivateResourcesRequest) (*corev1.ListPrivateResourcesResponse, error) {
	f := SiteResourceFilter{OrgID: req.GetOrgId(), SiteID: req.SiteId, Query: req.Query, Mode: req.Mode}
	if req.Mode != nil && req.GetMode() != ModeHost && req.GetMode() != ModeCIDR {
		return nil, Errorf(CodeInvalid, "Validation error: mode must be one of 'host', 'cidr' at \"mode\"")
	}
	return s.list(ctx, f, req.SortBy, req.Order, req.GetPage())
}

// ListSitePrivateResources lists the site resources of a site of the org.
func (s *PrivateResources) ListSitePrivateResources(ctx context.Context, req *corev1.ListSitePrivateResourcesRequest) (*corev1.ListPrivateResourcesResponse, error) {
	site, err := s.store.GetSite(ctx, req.GetSiteId())
	if err != nil {
		return nil, err
	}
	if site.GetOrgId() != req.GetOrgId() {
		return nil, SiteNotFound(req.GetSiteId())
	}
	siteID := req.GetSiteId()
	return s.list(ctx, SiteResourceFilter{OrgID: req.GetOrgId(), SiteID: &siteID}, req.SortBy, req.Order, req.GetPage())
}

func (s *PrivateResources) list(ctx context.Context, f SiteResourceFilter, sortBy, order *string, page *corev1.Page) (*corev1.ListPrivateResourcesResponse, error) {
	if sortBy != nil && *sortBy != "name" {
		return nil, Errorf(CodeInvalid, "Validation error: sort_by must be 'name' at \"sort_by\"")
	}
	f.SortByName = sortBy != nil
	var err error
	if f.Desc, err = descending(order); err != nil {
		return nil, err
	}
	list, total, err := s.store.ListSiteResources(ctx, f, page)
	if err != nil {
		return nil, err
	}
	if total == 0 {
		// Tell a missing org (404) from one without site resources.
		if _, err := s.store.GetOrg(ctx, f.OrgID); err != nil {
			return nil, err
		}
	}
	return &corev1.ListPrivateResourcesResponse{SiteResources: list, Total: total}, nil
}

// GetPrivateResource reads a site resource.
func (s *PrivateResources) GetPrivateResource(ctx context.Context, req *corev1.SiteResourceIdRequest) (*corev1.SiteResource, error) {
	return s.store.GetSiteResource(ctx, req.GetSiteResourceId())
}

// UpdatePrivateResource changes the fields given and answers the stored
// site resource.
func (s *PrivateResources) UpdatePrivateResource(ctx context.Context, req *corev1.UpdatePrivateResourceRequest) (*corev1.SiteResource, error) {
	if !setsAnyBut(req, "site_resource_id") {
		return nil, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	if req.NiceId != nil {
		if err := checkNiceID(req.GetNiceId()); err != nil {
			return nil, err
		}
	}
	if req.SiteId != nil && req.GetSiteId() <= 0 {
		return nil, Errorf(CodeInvalid, "Validation error: siteId must be a positive integer at \"siteId\"")
	}
	orgID, err := s.store.SiteResourceOrg(ctx, req.GetSiteResourceId())
	if err != nil {
		return nil, err
	}
	org, err := s.store.GetOrg(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateSiteResource(ctx, req.GetSiteResourceId(), func(r *corev1.SiteResource) error {
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&r.Name, req.Name)
		set(&r.NiceId, req.NiceId)
		set(&r.Mode, req.Mode)
		set(&r.TcpPortRangeString, req.TcpPortRangeString)
		set(&r.UdpPortRangeString, req.UdpPortRangeString)
		if req.Destination != nil {
			r.Destination = req.Destination
		}
		if req.Alias != nil {
			r.Alias, r.AliasAddress = req.Alias, nil
			if req.GetAlias() == "" {
				r.Alias = nil
			}
		}
		if req.SiteId != nil {
			r.SiteId = req.GetSiteId()
		}
		if req.Enabled != nil {
			r.Enabled = req.GetEnabled()
		}
		if req.DisableIcmp != nil {
			r.DisableIcmp = req.GetDisableIcmp()
		}
		return checkSiteResource(org, r)
	}, aliasAddress(org))
}

// DeletePrivateResource removes a site resource and its grants.
func (s *PrivateResources) DeletePrivateResource(ctx context.Context, req *corev1.SiteResourceIdRequest) (*corev1.DeletedPrivateResource, error) {
	if err := s.store.DeleteSiteResource(ctx, req.GetSiteResourceId()); err != nil {
		return nil, err
	}
	return &corev1.DeletedPrivateResource{Message: "Site resource deleted successfully"}, nil
}

// ListPrivateResourceRoles lists the roles granted a site resource.
func (s *PrivateResources) ListPrivateResourceRoles(ctx context.Context, req *corev1.SiteResourceIdRequest) (*corev1.ResourceRoles, error) {
	roles, err := s.store.SiteResourceRoles(ctx, req.GetSiteResourceId())
	return &corev1.ResourceRoles{Roles: roles}, err
}

// ListPrivateResourceUsers lists the users granted a site resource.
func (s *PrivateResources) ListPrivateResourceUsers(ctx context.Context, req *corev1.SiteResourceIdRequest) (*corev1.ResourceUsers, error) {
	users, err := s.store.SiteResourceUsers(ctx, req.GetSiteResourceId())
	return &corev1.ResourceUsers{Users: users}, err
}

// ListPrivateResourceClients lists the clients granted a site resource.
func (s *PrivateResources) ListPrivateResourceClients(ctx context.Context, req *corev1.SiteResourceIdRequest) (*corev1.SiteResourceClients, error) {
	clients, err := s.store.SiteResourceClients(ctx, req.GetSiteResourceId())
	return &corev1.SiteResourceClients{Clients: clients}, err
}

// SetPrivateResourceRoles replaces the roles granted a site resource (its
// Admin role stays).
func (s *PrivateResources) SetPrivateResourceRoles(ctx context.Context, req *corev1.SetPrivateResourceRolesRequest) (*corev1.Empty, error) {
	ids, err := positiveIDs("roleIds", req.GetRoleIds())
	if err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.SetSiteResourceRoles(ctx, req.GetSiteResourceId(), ids)
}

// SetPrivateResourceUsers replaces the users granted a site resource.
func (s *PrivateResources) SetPrivateResourceUsers(ctx context.Context, req *corev1.SetPrivateResourceUsersRequest) (*corev1.Empty, error) {
	return &corev1.Empty{}, s.store.SetSiteResourceUsers(ctx, req.GetSiteResourceId(), distinct(req.GetUserIds()))
}

// SetPrivateResourceClients replaces the clients granted a site resource.
func (s *PrivateResources) SetPrivateResourceClients(ctx context.Context, req *corev1.SetPrivateResourceClientsRequest) (*corev1.Empty, error) {
	ids, err := positiveIDs("clientIds", req.GetClientIds())
	if err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.SetSiteResourceClients(ctx, req.GetSiteResourceId(), ids)
}

// AddPrivateResourceRole grants a role of the org a site resource.
func (s *PrivateResources) AddPrivateResourceRole(ctx context.Context, req *corev1.PrivateResourceRoleRequest) (*corev1.Empty, error) {
	if err := checkRoleID("roleId", req.GetRoleId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.AddSiteResourceRole(ctx, req.GetSiteResourceId(), req.GetRoleId())
}

// RemovePrivateResourceRole takes a site resource from a role.
func (s *PrivateResources) RemovePrivateResourceRole(ctx context.Context, req *corev1.PrivateResourceRoleRequest) (*corev1.Empty, error) {
	if err := checkRoleID("roleId", req.GetRoleId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.RemoveSiteResourceRole(ctx, req.GetSiteResourceId(), req.GetRoleId())
}

// AddPrivateResourceUser grants a member of the org a site resource.
func (s *PrivateResources) AddPrivateResourceUser(ctx context.Context, req *corev1.PrivateResourceUserRequest) (*corev1.Empty, error) {
	return &corev1.Empty{}, s.store.AddSiteResourceUser(ctx, req.GetSiteResourceId(), req.GetUserId())
}

// RemovePrivateResourceUser takes a site resource from a user.
func (s *PrivateResources) RemovePrivateResourceUser(ctx context.Context, req *corev1.PrivateResourceUserRequest) (*corev1.Empty, error) {
	return &corev1.Empty{}, s.store.RemoveSiteResourceUser(ctx, req.GetSiteResourceId(), req.GetUserId())
}

// AddPrivateResourceClient grants a machine client of the org a site
// resource.
func (s *PrivateResources) AddPrivateResourceClient(ctx context.Context, req *corev1.PrivateResourceClientRequest) (*corev1.Empty, error) {
	if err := checkRoleID("clientId", req.GetClientId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.AddSiteResourceClient(ctx, req.GetSiteResourceId(), req.GetClientId())
}

// RemovePrivateResourceClient takes a site resource from a client.
func (s *PrivateResources) RemovePrivateResourceClient(ctx context.Context, req *corev1.PrivateResourceClientRequest) (*corev1.Empty, error) {
	if err := checkRoleID("clientId", req.GetClientId()); err != nil {
		return nil, err
	}
	return &corev1.Empty{}, s.store.RemoveSiteResourceClient(ctx, req.GetSiteResourceId(), req.GetClientId())
}

// AddClientPrivateResources grants a machine client site resources of its
// org. Unlike Pangolin, which checks no scope here (and none at all for
// root keys), the client is resolved by the access rule and every site
// resource must lie in the client's org: a key can only link what it
// reaches, and a client never reaches another org's resources.
func (s *PrivateResources) AddClientPrivateResources(ctx context.Context, req *corev1.ClientPrivateResourcesRequest) (*corev1.AddedClientPrivateResources, error) {
	if len(req.GetSiteResourceIds()) == 0 {
		return nil, Errorf(CodeInvalid, "At least one siteResourceId is required at \"siteResourceIds\"")
	}
	ids, err := positiveIDs("siteResourceIds", req.GetSiteResourceIds())
	if err != nil {
		return nil, err
	}
	added, err := s.store.AddClientSiteResources(ctx, req.GetClientId(), ids)
	if err != nil {
		return nil, err
	}
	return &corev1.AddedClientPrivateResources{
		AddedCount: int32(len(added)), SkippedCount: int32(len(ids) - len(added)), SiteResourceIds: added,
	}, nil
}
