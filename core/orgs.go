package core

import "context"

// CreateOrgInput is what a new org needs.
type CreateOrgInput struct {
	ID            string
	Name          string
	Subnet        string
	UtilitySubnet *string
}

// CheckOrgID reports whether an org id is taken.
func (s *Service) CheckOrgID(ctx context.Context, c Caller, orgID string) (bool, error) {
	if err := c.requireRoot(); err != nil {
		return false, err
	}
	// ErrorCode(nil) is CodeInternal: test for success first, or every
	// existing org reads as free.
	_, err := s.store.GetOrg(ctx, orgID)
	switch {
	case err == nil:
		return true, nil
	case ErrorCode(err) == CodeNotFound:
		return false, nil
	}
	return false, s.internal(ctx, "check org id", err)
}

// CreateOrg creates an org. Root keys only.
func (s *Service) CreateOrg(ctx context.Context, c Caller, in CreateOrgInput) (Org, error) {
	if err := c.requireRoot(); err != nil {
		return Org{}, err
	}
	if err := checkOrgID(in.ID); err != nil {
		return Org{}, err
	}
	if err := checkName("name", in.Name); err != nil {
		return Org{}, err
	}
	subnet, ok := parseIPv4Prefix(in.Subnet)
	if !ok {
		return Org{}, Errorf(CodeInvalid, "Invalid subnet format. Please provide a valid CIDR notation.")
	}
	if in.UtilitySubnet != nil {
		utility, ok := parseIPv4Prefix(*in.UtilitySubnet)
		if !ok {
			return Org{}, Errorf(CodeInvalid, "Invalid utility subnet format. Please provide a valid CIDR notation.")
		}
		if utility.Overlaps(subnet) {
			return Org{}, Errorf(CodeInvalid, "Utility subnet must not overlap the org subnet")
		}
	}
	org, err := s.store.CreateOrg(ctx, Org{
		ID:            in.ID,
		Name:          in.Name,
		Subnet:        &in.Subnet,
		UtilitySubnet: in.UtilitySubnet,
		CreatedAt:     s.now().Truncate(1e6),
	})
	return org, s.internal(ctx, "create org", err)
}

// ListOrgs lists every org. Root keys only.
func (s *Service) ListOrgs(ctx context.Context, c Caller, page Page) ([]Org, int, error) {
	if err := c.requireRoot(); err != nil {
		return nil, 0, err
	}
	orgs, total, err := s.store.ListOrgs(ctx, page)
	return orgs, total, s.internal(ctx, "list orgs", err)
}

// GetOrg reads an org the caller may access.
func (s *Service) GetOrg(ctx context.Context, c Caller, orgID string) (Org, error) {
	if err := c.requireOrg(orgID); err != nil {
		return Org{}, err
	}
	org, err := s.store.GetOrg(ctx, orgID)
	return org, s.internal(ctx, "get org", err)
}

// UpdateOrg changes the fields given and answers the stored state.
func (s *Service) UpdateOrg(ctx context.Context, c Caller, orgID string, name *string) (Org, error) {
	if err := c.requireOrg(orgID); err != nil {
		return Org{}, err
	}
	if name == nil {
		return Org{}, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	if err := checkName("name", *name); err != nil {
		return Org{}, err
	}
	org, err := s.store.UpdateOrg(ctx, orgID, name)
	return org, s.internal(ctx, "update org", err)
}

// DeleteOrg removes an org, everything under it and its org-scoped keys, in
// one transaction. Root keys only.
func (s *Service) DeleteOrg(ctx context.Context, c Caller, orgID string) error {
	if err := c.requireRoot(); err != nil {
		return err
	}
	return s.internal(ctx, "delete org", s.store.DeleteOrg(ctx, orgID))
}
