package core

import "time"

// Org is an organisation: the tenant boundary of every other object.
type Org struct {
	ID            string
	Name          string
	Subnet        *string
	UtilitySubnet *string
	CreatedAt     time.Time
}

// Site is a tunnel endpoint of an org (newt agent, WireGuard peer or local).
type Site struct {
	ID                  int64
	OrgID               string
	NiceID              string
	ExitNodeID          *int64
	Name                string
	PubKey              *string
	Subnet              *string
	MegabytesIn         float64
	MegabytesOut        float64
	LastBandwidthUpdate *string
	Type                string
	Online              bool
	Address             *string
	Endpoint            *string
	PublicKey           *string
	LastHolePunch       *int64
	ListenPort          *int32
	DockerSocketEnabled bool
	RemoteSubnets       *string

	// Filled by reads that join other tables.
	OrgName     string
	NewtVersion *string
}

// Site types.
const (
	SiteNewt      = "newt"
	SiteWireGuard = "wireguard"
	SiteLocal     = "local"
)

// SiteUpdate holds the fields an update sets; nil means unchanged.
type SiteUpdate struct {
	Name                *string
	NiceID              *string
	DockerSocketEnabled *bool
	RemoteSubnets       *string
}

// Newt is a newt agent's credential; the secret is stored only as a hash.
type Newt struct {
	ID         string
	SecretHash string
	SiteID     int64
	CreatedAt  time.Time
}

// ExitNode is a gerbil instance sites tunnel to. Read-only for the API.
type ExitNode struct {
	ID         int64
	Name       string
	Address    string
	Endpoint   string
	PublicKey  string
	ListenPort int32
}

// APIKey is an Integration API key. The secret is never stored: Hash is its
// argon2id PHC string.
type APIKey struct {
	ID        string
	Name      string
	Hash      string
	LastChars string
	IsRoot    bool
	CreatedAt time.Time
	// OrgIDs and ActionIDs are filled by GetAPIKey.
	OrgIDs    []string
	ActionIDs []string
}

// KeyChange records that a key was created, deleted or had its scope
// changed. The log is durable so that a gateway that reconnects can replay
// what it missed.
type KeyChange struct {
	Seq   int64
	KeyID string
}

// Page is a window of a list; Limit 0 means no limit.
type Page struct {
	Limit  int
	Offset int
}
