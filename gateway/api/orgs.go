package api

import (
	"net/http"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Org is an organisation as the API shows it.
type Org struct {
	OrgID         string  `json:"orgId"`
	Name          string  `json:"name"`
	Subnet        *string `json:"subnet"`
	UtilitySubnet *string `json:"utilitySubnet"`
	CreatedAt     string  `json:"createdAt"`
}

// CreateOrgBody creates an org.
type CreateOrgBody struct {
	OrgID         *string `json:"orgId" binding:"required" doc:"1-32 lowercase letters, digits or underscores, in groups joined by single hyphens"`
	Name          *string `json:"name" binding:"required" doc:"1-255 characters"`
	Subnet        *string `json:"subnet" binding:"required" doc:"IPv4 CIDR of the org's overlay network, e.g. 100.90.128.0/24"`
	UtilitySubnet *string `json:"utilitySubnet" doc:"IPv4 CIDR for site-resource aliases; must not overlap subnet"`
}

// UpdateOrgBody changes an org; at least one field.
type UpdateOrgBody struct {
	Name *string `json:"name" doc:"1-255 characters"`
}

// OrgList is the answer of GET /orgs.
type OrgList struct {
	Orgs       []Org      `json:"orgs"`
	Pagination Pagination `json:"pagination"`
}

// OrgWrapper is the answer of GET /org/:orgId (Pangolin wraps it).
type OrgWrapper struct {
	Org Org `json:"org"`
}

// Empty is the `{}` data of a few answers.
type Empty struct{}

var orgRoutes = []Route{
	{
		Method: http.MethodGet, Path: "/org/checkId", Scope: RootOnly, Action: "checkOrgId", Tag: "Organization",
		Summary: "Check whether an organization id is taken (200 taken, 404 available; both successful)",
		Status:  http.StatusOK, Message: "Organization ID already exists", Response: Empty{},
		Query:  []QueryParam{{Name: "orgId", Type: "string", Required: true, Description: "The id to check."}},
		Handle: (*Handlers).checkOrgID,
	},
	{
		Method: http.MethodPut, Path: "/org", Scope: RootOnly, Action: "createOrg", Tag: "Organization",
		Summary: "Create an organization",
		Status:  http.StatusCreated, Message: "Organization created successfully",
		Body: CreateOrgBody{}, Response: Org{}, Handle: (*Handlers).createOrg,
	},
	{
		Method: http.MethodGet, Path: "/orgs", Scope: RootOnly, Action: "listOrgs", Tag: "Organization",
		Summary: "List organizations",
		Status:  http.StatusOK, Message: "Organizations retrieved successfully",
		Paged: true, Response: OrgList{}, Handle: (*Handlers).listOrgs,
	},
	{
		Method: http.MethodGet, Path: "/org/:orgId", Scope: OrgInPath, Action: "getOrg", Tag: "Organization",
		Summary: "Get an organization",
		Status:  http.StatusOK, Message: "Organization retrieved successfully",
		Response: OrgWrapper{}, Handle: (*Handlers).getOrg,
	},
	{
		Method: http.MethodPost, Path: "/org/:orgId", Scope: OrgInPath, Action: "updateOrg", Tag: "Organization",
		Summary: "Update an organization",
		Status:  http.StatusOK, Message: "Organization updated successfully",
		Body: UpdateOrgBody{}, Response: Org{}, Handle: (*Handlers).updateOrg,
	},
	{
		Method: http.MethodDelete, Path: "/org/:orgId", Scope: RootOnly, Action: "deleteOrg", Tag: "Organization",
		Summary: "Delete an organization with everything under it, its org-scoped API keys included",
		Status:  http.StatusOK, Message: "Organization deleted successfully",
		Handle: (*Handlers).deleteOrg,
	},
}

func orgJSON(o *corev1.Org) Org {
	return Org{OrgID: o.GetOrgId(), Name: o.GetName(), Subnet: o.Subnet, UtilitySubnet: o.UtilitySubnet, CreatedAt: o.GetCreatedAt()}
}

func (h *Handlers) checkOrgID(r *Request) (any, error) {
	res, err := h.Orgs.CheckOrgId(r.Context(), &corev1.OrgIdRequest{OrgId: r.Query("orgId")})
	if err != nil {
		return nil, err
	}
	if !res.GetExists() {
		return Reply{Status: http.StatusNotFound, Message: "Organization ID is available", Data: Empty{}}, nil
	}
	return Empty{}, nil
}

func (h *Handlers) createOrg(r *Request) (any, error) {
	b := r.Body.(*CreateOrgBody)
	org, err := h.Orgs.CreateOrg(r.Context(), &corev1.CreateOrgRequest{
		OrgId: *b.OrgID, Name: *b.Name, Subnet: *b.Subnet, UtilitySubnet: b.UtilitySubnet,
	})
	if err != nil {
		return nil, err
	}
	return orgJSON(org), nil
}

func (h *Handlers) listOrgs(r *Request) (any, error) {
	page, pagination, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.Orgs.ListOrgs(r.Context(), &corev1.ListOrgsRequest{Page: page})
	if err != nil {
		return nil, err
	}
	out := OrgList{Orgs: []Org{}, Pagination: pagination(int(res.GetTotal()))}
	for _, o := range res.GetOrgs() {
		out.Orgs = append(out.Orgs, orgJSON(o))
	}
	return out, nil
}

func (h *Handlers) getOrg(r *Request) (any, error) {
	org, err := h.Orgs.GetOrg(r.Context(), &corev1.OrgIdRequest{OrgId: r.Param("orgId")})
	if err != nil {
		return nil, err
	}
	return OrgWrapper{Org: orgJSON(org)}, nil
}

func (h *Handlers) updateOrg(r *Request) (any, error) {
	b := r.Body.(*UpdateOrgBody)
	org, err := h.Orgs.UpdateOrg(r.Context(), &corev1.UpdateOrgRequest{OrgId: r.Param("orgId"), Name: b.Name})
	if err != nil {
		return nil, err
	}
	return orgJSON(org), nil
}

func (h *Handlers) deleteOrg(r *Request) (any, error) {
	_, err := h.Orgs.DeleteOrg(r.Context(), &corev1.OrgIdRequest{OrgId: r.Param("orgId")})
	return nil, err
}
