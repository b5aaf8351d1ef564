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

// ClientStore is what the client service needs of storage.
type ClientStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	// CreateClient stores c in its org with its OLM credential, links the
	// org's Admin role to it and returns it as stored. Its subnet is what
	// assign answers, asked in the same transaction with the overlay
	// addresses the org's sites and clients use, while no other address
	// of the org can be taken: concurrent creates never share one. A taken
	// niceId or olmId → Conflict.
	CreateClient(ctx context.Context, c *corev1.OlmClient, olm Olm, assign AssignAddress) (*corev1.OlmClient, error)
	// GetClient: missing → ClientNotFound.
	GetClient(ctx context.Context, id int64) (*corev1.OlmClient, error)
	// ClientDetail returns the client with its OLM, its user and its
	// roles.
	ClientDetail(ctx context.Context, id int64) (*corev1.GetClientResponse, error)
	// ClientOrg returns the org a client lies in; missing → ClientNotFound.
	ClientOrg(ctx context.Context, id int64) (string, error)
	ListClients(ctx context.Context, f ClientFilter, page *corev1.Page) ([]*corev1.ClientListItem, int32, error)
	// UpdateClient reads the client (locked), lets change modify it, and
	// stores the result; its id, org and user never change. A niceId
	// another client of the org has → Conflict.
	UpdateClient(ctx context.Context, id int64, change func(*corev1.OlmClient) error) (*corev1.OlmClient, error)
	// DeleteClient deletes the client, its OLM and its grants.
	DeleteClient(ctx context.Context, id int64) error
	// OrgAddresses returns the overlay addresses the org's sites and
	// clients use.
	OrgAddresses(ctx context.Context, orgID string) ([]string, error)
}

// Olm is an OLM agent's credential; the secret is stored only as a hash.
type Olm struct {
	ID         string
	SecretHash string
}

// AssignAddress chooses a client's overlay address given the addresses
// the org's sites and clients use ("ip" or "ip/len").
type AssignAddress func(siteAddresses, clientSubnets []string) (string, error)

// ClientFilter selects clients for a list.
type ClientFilter struct {
	OrgID string
	// UserDevices lists the clients of users; else machine clients.
	UserDevices bool
	// Query is text in the name or niceId (user devices: or the user's
	// e-mail), any case.
	Query  *string
	Online *bool
	// Active, Blocked and Archived select by state: active is neither
	// blocked nor archived.
	Active, Blocked, Archived bool
	// SortBy is "", name, megabytesIn or megabytesOut; Desc reverses.
	SortBy string
	Desc   bool
}

// ClientNotFound is the answer for a client id that does not exist or lies
// in an org the caller cannot reach.
func ClientNotFound(id int64) error {
	return Errorf(CodeNotFound, "Client with ID %d not found", id)
}

// ClientType is the one type of client.
const ClientType = "olm"

// Clients is the ClientService.
type Clients struct {
	corev1.UnimplementedClientServiceServer
	store  ClientStore
	hasher *Hasher
}

// Reach resolves a client id (access scope OBJECT, object "client"): a
// client in an org the caller cannot reach is as missing as one that never
// existed.
func (s *Clients) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	return reachObject(ctx, c, id.Int(), s.store.ClientOrg, ClientNotFound)
}

// PickClientDefaults proposes OLM credentials and the org's next free
// overlay address; nothing is reserved.
func (s *Clients) PickClientDefaults(ctx context.Context, req *corev1.OrgClientsRequest) (*corev1.ClientDefaults, error) {
	org, err := s.store.GetOrg(ctx, req.GetOrgId())
	if err != nil {
		return nil, err
	}
	d := &corev1.ClientDefaults{OlmId: RandomID(15), OlmSecret: RandomID(48)}
	d.Subnet, err = nextFreeAddress(ctx, s.store, org)
	return d, err
}

