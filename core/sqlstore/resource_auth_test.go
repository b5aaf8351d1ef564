package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"pangolin-gateway/core"
)

// authRows reads the rows of an auth table for a resource: each row's
// columns, as text.
func authRows(t *testing.T, s *Store, table, columns string, resourceID int64) []string {
	t.Helper()
	rows, err := s.reader.Query(`SELECT `+columns+` FROM `+table+` WHERE resource_id = $1`, resourceID)
	must(t, err)
	defer rows.Close()
	n := len(strings.Split(columns, ","))
	out := []string{}
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		var parts []string
		for _, v := range vals {
			switch x := v.(type) {
			case []byte:
				parts = append(parts, string(x))
			case bool:
				parts = append(parts, map[bool]string{true: "1", false: "0"}[x])
			default:
				parts = append(parts, fmt.Sprint(x))
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	must(t, rows.Err())
	return out
}

// Password, PIN code and header auth: one row per resource at most,
// replaced by each set, removed by nil; other resources untouched.
func testResourceAuthSecrets(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	other := mkResource(t, s, httpResource("acme", "other", "other.example.com"))
	id := r.GetResourceId()
	for _, c := range []struct {
		table, columns string
		set            func(resourceID int64, v string) error
		unset          func(resourceID int64) error
		want           func(v string) string
	}{
		{"resource_passwords", "password_hash",
			func(rid int64, v string) error { return s.SetResourcePassword(ctx, rid, &v) },
			func(rid int64) error { return s.SetResourcePassword(ctx, rid, nil) },
			func(v string) string { return v }},
		{"resource_pincodes", "pincode_hash, digit_length",
			func(rid int64, v string) error { return s.SetResourcePincode(ctx, rid, &v, 6) },
			func(rid int64) error { return s.SetResourcePincode(ctx, rid, nil, 6) },
			func(v string) string { return v + " 6" }},
		{"resource_header_auth", "header_auth_hash, extended_compatibility_is_activated",
			func(rid int64, v string) error {
				return s.SetResourceHeaderAuth(ctx, rid, &core.HeaderAuth{Hash: v, ExtendedCompatibility: v == "h2"})
			},
			func(rid int64) error { return s.SetResourceHeaderAuth(ctx, rid, nil) },
			func(v string) string { return v + map[bool]string{true: " 1", false: " 0"}[v == "h2"] }},
	} {
		t.Run(c.table, func(t *testing.T) {
			must(t, c.set(other.GetResourceId(), "kept"))
			for _, v := range []string{"h1", "h2"} {
				must(t, c.set(id, v))
				if got := authRows(t, s, c.table, c.columns, id); len(got) != 1 || got[0] != c.want(v) {
					t.Fatalf("after set %s: %v", v, got)
				}
			}
			must(t, c.unset(id))
			must(t, c.unset(id)) // removing nothing is fine
			if got := authRows(t, s, c.table, c.columns, id); len(got) != 0 {
				t.Fatalf("after unset: %v", got)
			}
			if got := authRows(t, s, c.table, c.columns, other.GetResourceId()); len(got) != 1 || got[0] != c.want("kept") {
				t.Fatalf("another resource's row: %v", got)
			}
			wantErr(t, c.set(999999, "h"), core.CodeNotFound, "Resource with ID 999999 not found")
			wantErr(t, c.unset(999999), core.CodeNotFound, "Resource with ID 999999 not found")
		})
	}
}

// Concurrent sets of one resource's password queue: none fails, one row
// is left.
func testConcurrentAuthWriters(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Go(func() {
			h := fmt.Sprint("h", i)
			errs <- s.SetResourcePassword(ctx, r.GetResourceId(), &h)
		})
		wg.Go(func() {
			errs <- s.AddResourceWhitelistEmail(ctx, r.GetResourceId(), fmt.Sprintf("u%d@example.com", i%5))
		})
	}
	wg.Wait()
	close(errs)
	conflicts := 0
	for err := range errs {
		switch {
		case err == nil:
		case core.ErrorCode(err) == core.CodeConflict:
			conflicts++
		default:
			t.Errorf("concurrent call: %v", err)
		}
	}
	if got := authRows(t, s, "resource_passwords", "password_hash", r.GetResourceId()); len(got) != 1 {
		t.Errorf("%d password rows", len(got))
	}
	if conflicts != 15 {
		t.Errorf("%d whitelist conflicts, want 15", conflicts)
	}
}

func emails(t *testing.T, s *Store, resourceID int64) string {
	t.Helper()
	list, err := s.ResourceWhitelist(context.Background(), resourceID)
	must(t, err)
	var out []string
	for _, e := range list {
		out = append(out, e.GetEmail())
	}
	return strings.Join(out, ",")
}

func testResourceWhitelist(t *testing.T, b backend) {
	ctx := context.Background()
	s := openStore(t, b)
	mkOrg(t, s, "acme")
	r := mkResource(t, s, httpResource("acme", "web", "web.example.com"))
	other := mkResource(t, s, httpResource("acme", "other", "other.example.com"))
	id := r.GetResourceId()
	if got := emails(t, s, id); got != "" {
		t.Fatalf("new resource whitelist %q", got)
	}
	must(t, s.SetResourceWhitelist(ctx, other.GetResourceId(), []string{"a@example.com"}))
	must(t, s.SetResourceWhitelist(ctx, id, []string{"a@example.com", "b@example.com"}))
	must(t, s.SetResourceWhitelist(ctx, id, []string{"c@example.com", "b@example.com"}))
	// b kept its place; a removed; c added.
	if got := emails(t, s, id); got != "b@example.com,c@example.com" {
		t.Fatalf("after replace: %q", got)
	}
	must(t, s.AddResourceWhitelistEmail(ctx, id, "*@example.org"))
	wantErr(t, s.AddResourceWhitelistEmail(ctx, id, "*@example.org"), core.CodeConflict, "Email already exists in whitelist")
	wantErr(t, s.RemoveResourceWhitelistEmail(ctx, id, "a@example.com"), core.CodeNotFound, "Email not found in whitelist")
	must(t, s.RemoveResourceWhitelistEmail(ctx, id, "b@example.com"))
	if got := emails(t, s, id); got != "c@example.com,*@example.org" {
		t.Fatalf("after add and remove: %q", got)
	}
	must(t, s.SetResourceWhitelist(ctx, id, nil))
	if got := emails(t, s, id); got != "" {
		t.Fatalf("after clearing: %q", got)
	}
	if got := emails(t, s, other.GetResourceId()); got != "a@example.com" {
		t.Fatalf("another resource's whitelist: %q", got)
	}
	wantErr(t, s.SetResourceWhitelist(ctx, 999999, []string{"a@example.com"}), core.CodeNotFound, "Resource with ID 999999 not found")
	wantErr(t, s.AddResourceWhitelistEmail(ctx, 999999, "a@example.com"), core.CodeNotFound, "Resource with ID 999999 not found")
	wantErr(t, s.RemoveResourceWhitelistEmail(ctx, 999999, "a@example.com"), core.CodeNotFound, "Resource with ID 999999 not found")
}
