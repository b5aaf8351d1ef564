package rpc

import (
	"context"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

type apiKeys struct {
	corev1.UnimplementedApiKeyServiceServer
	svc  *core.Service
	feed *Feed
}

func (s *apiKeys) Verify(ctx context.Context, req *corev1.VerifyRequest) (*corev1.Principal, error) {
	key, err := s.svc.Verify(ctx, req.GetApiKeyId(), req.GetSecret())
	if err != nil {
		return nil, toStatus(err)
	}
	return &corev1.Principal{ApiKeyId: key.ID, IsRoot: key.IsRoot, OrgIds: key.OrgIDs, ActionIds: key.ActionIDs}, nil
}

func (s *apiKeys) CreateOrgKey(ctx context.Context, req *corev1.CreateOrgKeyRequest) (*corev1.CreatedApiKey, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	key, err := s.svc.CreateOrgKey(ctx, c, req.GetOrgId(), req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	s.feed.Poke()
	return &corev1.CreatedApiKey{
		ApiKeyId: key.ID, Secret: key.Secret, Name: key.Name, LastChars: key.LastChars,
		CreatedAt: timestamp(key.CreatedAt),
	}, nil
}

func (s *apiKeys) ListOrgKeys(ctx context.Context, req *corev1.ListOrgKeysRequest) (*corev1.ListOrgKeysResponse, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	keys, total, err := s.svc.ListOrgKeys(ctx, c, req.GetOrgId(), page(req.GetPage()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &corev1.ListOrgKeysResponse{Total: int32(total)}
	for _, k := range keys {
		out.ApiKeys = append(out.ApiKeys, &corev1.ApiKey{
			ApiKeyId: k.ID, OrgId: req.GetOrgId(), Name: k.Name, LastChars: k.LastChars, CreatedAt: timestamp(k.CreatedAt),
		})
	}
	return out, nil
}

func (s *apiKeys) DeleteOrgKey(ctx context.Context, req *corev1.OrgKeyRequest) (*corev1.Empty, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	if err := s.svc.DeleteOrgKey(ctx, c, req.GetOrgId(), req.GetApiKeyId()); err != nil {
		return nil, toStatus(err)
	}
	s.feed.Poke()
	return &corev1.Empty{}, nil
}

func (s *apiKeys) SetKeyActions(ctx context.Context, req *corev1.SetKeyActionsRequest) (*corev1.Empty, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	if err := s.svc.SetKeyActions(ctx, c, req.GetOrgId(), req.GetApiKeyId(), req.GetActionIds()); err != nil {
		return nil, toStatus(err)
	}
	s.feed.Poke()
	return &corev1.Empty{}, nil
}

func (s *apiKeys) ListKeyActions(ctx context.Context, req *corev1.ListKeyActionsRequest) (*corev1.ListKeyActionsResponse, error) {
	c, err := caller(ctx, s.svc)
	if err != nil {
		return nil, err
	}
	ids, total, err := s.svc.ListKeyActions(ctx, c, req.GetOrgId(), req.GetApiKeyId(), page(req.GetPage()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &corev1.ListKeyActionsResponse{ActionIds: ids, Total: int32(total)}, nil
}

func (s *apiKeys) WatchKeyChanges(req *corev1.WatchKeyChangesRequest, stream corev1.ApiKeyService_WatchKeyChangesServer) error {
	err := s.feed.Stream(stream.Context(), req.GetAfterSeq(), req.GetResume(), func(seq int64, keyID string, reset bool) error {
		return stream.Send(&corev1.KeyChange{Seq: seq, ApiKeyId: keyID, Reset_: reset})
	})
	if err != nil && stream.Context().Err() == nil {
		return toStatus(core.Errorf(core.CodeUnavailable, "key change feed interrupted"))
	}
	return nil
}

// timestamp formats times as Pangolin does: ISO-8601 UTC with milliseconds.
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