// CreateClient validates and stores a machine client; generated OLM
// credentials are answered this once.
func (s *Clients) CreateClient(ctx context.Context, in *corev1.CreateClientRequest) (*corev1.CreatedClient, error) {
	if err := checkName("name", in.GetName()); err != nil {
		return nil, err
	}
	if in.Type != nil && in.GetType() != ClientType {
		return nil, Errorf(CodeInvalid, "Validation error: type must be 'olm' at \"type\"")
	}
	if in.NiceId != nil {
		if err := checkNiceID(in.GetNiceId()); err != nil {
			return nil, err
		}
	}
	org, err := s.store.GetOrg(ctx, in.GetOrgId())
	if err != nil {
		return nil, err
	}
	assign, err := clientAddress(org, in.Subnet)
	if err != nil {
		return nil, err
	}
	created := &corev1.CreatedClient{}
	olm := Olm{ID: RandomID(15)}
	secret := RandomID(48)
	if in.OlmId != nil {
		olm.ID = in.GetOlmId()
		if checkNiceID(olm.ID) != nil {
			return nil, Errorf(CodeInvalid, "Validation error: olmId must be 1-255 letters, digits or hyphens")
		}
	}
	if in.Secret != nil {
		secret = in.GetSecret()
		if len(secret) < 8 || len(secret) > 128 {
			return nil, Errorf(CodeInvalid, "Validation error: secret must be 8-128 characters")
		}
	} else {
		created.Secret = &secret
	}
	// Hashed last, once the request is known to be valid: a refused
	// request costs no hashing slot.
	if olm.SecretHash, err = s.hasher.Hash(ctx, secret); err != nil {
		return nil, err
	}
	c := &corev1.OlmClient{OrgId: org.GetOrgId(), Name: in.GetName(), OlmId: &olm.ID, Type: ClientType}
	if in.NiceId != nil {
		c.NiceId = in.GetNiceId()
		created.Client, err = s.store.CreateClient(ctx, c, olm, assign)
		return created, err
	}
	// Generated nice ids can collide; the store's uniqueness check decides.
	for range 100 {
		c.NiceId = newNiceID()
		created.Client, err = s.store.CreateClient(ctx, c, olm, assign)
		if !isClientNiceIDTaken(err) {
			return created, err
		}
	}
	return nil, fmt.Errorf("no free nice id in org %s after 100 tries", c.OrgId)
}

// clientAddress returns how a new client's overlay address is chosen: the
// requested IP when it is inside the org subnet and free, else the first
// free address of the subnet.
func clientAddress(org *corev1.Org, requested *string) (AssignAddress, error) {
	if org.Subnet == nil {
		return nil, Errorf(CodeInvalid, "Organization %s has no subnet", org.GetOrgId())
	}
	subnet, ok := parseIPv4Prefix(org.GetSubnet())
	if !ok {
		return nil, Errorf(CodeInvalid, "Organization %s has an invalid subnet", org.GetOrgId())
	}
	if requested != nil {
		if _, err := netip.ParseAddr(*requested); err != nil {
			return nil, Errorf(CodeInvalid, "Invalid subnet format. Please provide a valid IP at \"subnet\"")
		}
		addr, err := orgAddress(org, *requested)
		if err != nil {
			return nil, err
		}
		return func(sites, clients []string) (string, error) {
			switch ip := netip.MustParsePrefix(addr).Addr(); {
			case usesAddress(clients, ip):
				return "", Errorf(CodeConflict, "Subnet %s already exists in clients", addr)
			case usesAddress(sites, ip):
				return "", Errorf(CodeConflict, "Subnet %s already exists in sites", addr)
			}
			return addr, nil
		}, nil
	}
	return func(sites, clients []string) (string, error) {
		ip, ok := firstFreeAddress(subnet, append(slices.Clip(sites), clients...))
		if !ok {
			return "", Errorf(CodeConflict, "No available subnet found in organization %s", org.GetOrgId())
		}
		return fmt.Sprintf("%s/%d", ip, subnet.Bits()), nil
	}, nil
}

// usesAddress reports whether an entry of used ("ip" or "ip/len") is ip.
func usesAddress(used []string, ip netip.Addr) bool {
	return slices.ContainsFunc(used, func(u string) bool {
		if p, err := netip.ParsePrefix(u); err == nil {
			return p.Addr() == ip
		}
		a, err := netip.ParseAddr(u)
		return err == nil && a == ip
	})
}

func isClientNiceIDTaken(err error) bool {
	return ErrorCode(err) == CodeConflict && strings.Contains(err.Error(), "niceId")
}

// ListClients lists the machine clients of an org.
func (s *Clients) ListClients(ctx context.Context, req *corev1.ListClientsRequest) (*corev1.ListClientsResponse, error) {
	list, total, err := s.list(ctx, req, false)
	return &corev1.ListClientsResponse{Clients: list, Total: total}, err
}

// ListUserDevices lists the clients of the org's users.
func (s *Clients) ListUserDevices(ctx context.Context, req *corev1.ListClientsRequest) (*corev1.ListUserDevicesResponse, error) {
	list, total, err := s.list(ctx, req, true)
	return &corev1.ListUserDevicesResponse{Devices: list, Total: total}, err
}

