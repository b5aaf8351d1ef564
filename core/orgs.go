package core

import (
	"context"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// OrgStore is what the org service needs of storage.
type OrgStore interface {
	// CreateOrg stores org and returns it as stored; a taken id → Conflict.
	CreateOrg(ctx context.Context, org *corev1.Org) (*corev1.Org, error)
	// GetOrg: missing → NotFound "Organization with ID x not found".
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	ListOrgs(ctx context.Context, page *corev1.Page) ([]*corev1.Org, int32, error)
	// UpdateOrg sets the fields the request carries and returns the org as
	// stored.
	UpdateOrg(ctx context.Context, req *corev1.UpdateOrgRequest) (*corev1.Org, error)
	// DeleteOrg removes the org, everything under it and the org keys
	// linked to it, in one transaction.
	DeleteOrg(ctx context.Context, id string) error
}

// Orgs is the OrgService: orgs are the tenant boundary of every other
// object.
type Orgs struct {
	corev1.UnimplementedOrgServiceServer
	store OrgStore
}

// CheckOrgId reports whether an org id is taken.
func (s *Orgs) CheckOrgId(ctx context.Context, req *corev1.CheckOrgIdRequest) (*corev1.CheckOrgIdResponse, error) {
	_, err := s.store.GetOrg(ctx, req.GetOrgId())
	switch {
	case err == nil:
		return &corev1.CheckOrgIdResponse{Exists: true}, nil
	case ErrorCode(err) == CodeNotFound:
		return &corev1.CheckOrgIdResponse{Exists: false}, nil
	}
	return nil, err
}

// CreateOrg validates and creates an org.
func (s *Orgs) CreateOrg(ctx context.Context, req *corev1.CreateOrgRequest) (*corev1.Org, error) {
	if err := checkOrgID(req.GetOrgId()); err != nil {
		return nil, err
	}
	if err := checkName("name", req.GetName()); err != nil {
		return nil, err
	}
	subnet, ok := parseIPv4Prefix(req.GetSubnet())
	if !ok {
		return nil, Errorf(CodeInvalid, "Invalid subnet format. Please provide a valid CIDR notation.")
	}
	if req.UtilitySubnet != nil {
		utility, ok := parseIPv4Prefix(req.GetUtilitySubnet())
		if !ok {
			return nil, Errorf(CodeInvalid, "Invalid utility subnet format. Please provide a valid CIDR notation.")
		}
		if utility.Overlaps(subnet) {
			return nil, Errorf(CodeInvalid, "Utility subnet must not overlap the org subnet")
		}
	}
	return s.store.CreateOrg(ctx, &corev1.Org{
		OrgId:         req.GetOrgId(),
		Name:          req.GetName(),
		Subnet:        &req.Subnet,
		UtilitySubnet: req.UtilitySubnet,
		CreatedAt:     Timestamp(time.Now()),
	})
}

// ListOrgs lists every org.
func (s *Orgs) ListOrgs(ctx context.Context, req *corev1.ListOrgsRequest) (*corev1.ListOrgsResponse, error) {
	orgs, total, err := s.store.ListOrgs(ctx, req.GetPage())
	return &corev1.ListOrgsResponse{Orgs: orgs, Total: total}, err
}

// GetOrg reads an org.
func (s *Orgs) GetOrg(ctx context.Context, req *corev1.OrgIdRequest) (*corev1.GetOrgResponse, error) {
	org, err := s.store.GetOrg(ctx, req.GetOrgId())
	return &corev1.GetOrgResponse{Org: org}, err
}

// UpdateOrg changes the fields given and answers the stored state.
func (s *Orgs) UpdateOrg(ctx context.Context, req *corev1.UpdateOrgRequest) (*corev1.Org, error) {
	if req.Name == nil {
		return nil, Errorf(CodeInvalid, "At least one field must be provided for update")
	}
	if err := checkName("name", req.GetName()); err != nil {
		return nil, err
	}
	return s.store.UpdateOrg(ctx, req)
}

// DeleteOrg removes an org, everything under it and its org keys, in one
// transaction.
func (s *Orgs) DeleteOrg(ctx context.Context, req *corev1.OrgIdRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.DeleteOrg(ctx, req.GetOrgId())
}
