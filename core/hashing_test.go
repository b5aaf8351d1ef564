package core_test

import (
	"context"
	"testing"
	"time"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// Every argon2id hash the core computes takes a slot of the one Hasher:
// with its only slot held, key creation, newt site creation and key
// verification wait the bounded time and are refused with CodeExhausted,
// while what hashes nothing goes on. (Before, only verification was
// bounded: a flood of newt site creations ran every hash at once and took
// the core from 90 MB to 2 GB.)
func TestEveryHashTakesASlot(t *testing.T) {
	ctx := context.Background()
	svc := core.NewService(stores(t)["sqlite"](t), 1, nil, core.WithHashWait(50*time.Millisecond))
	mkOrg(t, svc, "acme")
	key, err := svc.CreateRootKey(ctx, "root", core.Actions)
	if err != nil {
		t.Fatal(err)
	}
	admin := as(core.Admin)
	hashing := map[string]func() error{
		"create org key": func() error {
			_, err := svc.Keys.CreateOrgKey(admin, &corev1.CreateOrgKeyRequest{OrgId: "acme", Name: "k"})
			return err
		},
		"create root key": func() error {
			_, err := svc.CreateRootKey(ctx, "root2", nil)
			return err
		},
		"create newt site": func() error {
			_, err := svc.Sites.CreateSite(admin, &corev1.CreateSiteRequest{OrgId: "acme", Name: "n", Type: core.SiteNewt})
			return err
		},
		"verify key": func() error {
			_, err := svc.Keys.Verify(ctx, &corev1.VerifyRequest{ApiKeyId: key.GetApiKeyId(), Secret: key.GetApiKey()})
			return err
		},
	}
	release, err := core.HoldHashSlot(ctx, svc.Hasher)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range hashing {
		if err := call(); code(err) != core.CodeExhausted {
			t.Errorf("%s with every hashing slot taken: %v, want CodeExhausted", name, err)
		}
	}
	if err := hashing["verify key"](); err == nil || err.Error() != "Too many authentication attempts, retry later" {
		t.Errorf("verify past the bound: %v", err)
	}
	// Hashing nothing takes no slot.
	if _, err := svc.Sites.CreateSite(admin, &corev1.CreateSiteRequest{OrgId: "acme", Name: "l", Type: core.SiteLocal}); err != nil {
		t.Errorf("create local site with every hashing slot taken: %v", err)
	}
	if _, err := svc.Keys.Verify(ctx, &corev1.VerifyRequest{ApiKeyId: core.RandomID(15), Secret: core.NewKeySecret()}); code(err) != core.CodeUnauthenticated {
		t.Errorf("verify unknown key id with every hashing slot taken: %v, want CodeUnauthenticated", err)
	}
	// A request refused by validation takes no slot either.
	if _, err := svc.Sites.CreateSite(admin, &corev1.CreateSiteRequest{OrgId: "acme", Name: "n", Type: core.SiteNewt, NiceId: ptr("bad nice id")}); code(err) != core.CodeInvalid {
		t.Errorf("invalid newt site with every hashing slot taken: %v, want CodeInvalid", err)
	}
	release()
	for name, call := range hashing {
		if err := call(); err != nil {
			t.Errorf("%s with a free slot: %v", name, err)
		}
	}
}
