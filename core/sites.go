package core

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// SiteStore is what the site service needs of storage.
type SiteStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	// CreateSite stores site in its org and, when newt is not nil, the newt
	// credential for it, and returns the site as stored. A taken niceId or
	// address → Conflict.
	CreateSite(ctx context.Context, site *corev1.Site, newt *Newt) (*corev1.Site, error)
	// GetSite: missing → SiteNotFound.
	GetSite(ctx context.Context, id int64) (*corev1.Site, error)
	// SiteOrg returns the org a site lies in; missing → SiteNotFound.
	SiteOrg(ctx context.Context, id int64) (string, error)
	GetSiteByNiceID(ctx context.Context, orgID, niceID string) (*corev1.Site, error)
	ListSites(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.SiteListItem, int32, error)
	// UpdateSite sets the fields the request carries and returns the site
	// as stored.
	UpdateSite(ctx context.Context, req *corev1.UpdateSiteRequest) (*corev1.Site, error)
	DeleteSite(ctx context.Context, id int64) error
	// ResetBandwidth zeroes the bandwidth counters of the org's sites and
	// says how many sites it changed.
	ResetBandwidth(ctx context.Context, orgID string) (int64, error)
	// OrgAddresses returns the overlay addresses the org's sites and
	// clients use.
	OrgAddresses(ctx context.Context, orgID string) ([]string, error)
	// FirstExitNode returns the server's first exit node as site defaults
	// (its id, address, public key, name, listen port and endpoint), nil
	// when there is none.
	FirstExitNode(ctx context.Context) (*corev1.SiteDefaults, error)
	ExitNodeExists(ctx context.Context, id int64) (bool, error)
	// ExitNodeSubnets returns the tunnel subnets of the sites on an exit node.
	ExitNodeSubnets(ctx context.Context, exitNodeID int64) ([]string, error)
}

// Site types.
const (
	SiteNewt      = "newt"
	SiteWireGuard = "wireguard"
	SiteLocal     = "local"
)

// siteBlockBits is the size of the tunnel subnet a site gets on an exit
// node (Pangolin's gerbil.site_block_size default).
const siteBlockBits = 30

// Newt is a newt agent's credential; the secret is stored only as a hash.
type Newt struct {
	ID         string
	SecretHash string
}

// SiteNotFound is the answer for a site id that does not exist or lies in
// an org the caller cannot reach.
func SiteNotFound(id int64) error {
	return Errorf(CodeNotFound, "Site with ID %d not found", id)
}

// Sites is the SiteService.
type Sites struct {
	corev1.UnimplementedSiteServiceServer
	store  SiteStore
	hasher *Hasher
}

// Reach resolves a site id (access scope OBJECT, object "site"): a site in
// an org the caller cannot reach is as missing as one that never existed.
func (s *Sites) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	return reachObject(ctx, c, id.Int(), s.store.SiteOrg, SiteNotFound)
}

// CreateSite validates and stores a site; a newt site answers with its
// agent's credentials, the only time the secret is shown.
func (s *Sites) CreateSite(ctx context.Context, in *corev1.CreateSiteRequest) (*corev1.CreatedSite, error) {
	if err := checkName("name", in.GetName()); err != nil {
		return nil, err
	}
	if !slices.Contains([]string{SiteNewt, SiteWireGuard, SiteLocal}, in.GetType()) {
		return nil, Errorf(CodeInvalid, "Validation error: type must be one of 'newt', 'wireguard', 'local'")
	}
	org, err := s.store.GetOrg(ctx, in.GetOrgId())
	if err != nil {
		return nil, err
	}
	site := &corev1.Site{
		OrgId:               in.GetOrgId(),
		Name:                in.GetName(),
		Type:                in.GetType(),
		PubKey:              in.PubKey,
		DockerSocketEnabled: in.GetType() == SiteNewt,
	}
	if in.DockerSocketEnabled != nil {
		site.DockerSocketEnabled = in.GetDockerSocketEnabled()
	}
	if in.GetType() == SiteWireGuard && (in.PubKey == nil || in.ExitNodeId == nil) {
		return nil, Errorf(CodeInvalid, "WireGuard sites need pubKey and exitNodeId")
	}
	if in.ExitNodeId != nil {
		if in.Subnet == nil {
			return nil, Errorf(CodeInvalid, "subnet is required when exitNodeId is given")
		}
		if _, ok := parseIPv4Prefix(in.GetSubnet()); !ok {
			return nil, Errorf(CodeInvalid, "Invalid subnet format. Please provide a valid CIDR notation.")
		}
		found, err := s.store.ExitNodeExists(ctx, in.GetExitNodeId())
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, Errorf(CodeInvalid, "Exit node %d does not exist", in.GetExitNodeId())
		}
		site.ExitNodeId, site.Subnet = in.ExitNodeId, in.Subnet
	} else {
		none := "0.0.0.0/0"
		site.Subnet = &none
	}
	if in.Address != nil {
		addr, err := orgAddress(org, in.GetAddress())
		if err != nil {
			return nil, err
		}
		site.Address = &addr
	}

	created := &corev1.CreatedSite{}
	var newt *Newt
	if in.GetType() == SiteNewt {
		id, secret := RandomID(15), RandomID(48)
		if in.NewtId != nil {
			id = in.GetNewtId()
			if err := checkNiceID(id); err != nil {
				return nil, Errorf(CodeInvalid, "Validation error: newtId must be 1-255 letters, digits or hyphens")
			}
		}
		if in.Secret != nil {
			secret = in.GetSecret()
			if len(secret) < 8 || len(secret) > 128 {
				return nil, Errorf(CodeInvalid, "Validation error: secret must be 8-128 characters")
			}
		}
		newt = &Newt{ID: id}
		created.NewtId, created.Secret = &id, &secret
	}

	if in.NiceId != nil {
		if err := checkNiceID(in.GetNiceId()); err != nil {
			return nil, err
		}
	}
	// Hashed last, once the request is known to be valid: a refused
	// request costs no hashing slot.
	if newt != nil {
		if newt.SecretHash, err = s.hasher.Hash(ctx, created.GetSecret()); err != nil {
			return nil, err
		}
	}

	if in.NiceId != nil {
		site.NiceId = in.GetNiceId()
		created.Site, err = s.store.CreateSite(ctx, site, newt)
		return created, err
	}
	// Generated nice ids can collide; the store's uniqueness check decides.
	for range 100 {
		site.NiceId = newNiceID()
		created.Site, err = s.store.CreateSite(ctx, site, newt)
		if ErrorCode(err) != CodeConflict || !s.niceIDTaken(ctx, site) {
			return created, err
		}
	}
	return nil, fmt.Errorf("no free nice id in org %s after 100 tries", site.OrgId)
}

