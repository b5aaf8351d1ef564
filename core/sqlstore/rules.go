package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// rules holds corev1.Rule.
var rules = &table{
	name: "resource_rules", alias: "u", generated: "rule_id",
	columns: []string{"rule_id", "resource_id", "enabled", "priority", "action", "match", "value", "method"},
}

// getRule reads a rule of the resource: a rule of another resource is as
// missing as one that does not exist.
func getRule(ctx context.Context, q querier, resourceID, ruleID int64, tail string) (*corev1.Rule, error) {
	r := &corev1.Rule{}
	err := getRow(ctx, q, rules, r, `WHERE u.rule_id = $1 AND u.resource_id = $2`+tail, ruleID, resourceID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.RuleNotFound(ruleID)
	}
	return r, err
}

// CreateRule stores r and returns it as stored.
func (s *Store) CreateRule(ctx context.Context, r *corev1.Rule) (*corev1.Rule, error) {
	var stored *corev1.Rule
	err := s.write(ctx, func(tx *tx) error {
		id, err := insert(ctx, tx, rules, r)
		if foreignKeyViolation(err) {
			return core.ResourceNotFound(r.GetResourceId())
		}
		if err != nil {
			return err
		}
		stored, err = getRule(ctx, tx, r.GetResourceId(), id, "")
		return err
	})
	return stored, internal("create rule", err)
}

// ListRules returns a page of the resource's rules by priority, then id,
// and how many it has.
func (s *Store) ListRules(ctx context.Context, resourceID int64, page *corev1.Page) ([]*corev1.Rule, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.Rule](ctx, s.reader, rules,
		`WHERE u.resource_id = $1 ORDER BY u.priority, u.rule_id LIMIT $2 OFFSET $3`, resourceID, limit, offset)
	if err != nil {
		return nil, 0, internal("list rules", err)
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM resource_rules WHERE resource_id = $1`, resourceID)
	return list, total, internal("count rules", err)
}

// UpdateRule reads the resource's rule (locked on PostgreSQL), lets change
// modify it and writes the result, in one transaction.
func (s *Store) UpdateRule(ctx context.Context, resourceID, ruleID int64, change func(*corev1.Rule) error) (*corev1.Rule, error) {
	var stored *corev1.Rule
	err := s.write(ctx, func(tx *tx) error {
		r, err := getRule(ctx, tx, resourceID, ruleID, s.dialect.forUpdate())
		if err != nil {
			return err
		}
		if err := change(r); err != nil {
			return err
		}
		r.RuleId, r.ResourceId = ruleID, resourceID
		if _, err := updateRow(ctx, tx, rules, r, "rule_id", "resource_id"); err != nil {
			return err
		}
		stored, err = getRule(ctx, tx, resourceID, ruleID, "")
		return err
	})
	return stored, internal("update rule", err)
}

// DeleteRule deletes the resource's rule.
func (s *Store) DeleteRule(ctx context.Context, resourceID, ruleID int64) error {
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM resource_rules WHERE rule_id = $1 AND resource_id = $2`, ruleID, resourceID)
		if err != nil {
			return err
		}
		return deletedOne(res, core.RuleNotFound(ruleID))
	})
	return internal("delete rule", err)
}
