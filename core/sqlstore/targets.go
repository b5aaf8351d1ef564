package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// targets holds corev1.Target, health check included; lists read
// corev1.TargetListItem, with the site's name and type.
var targets = &table{
	name: "targets", alias: "t", generated: "target_id",
	columns: []string{
		"target_id", "resource_id", "site_id", "ip", "method", "port", "internal_port", "enabled", "path",
		"path_match_type", "rewrite_path", "rewrite_path_type", "priority", "mode", "hc_enabled", "hc_path",
		"hc_scheme", "hc_mode", "hc_hostname", "hc_port", "hc_interval", "hc_unhealthy_interval", "hc_timeout",
		"hc_headers", "hc_follow_redirects", "hc_method", "hc_status", "hc_tls_server_name",
		"hc_healthy_threshold", "hc_unhealthy_threshold", "hc_health",
	},
	computed: map[string]string{
		"site_name": `(SELECT s.name FROM sites s WHERE s.site_id = t.site_id)`,
		"site_type": `(SELECT s.type FROM sites s WHERE s.site_id = t.site_id)`,
	},
}

func getTarget(ctx context.Context, q querier, id int64, tail string) (*corev1.Target, error) {
	t := &corev1.Target{}
	err := getRow(ctx, q, targets, t, `WHERE t.target_id = $1`+tail, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.TargetNotFound(id)
	}
	return t, err
}

// CreateTarget stores t (its resource and site must exist) and returns it
// as stored.
func (s *Store) CreateTarget(ctx context.Context, t *corev1.Target) (*corev1.Target, error) {
	var stored *corev1.Target
	err := s.write(ctx, func(tx *tx) error {
		id, err := insert(ctx, tx, targets, t)
		if foreignKeyViolation(err) {
			return core.Errorf(core.CodeNotFound, "The target's resource or site no longer exists")
		}
		if err != nil {
			return err
		}
		stored, err = getTarget(ctx, tx, id, "")
		return err
	})
	return stored, internal("create target", err)
}

// GetTarget returns the target.
func (s *Store) GetTarget(ctx context.Context, id int64) (*corev1.Target, error) {
	t, err := getTarget(ctx, s.reader, id, "")
	return t, internal("get target", err)
}

// TargetOrg returns the org of the target's resource.
func (s *Store) TargetOrg(ctx context.Context, id int64) (string, error) {
	return objectOrg(ctx, s.reader, "target org",
		`SELECT r.org_id FROM targets t JOIN resources r ON r.resource_id = t.resource_id WHERE t.target_id = $1`, id, core.TargetNotFound)
}

// ListTargets returns a page of the resource's targets by id, and how many
// it has.
func (s *Store) ListTargets(ctx context.Context, resourceID int64, page *corev1.Page) ([]*corev1.TargetListItem, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.TargetListItem](ctx, s.reader, targets,
		`WHERE t.resource_id = $1 ORDER BY t.target_id LIMIT $2 OFFSET $3`, resourceID, limit, offset)
	if err != nil {
		return nil, 0, internal("list targets", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM targets WHERE resource_id = $1`, resourceID)
	return list, total, internal("count targets", err)
}

// UpdateTarget reads the target (locked on PostgreSQL), lets change modify
// it and writes the result, in one transaction. Its id and resource never
// change.
func (s *Store) UpdateTarget(ctx context.Context, id int64, change func(*corev1.Target) error) (*corev1.Target, error) {
	var stored *corev1.Target
	err := s.write(ctx, func(tx *tx) error {
		t, err := getTarget(ctx, tx, id, s.dialect.forUpdate())
		if err != nil {
			return err
		}
		resourceID := t.GetResourceId()
		if err := change(t); err != nil {
			return err
		}
		t.TargetId, t.ResourceId = id, resourceID
		_, err = updateRow(ctx, tx, targets, t, "target_id", "resource_id")
		if foreignKeyViolation(err) {
			return core.SiteNotFound(t.GetSiteId())
		}
		if err != nil {
			return err
		}
		stored, err = getTarget(ctx, tx, id, "")
		return err
	})
	return stored, internal("update target", err)
}

// DeleteTarget deletes the target.
func (s *Store) DeleteTarget(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM targets WHERE target_id = $1`, id)
		if err != nil {
			return err
		}
		return deletedOne(res, core.TargetNotFound(id))
	})
	return internal("delete target", err)
}

// SiteInternalPorts returns the internal ports of the site's targets.
func (s *Store) SiteInternalPorts(ctx context.Context, siteID int64) ([]int32, error) {
	rows, err := s.reader.QueryContext(ctx,
		`SELECT internal_port FROM targets WHERE site_id = $1 AND internal_port IS NOT NULL ORDER BY internal_port`, siteID)
	if err != nil {
		return nil, internal("site internal ports", err)
	}
	defer rows.Close()
	ports := []int32{}
	for rows.Next() {
		var p int32
		if err := rows.Scan(&p); err != nil {
			return nil, internal("site internal ports", err)
		}
		ports = append(ports, p)
	}
	return ports, internal("site internal ports", rows.Err())
}