// niceIDTaken tells a nice-id collision from another conflict (address).
func (s *Sites) niceIDTaken(ctx context.Context, site *corev1.Site) bool {
	_, err := s.store.GetSiteByNiceID(ctx, site.GetOrgId(), site.GetNiceId())
	return err == nil
}

// orgAddress checks an overlay address against the org subnet and returns
// it as stored: "<ip>/<org prefix length>".
func orgAddress(org *corev1.Org, address string) (string, error) {
	if org.Subnet == nil {
		return "", Errorf(CodeInvalid, "Organization %s has no subnet", org.GetOrgId())
	}
	subnet, ok := parseIPv4Prefix(org.GetSubnet())
	if !ok {
		return "", Errorf(CodeInvalid, "Organization %s has an invalid subnet", org.GetOrgId())
	}
	ip, err := netip.ParseAddr(address)
	if err != nil {
		return "", Errorf(CodeInvalid, "Invalid address format: %q is not an IP address", address)
	}
	if !subnet.Contains(ip) {
		return "", Errorf(CodeInvalid, "IP %s is not in the organization subnet %s", address, subnet)
	}
	return fmt.Sprintf("%s/%d", ip, subnet.Bits()), nil
}

// ListSites lists the sites of an org.
func (s *Sites) ListSites(ctx context.Context, req *corev1.ListSitesRequest) (*corev1.ListSitesResponse, error) {
	sites, total, err := s.store.ListSites(ctx, req.GetOrgId(), req.GetPage())
	if err != nil {
		return nil, err
	}
	// An org with sites exists; only an empty answer needs the org read
	// to tell a missing org (404) from one without sites.
	if total == 0 {
		if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
			return nil, err
		}
	}
	return &corev1.ListSitesResponse{Sites: sites, Total: total}, nil
}

// GetSite reads a site by id.
func (s *Sites) GetSite(ctx context.Context, req *corev1.SiteIdRequest) (*corev1.Site, error) {
	return s.store.GetSite(ctx, req.GetSiteId())
}

// GetSiteByNiceId reads a site by its per-org nice id.
func (s *Sites) GetSiteByNiceId(ctx context.Context, req *corev1.SiteNiceIdRequest) (*corev1.Site, error) {
	return s.store.GetSiteByNiceID(ctx, req.GetOrgId(), req.GetNiceId())
}

