package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// keys runs the server admin's key commands directly on the store. Their
// writes land in the key change log like the API's, so running gateways
// stop honouring a revoked key within a second.
func keys(cfg config.Config, args []string) error {
	if err := cfg.ValidateAdmin(); err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("keys: want create-root, list, roll or revoke")
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, cfg.Database.URL, cfg.Database.DataDir)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := core.NewService(store, 1, cfg.Log.Logger(os.Stderr))

	switch args[0] {
	case "create-root":
		fs := flag.NewFlagSet("keys create-root", flag.ContinueOnError)
		name := fs.String("name", "", "name of the key (required)")
		actions := fs.String("actions", "all", `"all" or a comma-separated list of action ids`)
		expiresIn := fs.String("expires-in", "", `the key stops working this long from now: "30d", "12h", "90m"`)
		expiresAt := fs.String("expires-at", "", "the key stops working at this RFC 3339 time (2030-01-02T15:04:05Z)")
		allowedIPs := fs.String("allowed-ips", "", "the addresses the key works from: comma-separated IPs and CIDRs (default anywhere)")
		rateLimit := fs.String("rate-limit", "", `at most this many requests per this many seconds, "100/60" (default none)`)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *name == "" {
			return errors.New("keys create-root: --name is required")
		}
		expires, err := expiry(*expiresIn, *expiresAt)
		if err != nil {
			return fmt.Errorf("keys create-root: %w", err)
		}
		ids := core.Actions
		if *actions != "all" {
			ids = splitList(*actions)
		}
		limits := core.RootKeyLimits{ExpiresAt: expires, AllowedIPs: splitList(*allowedIPs)}
		if limits.RateLimit, err = parseRate(*rateLimit); err != nil {
			return fmt.Errorf("keys create-root: %w", err)
		}
		key, err := svc.Keys.CreateRootKeyWith(ctx, *name, ids, limits)
		if err != nil {
			return err
		}
		fmt.Printf("Root API key %s created. Key (shown once): %s\n", key.GetApiKeyId(), key.Token())
		if key.ExpiresAt != nil {
			fmt.Printf("It expires at %s.\n", key.GetExpiresAt())
		}
		return nil
	case "list":
		list, err := svc.ListKeys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tROOT\tORGS\tACTIONS\tLAST CHARS\tCREATED\tEXPIRES\tLAST USED")
		for _, k := range list {
			fmt.Fprintf(w, "%s\t%s\t%t\t%s\t%d\t%s\t%s\t%s\t%s\n", k.GetApiKeyId(), k.GetName(), k.Scope.GetIsRoot(),
				strings.Join(k.Scope.GetOrgIds(), ","), len(k.Scope.GetActionIds()), k.GetLastChars(), k.GetCreatedAt(),
				orNever(k.ExpiresAt), orNever(k.LastUsedAt))
		}
		return w.Flush()
	case "roll":
		fs := flag.NewFlagSet("keys roll", flag.ContinueOnError)
		grace := fs.Duration("grace", 0, `how long the old secret keeps working: "1h", "90m" (at most 24h; 0 stops it at once)`)
		// The id may come before the flags: keys roll ID --grace 1h.
		if len(args) < 2 {
			return errors.New("keys roll: want KEY_ID [--grace 1h]")
		}
		id, rest := args[1], args[2:]
		if strings.HasPrefix(id, "-") {
			return errors.New("keys roll: want KEY_ID [--grace 1h]")
		}
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return errors.New("keys roll: want exactly one KEY_ID")
		}
		key, err := svc.Keys.RollKey(ctx, id, *grace)
		if err != nil {
			return err
		}
		fmt.Printf("API key %s rolled. New key (shown once): %s\n", key.GetApiKeyId(), key.Token())
		if key.PreviousSecretExpiresAt != nil {
			fmt.Printf("The old secret works until %s.\n", key.GetPreviousSecretExpiresAt())
		} else {
			fmt.Println("The old secret no longer works.")
		}
		return nil
	case "revoke":
		if len(args) != 2 {
			return errors.New("keys revoke: want exactly one KEY_ID")
		}
		if err := svc.DeleteKey(ctx, args[1]); err != nil {
			return err
		}
		fmt.Printf("API key %s revoked.\n", args[1])
		return nil
	default:
		return fmt.Errorf("keys: unknown command %q (create-root, list, roll, revoke)", args[0])
	}
}

// splitList reads a comma-separated flag value, ignoring blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseRate reads --rate-limit: "N/S", N requests per S seconds; "" none.
// The core checks the bounds.
func parseRate(s string) (*corev1.RateLimit, error) {
	if s == "" {
		return nil, nil
	}
	n, per, ok := strings.Cut(s, "/")
	requests, err1 := strconv.ParseInt(n, 10, 32)
	seconds, err2 := strconv.ParseInt(per, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return nil, errors.New(`--rate-limit must be requests/seconds, such as 100/60`)
	}
	return &corev1.RateLimit{Requests: int32(requests), PerSeconds: int32(seconds)}, nil
}

// orNever is an optional time for the key list.
func orNever(t *string) string {
	if t == nil {
		return "never"
	}
	return *t
}

// expiry turns --expires-in or --expires-at into an RFC 3339 time, "" for
// a key that never expires. The core checks that it lies in the future.
func expiry(in, at string) (string, error) {
	switch {
	case in != "" && at != "":
		return "", errors.New("give --expires-in or --expires-at, not both")
	case at != "":
		if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
			return "", fmt.Errorf("--expires-at must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		return at, nil
	case in == "":
		return "", nil
	}
	d, err := parseDays(in)
	if err != nil || d <= 0 {
		return "", fmt.Errorf("--expires-in must be a positive duration such as 30d, 12h or 90m")
	}
	return core.Timestamp(time.Now().Add(d)), nil
}

// parseDays is time.ParseDuration plus whole days ("30d"), which is how
// key lifetimes are usually said.
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*365 {
			return 0, errors.New("bad number of days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
