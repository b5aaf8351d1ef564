package core

import (
	"context"
	"math"
	"strings"
	"time"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// InvitationStore is what invitations need of storage.
type InvitationStore interface {
	GetOrg(ctx context.Context, id string) (*corev1.Org, error)
	// CheckInvite refuses what CreateInvite would refuse for an invitation
	// of email to the org with roleID, before a token is hashed: a role not
	// of the org → RoleNotInOrg, a member with that address →
	// InviteeIsMember, an invitation for it without regenerate →
	// InviteExists, a fourth regeneration within the hour → TooManyRegenerations.
	CheckInvite(ctx context.Context, inv *PendingInvite) error
	// CreateInvite stores the invitation, or gives the existing one of its
	// (org, email) the new token hash, expiry and role when regenerating,
	// with the checks of CheckInvite made again, and returns the invitation
	// as stored.
	CreateInvite(ctx context.Context, inv *PendingInvite) (*corev1.Invitation, error)
	ListInvitations(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.Invitation, int32, error)
	// RemoveInvitation: missing or of another org → InvitationNotFound.
	RemoveInvitation(ctx context.Context, orgID, inviteID string) error
}

// PendingInvite is an invitation about to be stored.
type PendingInvite struct {
	ID, OrgID, Email string
	RoleID           int64
	// ExpiresAt and Now are epoch milliseconds.
	ExpiresAt, Now int64
	TokenHash      string
	Regenerate     bool
}

// Invitation ids and tokens are Pangolin's: 10 and 32 characters of
// [A-Za-z0-9].
const (
	inviteIDLength    = 10
	inviteTokenLength = 32
	maxValidHours     = 168
	// MaxRegenerations is how many times an invitation can be regenerated
	// in an hour.
	MaxRegenerations = 3
)

func InvitationNotFound(id, orgID string) error {
	return Errorf(CodeNotFound, "Invitation with ID %s not found in organization %s", id, orgID)
}

func InviteExists() error {
	return Errorf(CodeConflict, "An invitation for this user already exists: send regenerate: true for a new link")
}

func InviteeIsMember() error {
	return Errorf(CodeConflict, "User is already a member of this organization")
}

func TooManyRegenerations() error {
	return Errorf(CodeExhausted, "This invitation was regenerated %d times in the last hour: retry later", MaxRegenerations)
}

// Invitations is the InvitationService.
type Invitations struct {
	corev1.UnimplementedInvitationServiceServer
	store  InvitationStore
	hasher *Hasher
	// dashboardURL starts invite links (app.dashboard_url).
	dashboardURL func() string
	now          func() time.Time
}

// CreateInvite stores an invitation (or regenerates one) and answers it
// with its link, whose token is shown this once and stored as a hash.
func (s *Invitations) CreateInvite(ctx context.Context, req *corev1.CreateInviteRequest) (*corev1.CreatedInvite, error) {
	email, err := checkEmail("email", req.GetEmail())
	if err != nil {
		return nil, err
	}
	roleID, err := oneRole(req.RoleId, req.GetRoleIds())
	if err != nil {
		return nil, err
	}
	hours := req.GetValidHours()
	if !(hours > 0 && hours <= maxValidHours) || math.IsNaN(hours) {
		return nil, Errorf(CodeInvalid, "Validation error: validHours must be more than 0 and at most %d", maxValidHours)
	}
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	now := s.now()
	inv := &PendingInvite{
		ID: randomString(mixedAlphabet, inviteIDLength), OrgID: req.GetOrgId(), Email: email, RoleID: roleID,
		ExpiresAt: now.Add(time.Duration(hours * float64(time.Hour))).UnixMilli(), Now: now.UnixMilli(),
		Regenerate: req.GetRegenerate(),
	}
	// The cheap refusals first: a refused request costs no hash.
	if err := s.store.CheckInvite(ctx, inv); err != nil {
		return nil, err
	}
	token := randomString(mixedAlphabet, inviteTokenLength)
	if inv.TokenHash, err = s.hasher.Hash(ctx, token); err != nil {
		return nil, err
	}
	stored, err := s.store.CreateInvite(ctx, inv)
	if err != nil {
		return nil, err
	}
	return &corev1.CreatedInvite{
		InviteLink: strings.TrimRight(s.dashboardURL(), "/") + "/invite?token=" + stored.GetInviteId() + "-" + token,
		ExpiresAt:  stored.GetExpiresAt(),
		InviteId:   stored.GetInviteId(),
		Email:      stored.GetEmail(),
		Roles:      stored.GetRoles(),
	}, nil
}

// ListInvitations lists the invitations of an org, expired ones too.
func (s *Invitations) ListInvitations(ctx context.Context, req *corev1.ListInvitationsRequest) (*corev1.ListInvitationsResponse, error) {
	if _, err := s.store.GetOrg(ctx, req.GetOrgId()); err != nil {
		return nil, err
	}
	list, total, err := s.store.ListInvitations(ctx, req.GetOrgId(), req.GetPage())
	return &corev1.ListInvitationsResponse{Invitations: list, Total: total}, err
}

// RemoveInvitation deletes an invitation.
func (s *Invitations) RemoveInvitation(ctx context.Context, req *corev1.InvitationRequest) (*corev1.NoData, error) {
	return &corev1.NoData{}, s.store.RemoveInvitation(ctx, req.GetOrgId(), req.GetInviteId())
}
