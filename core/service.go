package core

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Store is what a whole core persists: the union of what each service
// declares it needs, plus the key change log the transport follows.
// sqlstore.Store implements it.
type Store interface {
	OrgStore
	SiteStore
	ResourceStore
	DomainStore
	TargetStore
	RuleStore
	ResourceAuthStore
	ResourceAccessStore
	AccessTokenStore
	ClientStore
	SiteResourceStore
	RoleStore
	UserStore
	InvitationStore
	IdpStore
	KeyStore
	AuditStore
	IdempotencyStore
	// KeyChangesAfter returns up to limit log entries after seq, in order.
	KeyChangesAfter(ctx context.Context, seq int64, limit int) ([]*corev1.KeyChange, error)
	// KeyChangeBounds returns the oldest and newest sequence numbers still
	// in the log (0, 0 when empty).
	KeyChangeBounds(ctx context.Context) (oldest, newest int64, err error)
	PruneKeyChanges(ctx context.Context, before time.Time) error
}

// Service is the core: one service per aggregate, each implementing its
// gRPC server interface with the proto messages as its domain types, and
// the server admin's key operations (which have no route). The transport
// (rpc/) registers the services, resolves the Caller of each call and
// applies its access rule before a method runs.
type Service struct {
	Orgs      *Orgs
	Sites     *Sites
	Resources *Resources
	Domains   *Domains
	Targets   *Targets
	Rules     *Rules
	// ResourceAuth and ResourceAccess are the resource's visitor
	// authentication and its grants to roles and users.
	ResourceAuth   *ResourceAuth
	ResourceAccess *ResourceAccess
	AccessTokens   *AccessTokens
	// Clients are OLM clients; PrivateResources the site resources they
	// reach and their grants.
	Clients          *Clients
	PrivateResources *PrivateResources
	Roles            *Roles
	Users            *Users
	Invitations      *Invitations
	Idps             *Idps
	Keys             *Keys
	// KeyUses records when each key was last used; the transport notes
	// every call's key and runs its writer.
	KeyUses *KeyUses
	// Audit is the API call log; Idempotency the gateways' memory of
	// requests sent with an Idempotency-Key.
	Audit       *Audit
	Idempotency *Idempotency
	Health      Health
	// Hasher computes every argon2id hash of the core, under one bound (see
	// Hasher). A service that stores or checks a secret gets this one in
	// NewService; none builds its own.
	Hasher *Hasher
	store  Store
	// dashboardURL is app.dashboard_url, which invite links and identity
	// provider redirect URLs start with (see Configure).
	dashboardURL atomic.Pointer[string]
}

// Option tunes NewService.
type Option func(*HashLimits)

// WithHashWait sets how long a hash waits for a slot before its caller is
// told to retry later (HashLimits.Wait).
func WithHashWait(d time.Duration) Option {
	return func(l *HashLimits) { l.Wait = d }
}

// NewService returns the core over store. hashConcurrency bounds the
// argon2id hashes (key verification and creation, newt secrets, …) that
// run at once, all services together; 0 picks DefaultHashConcurrency.
func NewService(store Store, hashConcurrency int, log *slog.Logger, opts ...Option) *Service {
	if log == nil {
		log = slog.Default()
	}
	limits := HashLimits{Concurrency: hashConcurrency}
	for _, o := range opts {
		o(&limits)
	}
	hasher := NewHasher(limits)
	svc := &Service{
		Orgs:      &Orgs{store: store},
		Sites:     &Sites{store: store, hasher: hasher},
		Resources: &Resources{store: store},
		Domains:   &Domains{store: store},
		Targets:   &Targets{store: store},
		Rules:     &Rules{store: store},
		// Visitor secrets (passwords, PINs, header auth) are hashed under
		// the core's one bound, like keys and newt secrets.
		ResourceAuth:   &ResourceAuth{store: store, hash: hasher.Hash},
		ResourceAccess: &ResourceAccess{store: store},
		AccessTokens:   &AccessTokens{store: store, now: time.Now},
		// OLM secrets are hashed under the core's one bound.
		Clients:          &Clients{store: store, hasher: hasher},
		PrivateResources: &PrivateResources{store: store},
		Roles:            &Roles{store: store},
		Users:            &Users{store: store},
		Keys:             &Keys{store: store, hasher: hasher, log: log},
		KeyUses:          NewKeyUses(store, log),
		Audit:            &Audit{store: store, idem: store},
		Idempotency:      &Idempotency{store: store, now: time.Now},
		Hasher:           hasher,
		store:            store,
	}
	defaultURL := DefaultDashboardURL
	svc.dashboardURL.Store(&defaultURL)
	dashboard := func() string { return *svc.dashboardURL.Load() }
	// The invitation token and the providers' client secrets are hashed
	// under the core's one bound.
	svc.Invitations = &Invitations{store: store, hasher: hasher, dashboardURL: dashboard, now: time.Now}
	svc.Idps = &Idps{store: store, hasher: hasher, dashboardURL: dashboard}
	return svc
}

