package core

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// siteBlockBits is the size of the tunnel subnet a site gets on an exit
// node (Pangolin's gerbil.site_block_size default).
const siteBlockBits = 30

// CreateSiteInput is a new site as the API describes it.
type CreateSiteInput struct {
	OrgID               string
	Name                string
	Type                string
	ExitNodeID          *int64
	PubKey              *string
	Subnet              *string
	NewtID              *string
	Secret              *string
	Address             *string
	NiceID              *string
	DockerSocketEnabled *bool
}

// CreatedSite is a stored site, with the newt credentials when the core
// generated or received them: the only time the secret is shown.
type CreatedSite struct {
	Site
	NewtID     *string
	NewtSecret *string
}

// CreateSite validates and stores a site in an org the caller may access.
func (s *Service) CreateSite(ctx context.Context, c Caller, in CreateSiteInput) (CreatedSite, error) {
	if err := c.requireOrg(in.OrgID); err != nil {
		return CreatedSite{}, err
	}
	if err := checkName("name", in.Name); err != nil {
		return CreatedSite{}, err
	}
	if !slices.Contains([]string{SiteNewt, SiteWireGuard, SiteLocal}, in.Type) {
		return CreatedSite{}, Errorf(CodeInvalid, "Validation error: type must be one of 'newt', 'wireguard', 'local'")
	}
	org, err := s.store.GetOrg(ctx, in.OrgID)
	if err != nil {
		return CreatedSite{}, s.internal(ctx, "get org", err)
	}
	site := Site{
		OrgID:               in.OrgID,
		Name:                in.Name,
		Type:                in.Type,
		PubKey:              in.PubKey,
		DockerSocketEnabled: in.Type == SiteNewt,
	}
	if in.DockerSocketEnabled != nil {
		site.DockerSocketEnabled = *in.DockerSocketEnabled
	}
	if in.Type == SiteWireGuard && (in.PubKey == nil || in.ExitNodeID == nil) {
		return CreatedSite{}, Errorf(CodeInvalid, "WireGuard sites need pubKey and exitNodeId")
	}
	if in.ExitNodeID != nil {
		if in.Subnet == nil {
			return CreatedSite{}, Errorf(CodeInvalid, "subnet is required when exitNodeId is given")
		}
		if _, ok := parseIPv4Prefix(*in.Subnet); !ok {
			return CreatedSite{}, Errorf(CodeInvalid, "Invalid subnet format. Please provide a valid CIDR notation.")
		}
		if _, err := s.store.GetExitNode(ctx, *in.ExitNodeID); err != nil {
			if ErrorCode(err) == CodeNotFound {
				return CreatedSite{}, Errorf(CodeInvalid, "Exit node %d does not exist", *in.ExitNodeID)
			}
			return CreatedSite{}, s.internal(ctx, "get exit node", err)
		}
		site.ExitNodeID, site.Subnet = in.ExitNodeID, in.Subnet
	} else {
		none := "0.0.0.0/0"
		site.Subnet = &none
	}
	if in.Address != nil {
		addr, err := orgAddress(org, *in.Address)
		if err != nil {
			return CreatedSite{}, err
		}
		site.Address = &addr
	}

	var created CreatedSite
	var newt *Newt
	if in.Type == SiteNewt {
		id, secret := RandomID(15), RandomID(48)
		if in.NewtID != nil {
			id = *in.NewtID
			if err := checkNiceID(id); err != nil {
				return CreatedSite{}, Errorf(CodeInvalid, "Validation error: newtId must be 1-255 letters, digits or hyphens")
			}
		}
		if in.Secret != nil {
			secret = *in.Secret
			if len(secret) < 8 || len(secret) > 128 {
				return CreatedSite{}, Errorf(CodeInvalid, "Validation error: secret must be 8-128 characters")
			}
		}
		newt = &Newt{ID: id, SecretHash: HashSecret(secret), CreatedAt: s.now().Truncate(1e6)}
		created.NewtID, created.NewtSecret = &id, &secret
	}

	if in.NiceID != nil {
		if err := checkNiceID(*in.NiceID); err != nil {
			return CreatedSite{}, err
		}
		site.NiceID = *in.NiceID
		created.Site, err = s.store.CreateSite(ctx, site, newt)
		return created, s.internal(ctx, "create site", err)
	}
	// Generated nice ids can collide; the store's uniqueness check decides.
	for range 100 {
		site.NiceID = newNiceID()
		created.Site, err = s.store.CreateSite(ctx, site, newt)
		if ErrorCode(err) != CodeConflict || !s.niceIDTaken(ctx, site) {
			return created, s.internal(ctx, "create site", err)
		}
	}
	return CreatedSite{}, Errorf(CodeInternal, "An error occurred")
}

// niceIDTaken tells a nice-id collision from another conflict (address).
func (s *Service) niceIDTaken(ctx context.Context, site Site) bool {
	_, err := s.store.GetSiteByNiceID(ctx, site.OrgID, site.NiceID)
	return err == nil
}

