package boundary

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "pangolin-gateway/"

// deps lists the module's own packages that pkgs build on (tests excluded).
func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v", pkgs, err)
	}
	var own []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, module) {
			own = append(own, strings.TrimPrefix(p, module))
		}
	}
	return own
}

func TestGatewayAndCoreMeetOnlyInTheContract(t *testing.T) {
	gateway := deps(t, module+"gateway/...", module+"cmd/pangolin-gateway")
	core := deps(t, module+"core/...", module+"cmd/pangolin-core")
	for _, p := range gateway {
		if strings.HasPrefix(p, "core") {
			t.Errorf("the gateway imports %s", p)
		}
	}
	for _, p := range core {
		if strings.HasPrefix(p, "gateway") {
			t.Errorf("the core imports %s", p)
		}
	}
	// What both build on: the contract and the config, and the internal/
	// packages that know neither side (the operators' metrics listener, the
	// request id, the batching of audit records; the checks above keep them
	// from importing either), nothing else.
	for _, p := range gateway {
		if slices.Contains(core, p) && !strings.HasPrefix(p, "proto/") && p != "config" && !strings.HasPrefix(p, "internal/") {
			t.Errorf("%s is shared by the gateway and the core: only proto/, config and internal/ may be", p)
		}
	}
	if !slices.Contains(gateway, "proto/contract") || !slices.Contains(core, "proto/contract") {
		t.Errorf("both sides should read the contract: gateway %v, core %v", gateway, core)
	}
}
