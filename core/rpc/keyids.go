package rpc

import (
	"context"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ListKeyIds and KeyChangePosition let a gateway tell which key ids exist
// without asking Verify: it keeps the listed ids plus those its change
// stream names, and before refusing an id it has not seen it checks that
// its stream has caught up with the log (a key created a moment ago).

func (s apiKeys) ListKeyIds(ctx context.Context, _ *corev1.ListKeyIdsRequest) (*corev1.ListKeyIdsResponse, error) {
	keys, err := s.Keys.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.GetApiKeyId()
	}
	return &corev1.ListKeyIdsResponse{ApiKeyIds: ids}, nil
}

func (s apiKeys) KeyChangePosition(ctx context.Context, _ *corev1.KeyChangePositionRequest) (*corev1.KeyChangePositionResponse, error) {
	_, newest, err := s.feed.store.KeyChangeBounds(ctx)
	if err != nil {
		return nil, err
	}
	// The caller is about to wait for its stream to reach newest: this
	// core's streams send it now rather than at the next poll.
	s.feed.advance(newest)
	return &corev1.KeyChangePositionResponse{Seq: newest}, nil
}
