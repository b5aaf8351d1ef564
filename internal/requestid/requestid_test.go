package requestid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestSane(t *testing.T) {
	for id, want := range map[string]bool{
		"":                                     false,
		"abc":                                  true,
		"0f8fad5b-d9cb-469f-a165-70867728950e": true,
		"01ARZ3NDEKTSV4RRFFQ69G5FAV":           true,
		"a b":                                  false,
		"a\nb":                                 false,
		"é":                                    false,
		strings.Repeat("a", MaxLen):            true,
		strings.Repeat("a", MaxLen+1):          false,
		"trace=1;x":                            false,
	} {
		if got := Sane(id); got != want {
			t.Errorf("Sane(%q) = %v, want %v", id, got, want)
		}
	}
	if a, b := New(), New(); a == b || !Sane(a) || len(a) != 32 {
		t.Errorf("New: %q, %q", a, b)
	}
}

func TestHandlerAddsTheID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Handler{slog.NewTextHandler(&buf, nil)}).With("component", "x")
	log.InfoContext(With(context.Background(), "req-1"), "hello")
	log.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "request_id=req-1") || !strings.Contains(lines[0], "component=x") ||
		strings.Contains(lines[1], "request_id") {
		t.Fatalf("log lines:\n%s", buf.String())
	}
}
