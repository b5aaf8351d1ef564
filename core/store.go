package core

import (
	"context"
	"time"
)

// Store is the persistence contract of the core. Every method is atomic: a
// method that touches several rows does so in one transaction. Errors the
// client may see are *Error (NotFound, Conflict, Invalid); anything else is
// an internal failure.
type Store interface {
	// API keys. Every write also appends to the key change log, in the same
	// transaction.
	CreateAPIKey(ctx context.Context, key APIKey, orgID string, actionIDs []string) error
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	// APIKeyScope is the part of a key tenancy needs (root, orgs), read in
	// one query: the core asks it on every call. Missing → CodeNotFound.
	APIKeyScope(ctx context.Context, id string) (isRoot bool, orgIDs []string, err error)
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	ListOrgAPIKeys(ctx context.Context, orgID string, page Page) ([]APIKey, int, error)
	DeleteAPIKey(ctx context.Context, id string) error
	SetAPIKeyActions(ctx context.Context, id string, actionIDs []string) error
	ListAPIKeyActions(ctx context.Context, id string, page Page) ([]string, int, error)
	CountRootKeys(ctx context.Context) (int, error)

	// Key change log.
	KeyChangesAfter(ctx context.Context, seq int64, limit int) ([]KeyChange, error)
	// KeyChangeBounds returns the oldest and newest sequence numbers still in
	// the log (0, 0 when empty).
	KeyChangeBounds(ctx context.Context) (oldest, newest int64, err error)
	PruneKeyChanges(ctx context.Context, before time.Time) error

	// Orgs. DeleteOrg removes the org, everything under it and the org-scoped
	// keys linked to it.
	CreateOrg(ctx context.Context, org Org) (Org, error)
	GetOrg(ctx context.Context, id string) (Org, error)
	ListOrgs(ctx context.Context, page Page) ([]Org, int, error)
	UpdateOrg(ctx context.Context, id string, name *string) (Org, error)
	DeleteOrg(ctx context.Context, id string) error

	// Sites. CreateSite stores the newt credential with the site when given.
	CreateSite(ctx context.Context, site Site, newt *Newt) (Site, error)
	GetSite(ctx context.Context, id int64) (Site, error)
	GetSiteByNiceID(ctx context.Context, orgID, niceID string) (Site, error)
	ListSites(ctx context.Context, orgID string, page Page) ([]Site, int, error)
	UpdateSite(ctx context.Context, id int64, update SiteUpdate) (Site, error)
	DeleteSite(ctx context.Context, id int64) error
	// OrgAddresses returns the overlay addresses used in the org (sites).
	OrgAddresses(ctx context.Context, orgID string) ([]string, error)
	// FirstExitNode returns nil when the server has no exit node.
	FirstExitNode(ctx context.Context) (*ExitNode, error)
	// GetExitNode: missing → CodeNotFound "Exit node not found".
	GetExitNode(ctx context.Context, id int64) (ExitNode, error)
	// ExitNodeSubnets returns the non-null subnets of the sites on an exit node.
	ExitNodeSubnets(ctx context.Context, exitNodeID int64) ([]string, error)

	Close() error
}