func (s *Clients) list(ctx context.Context, req *corev1.ListClientsRequest, devices bool) ([]*corev1.ClientListItem, int32, error) {
	f := ClientFilter{OrgID: req.GetOrgId(), UserDevices: devices, Query: req.Query, Online: req.Online, Active: true}
	if req.Status != nil {
		f.Active = false
		for _, st := range splitList(req.GetStatus()) {
			switch st {
			case "active":
				f.Active = true
			case "blocked":
				f.Blocked = true
			case "archived":
				f.Archived = true
			default:
				return nil, 0, Errorf(CodeInvalid, "Validation error: status must be a comma list of 'active', 'blocked', 'archived' at \"status\"")
			}
		}
		if !f.Active && !f.Blocked && !f.Archived {
			return nil, 0, Errorf(CodeInvalid, "Validation error: status must name at least one state at \"status\"")
		}
	}
	if req.SortBy != nil {
		if !slices.Contains([]string{"name", "megabytesIn", "megabytesOut"}, req.GetSortBy()) {
			return nil, 0, Errorf(CodeInvalid, "Validation error: sort_by must be one of 'name', 'megabytesIn', 'megabytesOut' at \"sort_by\"")
		}
		f.SortBy = req.GetSortBy()
	}
	var err error
	if f.Desc, err = descending(req.Order); err != nil {
		return nil, 0, err
	}
	list, total, err := s.store.ListClients(ctx, f, req.GetPage())
	if err != nil {
		return nil, 0, err
	}
	if total == 0 {
		// Tell a missing org (404) from one without clients.
		if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
			return nil, 0, err
		}
	}
	return list, total, nil
}

// descending reads a list's order parameter: asc (default) or desc.
func descending(order *string) (bool, error) {
	switch {
	case order == nil || *order == "asc":
		return false, nil
	case *order == "desc":
		return true, nil
	}
	return false, Errorf(CodeInvalid, "Validation error: order must be one of 'asc', 'desc' at \"order\"")
}

// GetClient reads a client with its OLM, user and roles.
func (s *Clients) GetClient(ctx context.Context, req *corev1.ClientIdRequest) (*corev1.GetClientResponse, error) {
	return s.store.ClientDetail(ctx, req.GetClientId())
}

// UpdateClient changes the name or niceId and answers the stored client,
// in an array as Pangolin does.
func (s *Clients) UpdateClient(ctx context.Context, req *corev1.UpdateClientRequest) (*corev1.UpdatedClients, error) {
	if !setsAnyBut(req, "client_id") {
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
	c, err := s.store.UpdateClient(ctx, req.GetClientId(), func(c *corev1.OlmClient) error {
		if req.Name != nil {
			c.Name = req.GetName()
		}
		if req.NiceId != nil {
			c.NiceId = req.GetNiceId()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &corev1.UpdatedClients{Clients: []*corev1.OlmClient{c}}, nil
}

// DeleteClient removes a machine client with its OLM and grants; a user's
// device is archived, not deleted.
func (s *Clients) DeleteClient(ctx context.Context, req *corev1.ClientIdRequest) (*corev1.NoData, error) {
	c, err := s.store.GetClient(ctx, req.GetClientId())
	if err != nil {
		return nil, err
	}
	if c.UserId != nil {
		return nil, Errorf(CodeInvalid, "Cannot delete a user client. User clients must be archived instead.")
	}
	return &corev1.NoData{}, s.store.DeleteClient(ctx, req.GetClientId())
}

// ArchiveClient marks a client archived.
func (s *Clients) ArchiveClient(ctx context.Context, req *corev1.ClientIdRequest) (*corev1.OlmClient, error) {
	return s.store.UpdateClient(ctx, req.GetClientId(), func(c *corev1.OlmClient) error {
		if c.Archived {
			return Errorf(CodeInvalid, "Client with ID %d is already archived", c.GetClientId())
		}
		c.Archived = true
		return nil
	})
}

// UnarchiveClient clears a client's archived mark.
func (s *Clients) UnarchiveClient(ctx context.Context, req *corev1.ClientIdRequest) (*corev1.OlmClient, error) {
	return s.store.UpdateClient(ctx, req.GetClientId(), func(c *corev1.OlmClient) error {
		if !c.Archived {
			return Errorf(CodeInvalid, "Client with ID %d is not archived", c.GetClientId())
		}
		c.Archived = false
		return nil
	})
}

// BlockClient blocks a client and denies its approval.
func (s *Clients) BlockClient(ctx context.Context, req *corev1.ClientIdRequest) (*corev1.OlmClient, error) {
	return s.store.UpdateClient(ctx, req.GetClientId(), func(c *corev1.OlmClient) error {
		if c.Blocked {
			return Errorf(CodeInvalid, "Client with ID %d is already blocked", c.GetClientId())
		}
		denied := "denied"
		c.Blocked, c.ApprovalState = true, &denied
		return nil
	})
}

// UnblockClient unblocks a client and clears its approval state.
func (s *Clients) UnblockClient(ctx context.Context, req *corev1.ClientIdRequest) (*corev1.OlmClient, error) {
	return s.store.UpdateClient(ctx, req.GetClientId(), func(c *corev1.OlmClient) error {
		if !c.Blocked {
			return Errorf(CodeInvalid, "Client with ID %d is not blocked", c.GetClientId())
		}
		c.Blocked, c.ApprovalState = false, nil
		return nil
	})
}
