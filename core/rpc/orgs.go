package rpc

import (
	"context"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

type orgs struct {
	corev1.UnimplementedOrgServiceServer
	svc  *core.Service
	feed *Feed
}

func orgMessage(o core.Org) *corev1.Org {
	return &corev1.Org{OrgId: o.ID, Name: o.Name, Subnet: o.Subnet, UtilitySubnet: o.UtilitySubnet, CreatedAt: timestamp(o.CreatedAt)}
}

func (s *orgs) CheckOrgId(ctx context.Context, req *corev1.OrgIdRequest) (*corev1.CheckOrgIdResponse, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	exists, err := s.svc.CheckOrgID(ctx, c, req.GetOrgId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &corev1.CheckOrgIdResponse{Exists: exists}, nil
}

func (s *orgs) CreateOrg(ctx context.Context, req *corev1.CreateOrgRequest) (*corev1.Org, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	org, err := s.svc.CreateOrg(ctx, c, core.CreateOrgInput{
		ID: req.GetOrgId(), Name: req.GetName(), Subnet: req.GetSubnet(), UtilitySubnet: req.UtilitySubnet,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return orgMessage(org), nil
}

func (s *orgs) ListOrgs(ctx context.Context, req *corev1.ListOrgsRequest) (*corev1.ListOrgsResponse, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	list, total, err := s.svc.ListOrgs(ctx, c, page(req.GetPage()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &corev1.ListOrgsResponse{Total: int32(total)}
	for _, o := range list {
		out.Orgs = append(out.Orgs, orgMessage(o))
	}
	return out, nil
}

func (s *orgs) GetOrg(ctx context.Context, req *corev1.OrgIdRequest) (*corev1.Org, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	org, err := s.svc.GetOrg(ctx, c, req.GetOrgId())
	if err != nil {
		return nil, toStatus(err)
	}
	return orgMessage(org), nil
}

func (s *orgs) UpdateOrg(ctx context.Context, req *corev1.UpdateOrgRequest) (*corev1.Org, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	org, err := s.svc.UpdateOrg(ctx, c, req.GetOrgId(), req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	return orgMessage(org), nil
}

func (s *orgs) DeleteOrg(ctx context.Context, req *corev1.OrgIdRequest) (*corev1.Empty, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeleteOrg(ctx, c, req.GetOrgId()); err != nil {
		return nil, toStatus(err)
	}
	s.feed.Poke() // the org's keys went with it
	return &corev1.Empty{}, nil
}
