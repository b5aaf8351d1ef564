package core

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"

	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// ResourceStore is what the resource service needs of storage.
type ResourceStore interface {
	// CreateResource stores r in its org, links the org's Admin role to it,
	// and returns it as stored. A taken fullDomain, (protocol, proxyPort)
	// or niceId → Conflict.
	CreateResource(ctx context.Context, r *corev1.Resource) (*corev1.Resource, error)
	// GetResource: missing → ResourceNotFound.
	GetResource(ctx context.Context, id int64) (*corev1.Resource, error)
	// ResourceOrg returns the org a resource lies in; missing →
	// ResourceNotFound.
	ResourceOrg(ctx context.Context, id int64) (string, error)
	GetSite(ctx context.Context, id int64) (*corev1.Site, error)
}

// ResourceNotFound is the answer for a resource id that does not exist or
// lies in an org the caller cannot reach.
func ResourceNotFound(id int64) error {
	return Errorf(CodeNotFound, "Resource with ID %d not found", id)
}

// Resources is the ResourceService.
type Resources struct {
	corev1.UnimplementedResourceServiceServer
	store ResourceStore
	// allowRaw is flags.allow_raw_resources (see Service.Configure).
	allowRaw atomic.Bool
}

// Reach resolves a resource id (access scope OBJECT, object "resource"): a
// resource in an org the caller cannot reach is as missing as one that
// never existed.
func (s *Resources) Reach(ctx context.Context, c Caller, id protoreflect.Value) error {
	resourceID := id.Int()
	orgID, err := s.store.ResourceOrg(ctx, resourceID)
	if err != nil {
		return err
	}
	if !c.Reaches(orgID) {
		return ResourceNotFound(resourceID)
	}
	return nil
}

// GetResource reads a resource with the name of its site.
func (s *Resources) GetResource(ctx context.Context, req *corev1.ResourceIdRequest) (*corev1.GetResourceResponse, error) {
	r, err := s.store.GetResource(ctx, req.GetResourceId())
	if err != nil {
		return nil, err
	}
	return s.withSiteName(ctx, r)
}

func (s *Resources) withSiteName(ctx context.Context, r *corev1.Resource) (*corev1.GetResourceResponse, error) {
	out := &corev1.GetResourceResponse{Resource: r}
	if r.SiteId != nil {
		site, err := s.store.GetSite(ctx, r.GetSiteId())
		if err != nil {
			return nil, err
		}
		out.SiteName = &site.Name
	}
	return out, nil
}

// newGUID returns a random (version 4) UUID, a resource's resourceGuid.
func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
