package rpc

import (
	"context"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

type sites struct {
	corev1.UnimplementedSiteServiceServer
	svc *core.Service
}

func siteMessage(s core.Site) *corev1.Site {
	return &corev1.Site{
		SiteId: s.ID, OrgId: s.OrgID, NiceId: s.NiceID, ExitNodeId: s.ExitNodeID, Name: s.Name,
		PubKey: s.PubKey, Subnet: s.Subnet, MegabytesIn: s.MegabytesIn, MegabytesOut: s.MegabytesOut,
		LastBandwidthUpdate: s.LastBandwidthUpdate, Type: s.Type, Online: s.Online, Address: s.Address,
		Endpoint: s.Endpoint, PublicKey: s.PublicKey, LastHolePunch: s.LastHolePunch, ListenPort: s.ListenPort,
		DockerSocketEnabled: s.DockerSocketEnabled, RemoteSubnets: s.RemoteSubnets,
		OrgName: s.OrgName, NewtVersion: s.NewtVersion,
	}
}

func (s *sites) CreateSite(ctx context.Context, req *corev1.CreateSiteRequest) (*corev1.Site, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	site, err := s.svc.CreateSite(ctx, c, core.CreateSiteInput{
		OrgID: req.GetOrgId(), Name: req.GetName(), Type: req.GetType(), ExitNodeID: req.ExitNodeId,
		PubKey: req.PubKey, Subnet: req.Subnet, NewtID: req.NewtId, Secret: req.Secret, Address: req.Address,
		NiceID: req.NiceId, DockerSocketEnabled: req.DockerSocketEnabled,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := siteMessage(site.Site)
	out.NewtId, out.NewtSecret = site.NewtID, site.NewtSecret
	return out, nil
}

func (s *sites) ListSites(ctx context.Context, req *corev1.ListSitesRequest) (*corev1.ListSitesResponse, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	list, total, err := s.svc.ListSites(ctx, c, req.GetOrgId(), page(req.GetPage()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &corev1.ListSitesResponse{Total: int32(total)}
	for _, site := range list {
		out.Sites = append(out.Sites, siteMessage(site))
	}
	return out, nil
}

func (s *sites) GetSite(ctx context.Context, req *corev1.SiteIdRequest) (*corev1.Site, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	site, err := s.svc.GetSite(ctx, c, req.GetSiteId())
	if err != nil {
		return nil, toStatus(err)
	}
	return siteMessage(site), nil
}

func (s *sites) GetSiteByNiceId(ctx context.Context, req *corev1.SiteNiceIdRequest) (*corev1.Site, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	site, err := s.svc.GetSiteByNiceID(ctx, c, req.GetOrgId(), req.GetNiceId())
	if err != nil {
		return nil, toStatus(err)
	}
	return siteMessage(site), nil
}

func (s *sites) UpdateSite(ctx context.Context, req *corev1.UpdateSiteRequest) (*corev1.Site, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	site, err := s.svc.UpdateSite(ctx, c, req.GetSiteId(), core.SiteUpdate{
		Name: req.Name, NiceID: req.NiceId, DockerSocketEnabled: req.DockerSocketEnabled, RemoteSubnets: req.RemoteSubnets,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return siteMessage(site), nil
}

func (s *sites) DeleteSite(ctx context.Context, req *corev1.SiteIdRequest) (*corev1.Empty, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeleteSite(ctx, c, req.GetSiteId()); err != nil {
		return nil, toStatus(err)
	}
	return &corev1.Empty{}, nil
}

func (s *sites) PickSiteDefaults(ctx context.Context, req *corev1.PickSiteDefaultsRequest) (*corev1.SiteDefaults, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	d, err := s.svc.PickSiteDefaults(ctx, c, req.GetOrgId())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &corev1.SiteDefaults{Subnet: d.Subnet, ClientAddress: d.ClientAddress, NewtId: d.NewtID, NewtSecret: d.NewtSecret}
	if n := d.ExitNode; n != nil {
		out.ExitNodeId, out.Address, out.PublicKey, out.Name = &n.ID, &n.Address, &n.PublicKey, &n.Name
		out.ListenPort, out.Endpoint = &n.ListenPort, &n.Endpoint
	}
	return out, nil
}