// orgAddress checks an overlay address against the org subnet and returns
// it as stored: "<ip>/<org prefix length>".
func orgAddress(org Org, address string) (string, error) {
	if org.Subnet == nil {
		return "", Errorf(CodeInvalid, "Organization %s has no subnet", org.ID)
	}
	subnet, ok := parseIPv4Prefix(*org.Subnet)
	if !ok {
		return "", Errorf(CodeInvalid, "Organization %s has an invalid subnet", org.ID)
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

// ListSites lists the sites of an org the caller may access.
func (s *Service) ListSites(ctx context.Context, c Caller, orgID string, page Page) ([]Site, int, error) {
	if err := c.requireOrg(orgID); err != nil {
		return nil, 0, err
	}
	if _, err := s.store.GetOrg(ctx, orgID); err != nil {
		return nil, 0, s.internal(ctx, "get org", err)
	}
	sites, total, err := s.store.ListSites(ctx, orgID, page)
	return sites, total, s.internal(ctx, "list sites", err)
}

// GetSite reads a site by id. A site of an org the caller cannot access is
// forbidden; a missing one is not found.
func (s *Service) GetSite(ctx context.Context, c Caller, siteID int64) (Site, error) {
	site, err := s.store.GetSite(ctx, siteID)
	if err != nil {
		return Site{}, s.internal(ctx, "get site", err)
	}
	if err := c.requireOrg(site.OrgID); err != nil {
		return Site{}, err
	}
	return site, nil
}

// GetSiteByNiceID reads a site by its per-org nice id.
func (s *Service) GetSiteByNiceID(ctx context.Context, c Caller, orgID, niceID string) (Site, error) {
	if err := c.requireOrg(orgID); err != nil {
		return Site{}, err
	}
	site, err := s.store.GetSiteByNiceID(ctx, orgID, niceID)
	return site, s.internal(ctx, "get site", err)
}

// UpdateSite changes the fields given and answers the stored state.
func (s *Service) UpdateSite(ctx context.Context, c Caller, siteID int64, u SiteUpdate) (Site, error) {
	if _, err := s.GetSite(ctx, c, siteID); err != nil {
		return Site{}, err
	}
	if u == (SiteUpdate{}) {
		return Site{}, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	if u.Name != nil {
		if err := checkName("name", *u.Name); err != nil {
			return Site{}, err
		}
	}
	if u.NiceID != nil {
		if err := checkNiceID(*u.NiceID); err != nil {
			return Site{}, err
		}
	}
	if u.RemoteSubnets != nil && *u.RemoteSubnets != "" {
		for _, cidr := range splitList(*u.RemoteSubnets) {
			if _, err := netip.ParsePrefix(cidr); err != nil {
				return Site{}, Errorf(CodeInvalid, "Invalid CIDR in remoteSubnets: %q", cidr)
			}
		}
	}
	site, err := s.store.UpdateSite(ctx, siteID, u)
	return site, s.internal(ctx, "update site", err)
}

// DeleteSite removes a site and what hangs off it (its newt credential).
func (s *Service) DeleteSite(ctx context.Context, c Caller, siteID int64) error {
	if _, err := s.GetSite(ctx, c, siteID); err != nil {
		return err
	}
	return s.internal(ctx, "delete site", s.store.DeleteSite(ctx, siteID))
}

// SiteDefaults are proposed values for a new site; nothing is reserved.
type SiteDefaults struct {
	ExitNode      *ExitNode
	Subnet        *string
	ClientAddress *string
	NewtID        string
	NewtSecret    string
}

// PickSiteDefaults proposes newt credentials, the next free overlay address
// in the org and, when the server has an exit node, its tunnel subnet. It
// works without an exit node (Pangolin 1.8 answered 404 there).
func (s *Service) PickSiteDefaults(ctx context.Context, c Caller, orgID string) (SiteDefaults, error) {
	if err := c.requireOrg(orgID); err != nil {
		return SiteDefaults{}, err
	}
	org, err := s.store.GetOrg(ctx, orgID)
	if err != nil {
		return SiteDefaults{}, s.internal(ctx, "get org", err)
	}
	d := SiteDefaults{NewtID: RandomID(15), NewtSecret: RandomID(48)}
	if org.Subnet != nil {
		if subnet, ok := parseIPv4Prefix(*org.Subnet); ok {
			used, err := s.store.OrgAddresses(ctx, orgID)
			if err != nil {
				return SiteDefaults{}, s.internal(ctx, "org addresses", err)
			}
			if ip, ok := firstFreeAddress(subnet, used); ok {
				d.ClientAddress = &ip
			}
		}
	}
	node, err := s.store.FirstExitNode(ctx)
	if err != nil {
		return SiteDefaults{}, s.internal(ctx, "exit node", err)
	}
	if node != nil {
		d.ExitNode = node
		used, err := s.store.ExitNodeSubnets(ctx, node.ID)
		if err != nil {
			return SiteDefaults{}, s.internal(ctx, "exit node subnets", err)
		}
		if block, ok := firstFreeBlock(node.Address, used); ok {
			d.Subnet = &block
		}
	}
	return d, nil
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
