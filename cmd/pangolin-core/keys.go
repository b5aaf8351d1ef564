package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
	"pangolin-gateway/core/sqlstore"
)

// keys runs the server admin's key commands directly on the store. Their
// writes land in the key change log like the API's, so running gateways
// stop honouring a revoked key within a second.
func keys(cfg config.Config, args []string) error {
	if err := cfg.ValidateAdmin(); err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New("keys: want create-root, list or revoke")
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
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *name == "" {
			return errors.New("keys create-root: --name is required")
		}
		ids := core.Actions
		if *actions != "all" {
			ids = nil
			for _, id := range strings.Split(*actions, ",") {
				if id = strings.TrimSpace(id); id != "" {
					ids = append(ids, id)
				}
			}
		}
		key, err := svc.CreateRootKey(ctx, *name, ids)
		if err != nil {
			return err
		}
		fmt.Printf("Root API key %s created. Key (shown once): %s\n", key.GetApiKeyId(), key.Token())
		return nil
	case "list":
		list, err := svc.ListKeys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tROOT\tORGS\tACTIONS\tLAST CHARS\tCREATED")
		for _, k := range list {
			fmt.Fprintf(w, "%s\t%s\t%t\t%s\t%d\t%s\t%s\n", k.GetApiKeyId(), k.GetName(), k.Scope.GetIsRoot(),
				strings.Join(k.Scope.GetOrgIds(), ","), len(k.Scope.GetActionIds()), k.GetLastChars(), k.GetCreatedAt())
		}
		return w.Flush()
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
		return fmt.Errorf("keys: unknown command %q (create-root, list, revoke)", args[0])
	}
}
