package api

import (
	"net/http"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// CreateKeyBody names a new org key.
type CreateKeyBody struct {
	Name *string `json:"name" binding:"required" doc:"1-255 characters"`
}

// CreatedKey is a new key. apiKey is its secret, shown this once: the full
// bearer token is "<apiKeyId>.<apiKey>".
type CreatedKey struct {
	APIKeyID  string `json:"apiKeyId"`
	APIKey    string `json:"apiKey"`
	Name      string `json:"name"`
	LastChars string `json:"lastChars"`
	CreatedAt string `json:"createdAt"`
}

// KeyListItem is a key in a list; never its hash or secret.
type KeyListItem struct {
	APIKeyID  string `json:"apiKeyId"`
	OrgID     string `json:"orgId"`
	LastChars string `json:"lastChars"`
	CreatedAt string `json:"createdAt"`
	Name      string `json:"name"`
}

// KeyList is the answer of GET /org/:orgId/api-keys.
type KeyList struct {
	APIKeys    []KeyListItem `json:"apiKeys"`
	Pagination Pagination    `json:"pagination"`
}

// SetKeyActionsBody replaces a key's actions.
type SetKeyActionsBody struct {
	ActionIDs []string `json:"actionIds" binding:"required" doc:"Every action id the key may use; [] removes all"`
}

// KeyAction is one granted action.
type KeyAction struct {
	ActionID string `json:"actionId"`
}

// KeyActionList is the answer of GET …/actions.
type KeyActionList struct {
	Actions    []KeyAction `json:"actions"`
	Pagination Pagination  `json:"pagination"`
}

var keyRoutes = []Route{
	{
		Method: http.MethodPut, Path: "/org/:orgId/api-key", Scope: RootOnly, Action: "createApiKey", Tag: "API Key",
		Summary: "Create an organization API key (no actions until granted); the secret is shown once",
		Status:  http.StatusCreated, Message: "API key created",
		Body: CreateKeyBody{}, LenientBody: true, Response: CreatedKey{}, Handle: (*Handlers).createKey,
	},
	{
		Method: http.MethodGet, Path: "/org/:orgId/api-keys", Scope: RootOnly, Action: "listApiKeys", Tag: "API Key",
		Summary: "List the API keys of an organization",
		Status:  http.StatusOK, Message: "API keys retrieved successfully",
		Paged: true, Response: KeyList{}, Handle: (*Handlers).listKeys,
	},
	{
		Method: http.MethodDelete, Path: "/org/:orgId/api-key/:apiKeyId", Scope: RootOnly, Action: "deleteApiKey", Tag: "API Key",
		Summary: "Delete an API key of the organization; every gateway stops honouring it within a second",
		Status:  http.StatusOK, Message: "API key deleted successfully",
		Handle: (*Handlers).deleteKey,
	},
	{
		Method: http.MethodPost, Path: "/org/:orgId/api-key/:apiKeyId/actions", Scope: RootOnly, Action: "setApiKeyActions", Tag: "API Key",
		Summary: "Replace the actions of an organization API key",
		Status:  http.StatusOK, Message: "API key actions updated successfully",
		Body: SetKeyActionsBody{}, Response: Empty{}, Handle: (*Handlers).setKeyActions,
	},
	{
		Method: http.MethodGet, Path: "/org/:orgId/api-key/:apiKeyId/actions", Scope: RootOnly, Action: "listApiKeyActions", Tag: "API Key",
		Summary: "List the actions of an organization API key",
		Status:  http.StatusOK, Message: "API keys retrieved successfully",
		Paged: true, Response: KeyActionList{}, Handle: (*Handlers).listKeyActions,
	},
}

func (h *Handlers) createKey(r *Request) (any, error) {
	b := r.Body.(*CreateKeyBody)
	key, err := h.Keys.CreateOrgKey(r.Context(), &corev1.CreateOrgKeyRequest{OrgId: r.Param("orgId"), Name: *b.Name})
	if err != nil {
		return nil, err
	}
	return CreatedKey{
		APIKeyID: key.GetApiKeyId(), APIKey: key.GetSecret(), Name: key.GetName(),
		LastChars: key.GetLastChars(), CreatedAt: key.GetCreatedAt(),
	}, nil
}

func (h *Handlers) listKeys(r *Request) (any, error) {
	page, pagination, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.Keys.ListOrgKeys(r.Context(), &corev1.ListOrgKeysRequest{OrgId: r.Param("orgId"), Page: page})
	if err != nil {
		return nil, err
	}
	out := KeyList{APIKeys: []KeyListItem{}, Pagination: pagination(int(res.GetTotal()))}
	for _, k := range res.GetApiKeys() {
		out.APIKeys = append(out.APIKeys, KeyListItem{
			APIKeyID: k.GetApiKeyId(), OrgID: k.GetOrgId(), LastChars: k.GetLastChars(), CreatedAt: k.GetCreatedAt(), Name: k.GetName(),
		})
	}
	return out, nil
}

func (h *Handlers) deleteKey(r *Request) (any, error) {
	_, err := h.Keys.DeleteOrgKey(r.Context(), &corev1.OrgKeyRequest{OrgId: r.Param("orgId"), ApiKeyId: r.Param("apiKeyId")})
	return nil, err
}

func (h *Handlers) setKeyActions(r *Request) (any, error) {
	b := r.Body.(*SetKeyActionsBody)
	_, err := h.Keys.SetKeyActions(r.Context(), &corev1.SetKeyActionsRequest{
		OrgId: r.Param("orgId"), ApiKeyId: r.Param("apiKeyId"), ActionIds: b.ActionIDs,
	})
	if err != nil {
		return nil, err
	}
	return Empty{}, nil
}

func (h *Handlers) listKeyActions(r *Request) (any, error) {
	page, pagination, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.Keys.ListKeyActions(r.Context(), &corev1.ListKeyActionsRequest{
		OrgId: r.Param("orgId"), ApiKeyId: r.Param("apiKeyId"), Page: page,
	})
	if err != nil {
		return nil, err
	}
	out := KeyActionList{Actions: []KeyAction{}, Pagination: pagination(int(res.GetTotal()))}
	for _, id := range res.GetActionIds() {
		out.Actions = append(out.Actions, KeyAction{ActionID: id})
	}
	return out, nil
}
