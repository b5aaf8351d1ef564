package core

import (
	"net/netip"
	"testing"
)

func TestFirstFreeAddress(t *testing.T) {
	subnet := netip.MustParsePrefix("100.90.128.0/30")
	for _, c := range []struct {
		used []string
		want string
		ok   bool
	}{
		{nil, "100.90.128.1", true},
		{[]string{"100.90.128.1/30"}, "100.90.128.2", true},
		{[]string{"100.90.128.1", "100.90.128.2/30"}, "", false}, // .3 is the broadcast address
	} {
		got, ok := firstFreeAddress(subnet, c.used)
		if got != c.want || ok != c.ok {
			t.Errorf("firstFreeAddress(%v) = %q, %v; want %q, %v", c.used, got, ok, c.want, c.ok)
		}
	}
}

func TestFirstFreeBlock(t *testing.T) {
	for _, c := range []struct {
		node string
		used []string
		want string
		ok   bool
	}{
		{"100.89.128.1/24", nil, "100.89.128.4/30", true},
		{"100.89.128.1/24", []string{"100.89.128.4/30", "100.89.128.12/30"}, "100.89.128.8/30", true},
		{"100.89.128.1/30", nil, "", false},
		{"not-a-cidr", nil, "", false},
	} {
		got, ok := firstFreeBlock(c.node, c.used)
		if got != c.want || ok != c.ok {
			t.Errorf("firstFreeBlock(%s, %v) = %q, %v; want %q, %v", c.node, c.used, got, ok, c.want, c.ok)
		}
	}
}