// DefaultDashboardURL is app.dashboard_url when the config sets none:
// Pangolin's dashboard on its default port.
const DefaultDashboardURL = "http://localhost:3002"

// Settings are what the core takes from the config file besides its
// transport and its database.
type Settings struct {
	// AllowRawResources lets resources be raw TCP/UDP ports
	// (flags.allow_raw_resources).
	AllowRawResources bool
	// Domains are the server's domains (domains.<key>).
	Domains []ConfigDomain
	// DashboardURL is Pangolin's dashboard (app.dashboard_url): invite
	// links and identity provider redirect URLs point there. Empty keeps
	// DefaultDashboardURL.
	DashboardURL string
	// AuditRetention is how long API call records are kept
	// (audit.retention); 0 means DefaultAuditRetention.
	AuditRetention time.Duration
}

// Configure applies the config file's settings; call it before serving.
// The server domains are synced into the store: stored, verified and
// linked to every org, and the config-managed domains no longer listed are
// removed.
func (s *Service) Configure(ctx context.Context, set Settings) error {
	s.Resources.allowRaw.Store(set.AllowRawResources)
	if set.DashboardURL != "" {
		s.dashboardURL.Store(&set.DashboardURL)
	}
	s.Audit.retention.Store(int64(set.AuditRetention))
	return s.store.SyncConfigDomains(ctx, configDomains(set.Domains))
}

// Store returns the service's store, for the transport's change feed.
func (s *Service) Store() Store { return s.store }

// Objects returns how the core resolves each kind of object an access rule
// of scope OBJECT names (access.object) to the caller's reach. The
// transport refuses to start when the contract names a kind missing here.
func (s *Service) Objects() map[string]Reach {
	return map[string]Reach{
		"site":          s.Sites.Reach,
		"resource":      s.Resources.Reach,
		"target":        s.Targets.Reach,
		"access_token":  s.AccessTokens.Reach,
		"client":        s.Clients.Reach,
		"site_resource": s.PrivateResources.Reach,
		"role":          s.Roles.Reach,
	}
}

// CreateRootKey creates a key with access to every org. Server admin only:
// there is no API route for it.
func (s *Service) CreateRootKey(ctx context.Context, name string, actionIDs []string) (CreatedKey, error) {
	return s.Keys.CreateRootKey(ctx, name, actionIDs)
}

// EnsureRootKey creates a root key with every action when the server has
// none (first start of the embedded default).
func (s *Service) EnsureRootKey(ctx context.Context, name string) (CreatedKey, bool, error) {
	return s.Keys.EnsureRootKey(ctx, name)
}

// ListKeys lists every key with its scope. Server admin only.
func (s *Service) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	return s.Keys.ListKeys(ctx)
}

// DeleteKey deletes any key. Server admin only.
func (s *Service) DeleteKey(ctx context.Context, keyID string) error {
	return s.Keys.DeleteKey(ctx, keyID)
}

// TimeFormat is how the core writes times: ISO-8601 UTC with milliseconds,
// as Pangolin shows them.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Timestamp formats t in TimeFormat.
func Timestamp(t time.Time) string { return t.UTC().Format(TimeFormat) }
