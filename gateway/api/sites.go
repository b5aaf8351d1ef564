package api

import (
	"net/http"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Site is a site row as the API shows it.
type Site struct {
	SiteID              int64   `json:"siteId"`
	OrgID               string  `json:"orgId"`
	NiceID              string  `json:"niceId"`
	ExitNodeID          *int64  `json:"exitNodeId"`
	Name                string  `json:"name"`
	PubKey              *string `json:"pubKey"`
	Subnet              *string `json:"subnet"`
	MegabytesIn         float64 `json:"megabytesIn"`
	MegabytesOut        float64 `json:"megabytesOut"`
	LastBandwidthUpdate *string `json:"lastBandwidthUpdate"`
	Type                string  `json:"type"`
	Online              bool    `json:"online"`
	Address             *string `json:"address"`
	Endpoint            *string `json:"endpoint"`
	PublicKey           *string `json:"publicKey"`
	LastHolePunch       *int64  `json:"lastHolePunch"`
	ListenPort          *int32  `json:"listenPort"`
	DockerSocketEnabled bool    `json:"dockerSocketEnabled"`
	RemoteSubnets       *string `json:"remoteSubnets"`
}

// CreatedSite is a new site; newt sites carry their agent credentials,
// shown this once.
type CreatedSite struct {
	Site
	NewtID *string `json:"newtId,omitempty"`
	Secret *string `json:"secret,omitempty"`
}

// SiteListItem is a site in a list.
type SiteListItem struct {
	SiteID              int64   `json:"siteId"`
	NiceID              string  `json:"niceId"`
	Name                string  `json:"name"`
	PubKey              *string `json:"pubKey"`
	Subnet              *string `json:"subnet"`
	MegabytesIn         float64 `json:"megabytesIn"`
	MegabytesOut        float64 `json:"megabytesOut"`
	OrgName             string  `json:"orgName"`
	Type                string  `json:"type"`
	Online              bool    `json:"online"`
	Address             *string `json:"address"`
	ExitNodeID          *int64  `json:"exitNodeId"`
	NewtVersion         *string `json:"newtVersion"`
	NewtUpdateAvailable bool    `json:"newtUpdateAvailable"`
}

// SiteList is the answer of GET /org/:orgId/sites.
type SiteList struct {
	Sites      []SiteListItem `json:"sites"`
	Pagination Pagination     `json:"pagination"`
}

// CreateSiteBody creates a site.
type CreateSiteBody struct {
	Name                *string `json:"name" binding:"required" doc:"1-255 characters"`
	Type                *string `json:"type" binding:"required" enum:"newt,wireguard,local"`
	ExitNodeID          *int64  `json:"exitNodeId" doc:"Exit node to tunnel to; requires subnet"`
	PubKey              *string `json:"pubKey" doc:"WireGuard public key (wireguard sites)"`
	Subnet              *string `json:"subnet" doc:"Tunnel subnet on the exit node (CIDR)"`
	NewtID              *string `json:"newtId" doc:"Newt agent id; generated when absent"`
	Secret              *string `json:"secret" doc:"Newt agent secret; generated when absent"`
	Address             *string `json:"address" doc:"Overlay IP inside the org subnet"`
	NiceID              *string `json:"niceId" doc:"Per-org readable id; generated when absent"`
	DockerSocketEnabled *bool   `json:"dockerSocketEnabled" doc:"Default: true for newt sites, else false"`
}

// UpdateSiteBody changes a site; at least one field.
type UpdateSiteBody struct {
	Name                *string `json:"name" doc:"1-255 characters"`
	NiceID              *string `json:"niceId" doc:"Letters, digits and hyphens; unique in the org"`
	DockerSocketEnabled *bool   `json:"dockerSocketEnabled"`
	RemoteSubnets       *string `json:"remoteSubnets" doc:"Comma-separated CIDRs"`
}

// SiteDefaults are proposed values for a new site; nothing is reserved.
type SiteDefaults struct {
	ExitNodeID    *int64  `json:"exitNodeId"`
	Address       *string `json:"address"`
	PublicKey     *string `json:"publicKey"`
	Name          *string `json:"name"`
	ListenPort    *int32  `json:"listenPort"`
	Endpoint      *string `json:"endpoint"`
	Subnet        *string `json:"subnet"`
	ClientAddress *string `json:"clientAddress"`
	NewtID        string  `json:"newtId"`
	NewtSecret    string  `json:"newtSecret"`
}

var siteRoutes = []Route{
	{
		Method: http.MethodPut, Path: "/org/:orgId/site", Scope: OrgInPath, Action: "createSite", Tag: "Site",
		Summary: "Create a site",
		Status:  http.StatusCreated, Message: "Site created successfully",
		Body: CreateSiteBody{}, Response: CreatedSite{}, Handle: (*Handlers).createSite,
	},
	{
		Method: http.MethodGet, Path: "/org/:orgId/sites", Scope: OrgInPath, Action: "listSites", Tag: "Site",
		Summary: "List the sites of an organization",
		Status:  http.StatusOK, Message: "Sites retrieved successfully",
		Paged: true, Response: SiteList{}, Handle: (*Handlers).listSites,
	},
	{
		Method: http.MethodGet, Path: "/org/:orgId/site/:niceId", Scope: OrgInPath, Action: "getSite", Tag: "Site",
		Summary: "Get a site by its per-organization nice id",
		Status:  http.StatusOK, Message: "Site retrieved successfully",
		Response: Site{}, Handle: (*Handlers).getSiteByNiceID,
	},
	{
		Method: http.MethodGet, Path: "/org/:orgId/pick-site-defaults", Scope: OrgInPath, Action: "createSite", Tag: "Site",
		Summary: "Propose values for a new site (newt credentials, overlay address, exit node); nothing is stored",
		Status:  http.StatusOK, Message: "Site defaults chosen successfully",
		Response: SiteDefaults{}, Handle: (*Handlers).pickSiteDefaults,
	},
	{
		Method: http.MethodGet, Path: "/site/:siteId", Scope: ObjectInCore, Action: "getSite", Tag: "Site",
		Summary: "Get a site",
		Status:  http.StatusOK, Message: "Site retrieved successfully",
		Response: Site{}, Handle: (*Handlers).getSite,
	},
	{
		Method: http.MethodPost, Path: "/site/:siteId", Scope: ObjectInCore, Action: "updateSite", Tag: "Site",
		Summary: "Update a site",
		Status:  http.StatusOK, Message: "Site updated successfully",
		Body: UpdateSiteBody{}, Response: Site{}, Handle: (*Handlers).updateSite,
	},
	{
		Method: http.MethodDelete, Path: "/site/:siteId", Scope: ObjectInCore, Action: "deleteSite", Tag: "Site",
		Summary: "Delete a site",
		Status:  http.StatusOK, Message: "Site deleted successfully",
		Handle: (*Handlers).deleteSite,
	},
}

func siteJSON(s *corev1.Site) Site {
	return Site{
		SiteID: s.GetSiteId(), OrgID: s.GetOrgId(), NiceID: s.GetNiceId(), ExitNodeID: s.ExitNodeId, Name: s.GetName(),
		PubKey: s.PubKey, Subnet: s.Subnet, MegabytesIn: s.GetMegabytesIn(), MegabytesOut: s.GetMegabytesOut(),
		LastBandwidthUpdate: s.LastBandwidthUpdate, Type: s.GetType(), Online: s.GetOnline(), Address: s.Address,
		Endpoint: s.Endpoint, PublicKey: s.PublicKey, LastHolePunch: s.LastHolePunch, ListenPort: s.ListenPort,
		DockerSocketEnabled: s.GetDockerSocketEnabled(), RemoteSubnets: s.RemoteSubnets,
	}
}

func (h *Handlers) createSite(r *Request) (any, error) {
	b := r.Body.(*CreateSiteBody)
	site, err := h.Sites.CreateSite(r.Context(), &corev1.CreateSiteRequest{
		OrgId: r.Param("orgId"), Name: *b.Name, Type: *b.Type, ExitNodeId: b.ExitNodeID, PubKey: b.PubKey,
		Subnet: b.Subnet, NewtId: b.NewtID, Secret: b.Secret, Address: b.Address, NiceId: b.NiceID,
		DockerSocketEnabled: b.DockerSocketEnabled,
	})
	if err != nil {
		return nil, err
	}
	return CreatedSite{Site: siteJSON(site), NewtID: site.NewtId, Secret: site.NewtSecret}, nil
}

func (h *Handlers) listSites(r *Request) (any, error) {
	page, pagination, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.Sites.ListSites(r.Context(), &corev1.ListSitesRequest{OrgId: r.Param("orgId"), Page: page})
	if err != nil {
		return nil, err
	}
	out := SiteList{Sites: []SiteListItem{}, Pagination: pagination(int(res.GetTotal()))}
	for _, s := range res.GetSites() {
		out.Sites = append(out.Sites, SiteListItem{
			SiteID: s.GetSiteId(), NiceID: s.GetNiceId(), Name: s.GetName(), PubKey: s.PubKey, Subnet: s.Subnet,
			MegabytesIn: s.GetMegabytesIn(), MegabytesOut: s.GetMegabytesOut(), OrgName: s.GetOrgName(),
			Type: s.GetType(), Online: s.GetOnline(), Address: s.Address, ExitNodeID: s.ExitNodeId,
			NewtVersion: s.NewtVersion,
		})
	}
	return out, nil
}

func (h *Handlers) getSiteByNiceID(r *Request) (any, error) {
	site, err := h.Sites.GetSiteByNiceId(r.Context(), &corev1.SiteNiceIdRequest{OrgId: r.Param("orgId"), NiceId: r.Param("niceId")})
	if err != nil {
		return nil, err
	}
	return siteJSON(site), nil
}

func (h *Handlers) pickSiteDefaults(r *Request) (any, error) {
	d, err := h.Sites.PickSiteDefaults(r.Context(), &corev1.PickSiteDefaultsRequest{OrgId: r.Param("orgId")})
	if err != nil {
		return nil, err
	}
	return SiteDefaults{
		ExitNodeID: d.ExitNodeId, Address: d.Address, PublicKey: d.PublicKey, Name: d.Name, ListenPort: d.ListenPort,
		Endpoint: d.Endpoint, Subnet: d.Subnet, ClientAddress: d.ClientAddress, NewtID: d.GetNewtId(), NewtSecret: d.GetNewtSecret(),
	}, nil
}

func (h *Handlers) getSite(r *Request) (any, error) {
	id, err := r.ID("siteId")
	if err != nil {
		return nil, err
	}
	site, err := h.Sites.GetSite(r.Context(), &corev1.SiteIdRequest{SiteId: id})
	if err != nil {
		return nil, err
	}
	return siteJSON(site), nil
}

func (h *Handlers) updateSite(r *Request) (any, error) {
	id, err := r.ID("siteId")
	if err != nil {
		return nil, err
	}
	b := r.Body.(*UpdateSiteBody)
	site, err := h.Sites.UpdateSite(r.Context(), &corev1.UpdateSiteRequest{
		SiteId: id, Name: b.Name, NiceId: b.NiceID, DockerSocketEnabled: b.DockerSocketEnabled, RemoteSubnets: b.RemoteSubnets,
	})
	if err != nil {
		return nil, err
	}
	return siteJSON(site), nil
}

func (h *Handlers) deleteSite(r *Request) (any, error) {
	id, err := r.ID("siteId")
	if err != nil {
		return nil, err
	}
	_, err = h.Sites.DeleteSite(r.Context(), &corev1.SiteIdRequest{SiteId: id})
	return nil, err
}