// UpdateSite changes the fields given and answers the stored state.
func (s *Sites) UpdateSite(ctx context.Context, req *corev1.UpdateSiteRequest) (*corev1.Site, error) {
	if !setsAnyBut(req, "site_id") {
		return nil, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	if req.Name != nil {
		if err := checkName("name", req.GetName()); err != nil {
			return nil, err
		}
	}
	if req.NiceId != nil {
		if err := checkNiceID(req.GetNiceId()); err != nil {
			return nil, err
		}
	}
	if req.GetRemoteSubnets() != "" {
		for _, cidr := range splitList(req.GetRemoteSubnets()) {
			if _, err := netip.ParsePrefix(cidr); err != nil {
				return nil, Errorf(CodeInvalid, "Invalid CIDR in remoteSubnets: %q", cidr)
			}
		}
	}
	return s.store.UpdateSite(ctx, req)
}

// DeleteSite removes a site and what hangs off it (its newt credential).
func (s *Sites) DeleteSite(ctx context.Context, req *corev1.SiteIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteSite(ctx, req.GetSiteId())
}

// ResetBandwidth zeroes the bandwidth counters of every site of the org.
func (s *Sites) ResetBandwidth(ctx context.Context, req *corev1.OrgSitesRequest) (*corev1.Empty, error) {
	n, err := s.store.ResetBandwidth(ctx, req.GetOrgId())
	if err == nil && n == 0 {
		err = Errorf(CodeNotFound, "No sites found in org %s", req.GetOrgId())
	}
	return &corev1.Empty{}, err
}

// PickSiteDefaults proposes newt credentials, the next free overlay address
// in the org and, when the server has an exit node, its tunnel subnet.
// Nothing is reserved. It works without an exit node (Pangolin 1.8
// answered 404 there).
func (s *Sites) PickSiteDefaults(ctx context.Context, req *corev1.OrgSitesRequest) (*corev1.SiteDefaults, error) {
	org, err := s.store.GetOrg(ctx, req.GetOrgId())
	if err != nil {
		return nil, err
	}
	d, err := s.store.FirstExitNode(ctx)
	if err != nil {
		return nil, err
	}
	if d == nil {
		d = &corev1.SiteDefaults{}
	}
	d.NewtId, d.NewtSecret = RandomID(15), RandomID(48)
	if d.ClientAddress, err = nextFreeAddress(ctx, s.store, org); err != nil {
		return nil, err
	}
	if d.ExitNodeId != nil {
		used, err := s.store.ExitNodeSubnets(ctx, d.GetExitNodeId())
		if err != nil {
			return nil, err
		}
		if block, ok := firstFreeBlock(d.GetAddress(), used); ok {
			d.Subnet = &block
		}
	}
	return d, nil
}

// nextFreeAddress proposes the org's first free overlay address (nil when
// it has no subnet or no free address); nothing is reserved.
func nextFreeAddress(ctx context.Context, store interface {
	OrgAddresses(ctx context.Context, orgID string) ([]string, error)
}, org *corev1.Org) (*string, error) {
	subnet, ok := parseIPv4Prefix(org.GetSubnet())
	if !ok {
		return nil, nil
	}
	used, err := store.OrgAddresses(ctx, org.GetOrgId())
	if err != nil {
		return nil, err
	}
	if ip, ok := firstFreeAddress(subnet, used); ok {
		return &ip, nil
	}
	return nil, nil
}

// firstFreeAddress returns the first host address of subnet that no entry of
// used ("ip" or "ip/len") takes; the network and broadcast addresses are
// never handed out.
func firstFreeAddress(subnet netip.Prefix, used []string) (string, bool) {
	taken := map[netip.Addr]bool{}
	for _, u := range used {
		if p, err := netip.ParsePrefix(u); err == nil {
			taken[p.Addr()] = true
		} else if a, err := netip.ParseAddr(u); err == nil {
			taken[a] = true
		}
	}
	subnet = subnet.Masked()
	last := lastAddr(subnet)
	for a := subnet.Addr().Next(); a.IsValid() && subnet.Contains(a) && a != last; a = a.Next() {
		if !taken[a] {
			return a.String(), true
		}
	}
	return "", false
}

// firstFreeBlock returns the first /siteBlockBits block inside the exit
// node's range that overlaps neither the node's own block nor a used subnet.
func firstFreeBlock(nodeAddress string, used []string) (string, bool) {
	node, err := netip.ParsePrefix(nodeAddress)
	if err != nil || !node.Addr().Is4() || node.Bits() > siteBlockBits {
		return "", false
	}
	taken := []netip.Prefix{netip.PrefixFrom(node.Addr(), siteBlockBits).Masked()}
	for _, u := range used {
		if p, err := netip.ParsePrefix(u); err == nil {
			taken = append(taken, p.Masked())
		}
	}
	step := uint32(1) << (32 - siteBlockBits)
	start := node.Masked().Addr().As4()
	base := uint32(start[0])<<24 | uint32(start[1])<<16 | uint32(start[2])<<8 | uint32(start[3])
	for i := uint64(0); i < uint64(1)<<(siteBlockBits-node.Bits()); i++ {
		v := base + uint32(i)*step
		block := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), siteBlockBits)
		if !slices.ContainsFunc(taken, block.Overlaps) {
			return block.String(), true
		}
	}
	return "", false
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (uint32(1) << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if t := strings.TrimSpace(part); t != "" {
			out = append(out, t)
		}
	}
	return out
}
