package core

import (
	"context"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Health is the HealthService: the core answers while it serves. (The
// gateway answers GET /v1/ itself; this is for callers of the core.)
type Health struct {
	corev1.UnimplementedHealthServiceServer
}

// Health answers "Healthy".
func (Health) Health(context.Context, *corev1.NoData) (*corev1.HealthStatus, error) {
	return &corev1.HealthStatus{Message: "Healthy"}, nil
}
