package sqlstore

import (
	"context"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

func testRules(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	other := mkResource(t, s, httpResource("acme", "other", "other.example.com"))
	mk := func(resourceID int64, priority int32, value string) *corev1.Rule {
		t.Helper()
		rule, err := s.CreateRule(ctx, &corev1.Rule{ResourceId: resourceID, Enabled: true, Priority: priority,
			Action: "ACCEPT", Match: "IP", Value: value})
		must(t, err)
		return rule
	}
	in := &corev1.Rule{ResourceId: r.GetResourceId(), Priority: 5, Action: "DROP", Match: "PATH", Value: "/admin/*",
		Method: proto.String("POST")}
	first, err := s.CreateRule(ctx, proto.Clone(in).(*corev1.Rule))
	must(t, err)
	in.RuleId = first.GetRuleId()
	wantMsg(t, "created", first, in)
	second := mk(r.GetResourceId(), 1, "10.0.0.1")
	third := mk(r.GetResourceId(), 5, "10.0.0.2")
	foreign := mk(other.GetResourceId(), 0, "10.0.0.3")
	_, err = s.CreateRule(ctx, &corev1.Rule{ResourceId: 999999, Priority: 1, Action: "ACCEPT", Match: "IP", Value: "1.1.1.1"})
	wantErr(t, err, core.CodeNotFound, "Resource with ID 999999 not found")

	list, total, err := s.ListRules(ctx, r.GetResourceId(), nil)
	must(t, err)
	if total != 3 || len(list) != 3 || list[0].GetRuleId() != second.GetRuleId() || list[1].GetRuleId() != first.GetRuleId() ||
		list[2].GetRuleId() != third.GetRuleId() {
		t.Fatalf("by priority then id: %v total %d", list, total)
	}
	list, total, err = s.ListRules(ctx, r.GetResourceId(), page(2, 2))
	must(t, err)
	if total != 3 || len(list) != 1 || list[0].GetRuleId() != third.GetRuleId() {
		t.Fatalf("page: %v total %d", list, total)
	}

	updated, err := s.UpdateRule(ctx, r.GetResourceId(), first.GetRuleId(), func(cur *corev1.Rule) error {
		wantMsg(t, "current", cur, in)
		cur.Enabled, cur.Method, cur.ResourceId = false, nil, other.GetResourceId() // the resource is ignored
		return nil
	})
	must(t, err)
	want := proto.Clone(in).(*corev1.Rule)
	want.Enabled, want.Method = false, nil
	wantMsg(t, "updated", updated, want)
	_, err = s.UpdateRule(ctx, r.GetResourceId(), first.GetRuleId(), func(cur *corev1.Rule) error {
		cur.Value = "changed before refusing"
		return core.Errorf(core.CodeInvalid, "no")
	})
	wantErr(t, err, core.CodeInvalid, "no")
	// A rule of another resource is not found, for update and delete.
	_, err = s.UpdateRule(ctx, r.GetResourceId(), foreign.GetRuleId(), func(*corev1.Rule) error { return nil })
	wantErr(t, err, core.CodeNotFound, "Resource rule with ID "+itoa(foreign.GetRuleId())+" not found")
	wantErr(t, s.DeleteRule(ctx, r.GetResourceId(), foreign.GetRuleId()), core.CodeNotFound,
		"Resource rule with ID "+itoa(foreign.GetRuleId())+" not found")
	if n := rowCount(t, s, `SELECT COUNT(*) FROM resource_rules WHERE rule_id = $1`, foreign.GetRuleId()); n != 1 {
		t.Fatal("a refused delete removed another resource's rule")
	}
	list, _, err = s.ListRules(ctx, r.GetResourceId(), nil)
	must(t, err)
	wantMsg(t, "after refusals", list[1], want)

	must(t, s.DeleteRule(ctx, r.GetResourceId(), first.GetRuleId()))
	wantErr(t, s.DeleteRule(ctx, r.GetResourceId(), first.GetRuleId()), core.CodeNotFound,
		"Resource rule with ID "+itoa(first.GetRuleId())+" not found")
	_, total, err = s.ListRules(ctx, r.GetResourceId(), nil)
	must(t, err)
	if total != 2 {
		t.Fatalf("%d rules after delete", total)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
