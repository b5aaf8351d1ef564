package core_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite"

	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// accessFixture is a service on SQLite with org acme, a resource in it
// and the database opened beside the store, to read what was stored.
type accessFixture struct {
	svc        *core.Service
	store      *sqlstore.Store
	db         *sql.DB
	resourceID int64
}

func newAccessFixture(t *testing.T) *accessFixture {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlstore.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db, err := sql.Open("sqlite", filepath.Join(dir, "pangolin.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &accessFixture{svc: core.NewService(store, 2, nil), store: store, db: db}
	mkOrg(t, f.svc, "acme")
	r, err := store.CreateResource(context.Background(), &corev1.Resource{OrgId: "acme", NiceId: "web", ResourceGuid: "g1",
		Name: "Web", Protocol: "tcp", Http: true, FullDomain: proto.String("web.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	f.resourceID = r.GetResourceId()
	return f
}

func (f *accessFixture) one(t *testing.T, query string) string {
	t.Helper()
	var v string
	if err := f.db.QueryRow(query, f.resourceID).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

func wantCode(t *testing.T, what string, err error, c core.Code, msg string) {
	t.Helper()
	if code(err) != c || !strings.Contains(fmt.Sprint(err), msg) {
		t.Fatalf("%s: got %v (code %d), want code %d %q", what, err, code(err), c, msg)
	}
}

// Passwords, PIN codes and header auth are checked, then stored only as
// argon2id hashes that verify.
func TestResourceSecrets(t *testing.T) {
	f := newAccessFixture(t)
	ctx, auth, id := as(core.Admin), f.svc.ResourceAuth, f.resourceID
	for _, p := range []string{"abc", strings.Repeat("x", 101)} {
		_, err := auth.SetResourcePassword(ctx, &corev1.SetResourcePasswordRequest{ResourceId: id, Password: &p})
		wantCode(t, "password "+p, err, core.CodeInvalid, "Validation error: password must be 4-100 characters")
	}
	for _, p := range []string{"12345", "1234567", "12345a", "١٢٣٤٥٦", "123 56", ""} {
		_, err := auth.SetResourcePincode(ctx, &corev1.SetResourcePincodeRequest{ResourceId: id, Pincode: &p})
		wantCode(t, "pincode "+p, err, core.CodeInvalid, "Validation error: pincode must be exactly 6 digits")
	}
	for _, req := range []*corev1.SetResourceHeaderAuthRequest{
		{ResourceId: id, User: proto.String("abc"), Password: proto.String("long enough"), ExtendedCompatibility: proto.Bool(true)},
		{ResourceId: id, User: proto.String("user"), Password: proto.String(strings.Repeat("p", 101))},
	} {
		_, err := auth.SetResourceHeaderAuth(ctx, req)
		wantCode(t, "header auth", err, core.CodeInvalid, "must be 4-100 characters")
	}
	if _, err := auth.SetResourcePassword(ctx, &corev1.SetResourcePasswordRequest{ResourceId: id, Password: proto.String("pässwörd")}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.SetResourcePincode(ctx, &corev1.SetResourcePincodeRequest{ResourceId: id, Pincode: proto.String("012345")}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.SetResourceHeaderAuth(ctx, &corev1.SetResourceHeaderAuthRequest{ResourceId: id, User: proto.String("robot"),
		Password: proto.String("correct-horse"), ExtendedCompatibility: proto.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	for query, secret := range map[string]string{
		`SELECT password_hash FROM resource_passwords WHERE resource_id = $1`:      "pässwörd",
		`SELECT pincode_hash FROM resource_pincodes WHERE resource_id = $1`:        "012345",
		`SELECT header_auth_hash FROM resource_header_auth WHERE resource_id = $1`: base64.StdEncoding.EncodeToString([]byte("robot:correct-horse")),
	} {
		hash := f.one(t, query)
		ok, err := core.NewHasher(core.HashLimits{}).Check(ctx, hash, secret)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || !ok || strings.Contains(hash, secret) {
			t.Errorf("%s: %q is not the argon2id hash of %q", query, hash, secret)
		}
	}
	if v := f.one(t, `SELECT digit_length || ' ' || (SELECT extended_compatibility_is_activated FROM resource_header_auth WHERE resource_id = $1)
		FROM resource_pincodes WHERE resource_id = $1`); v != "6 1" {
		t.Errorf("digit length and extended compatibility: %q", v)
	}
}

func TestResourceWhitelistRules(t *testing.T) {
	f := newAccessFixture(t)
	ctx, auth, id := as(core.Admin), f.svc.ResourceAuth, f.resourceID
	list := func() string {
		t.Helper()
		wl, err := auth.GetResourceWhitelist(ctx, &corev1.ResourceIdRequest{ResourceId: id})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range wl.GetWhitelist() {
			out = append(out, e.GetEmail())
		}
		return strings.Join(out, ",")
	}
	set := func(emails ...string) error {
		_, err := auth.SetResourceWhitelist(ctx, &corev1.SetResourceWhitelistRequest{ResourceId: id, Emails: emails})
		return err
	}
	edit := func(add bool, email string) error {
		req := &corev1.ResourceWhitelistEmailRequest{ResourceId: id, Email: email}
		var err error
		if add {
			_, err = auth.AddResourceWhitelistEmail(ctx, req)
		} else {
			_, err = auth.RemoveResourceWhitelistEmail(ctx, req)
		}
		return err
	}
	const disabled = "Email whitelist is not enabled for this resource"
	wantCode(t, "set while disabled", set("ann@example.com"), core.CodeInvalid, disabled)
	wantCode(t, "add while disabled", edit(true, "ann@example.com"), core.CodeInvalid, disabled)
	wantCode(t, "remove while disabled", edit(false, "ann@example.com"), core.CodeInvalid, disabled)
	// Input is checked first: a bad address is a 400 about the address.
	wantCode(t, "bad address while disabled", edit(true, "nope"), core.CodeInvalid, `Invalid email address at "email"`)
	if _, err := f.db.Exec(`UPDATE resources SET email_whitelist_enabled = 1 WHERE resource_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if err := set("Ann@Example.com", "*@Example.ORG", "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "ann@example.com,*@example.org" {
		t.Fatalf("whitelist %q", got)
	}
	wantCode(t, "bad entry", set("ann@example.com", "a*@example.com"), core.CodeInvalid, `Invalid email address at "emails[1]"`)
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@example.com", i)
	}
	wantCode(t, "51 entries", set(many...), core.CodeInvalid, "emails must hold at most 50 entries")
	if err := set(many[:50]...); err != nil {
		t.Fatal(err)
	}
	if err := set("ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := edit(true, "BOB@example.com"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "add twice", edit(true, "bob@EXAMPLE.com"), core.CodeConflict, "Email already exists in whitelist")
	if err := edit(false, "Ann@Example.com"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "remove twice", edit(false, "ann@example.com"), core.CodeNotFound, "Email not found in whitelist")
	if got := list(); got != "bob@example.com" {
		t.Fatalf("whitelist %q", got)
	}
}
