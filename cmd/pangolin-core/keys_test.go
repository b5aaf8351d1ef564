package main

import (
	"testing"
	"time"
)

func TestExpiryFlags(t *testing.T) {
	got, err := expiry("30d", "")
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, got)
	if err != nil || at.Before(time.Now().Add(29*24*time.Hour)) || at.After(time.Now().Add(31*24*time.Hour)) {
		t.Fatalf("--expires-in 30d gave %q (%v)", got, err)
	}
	if got, err := expiry("", "2030-01-02T15:04:05Z"); err != nil || got != "2030-01-02T15:04:05Z" {
		t.Fatalf("--expires-at gave %q, %v", got, err)
	}
	if got, err := expiry("", ""); err != nil || got != "" {
		t.Fatalf("no flag gave %q, %v; want never", got, err)
	}
	for _, bad := range [][2]string{{"30d", "2030-01-02T15:04:05Z"}, {"-1h", ""}, {"0d", ""}, {"xd", ""}, {"", "tomorrow"}} {
		if _, err := expiry(bad[0], bad[1]); err == nil {
			t.Errorf("expiry(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
