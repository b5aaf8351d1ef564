package rpc

import (
	"maps"
	"slices"

	"pangolin-gateway/config"
	"pangolin-gateway/core"
)

// Settings reads what the core takes from the config file besides its
// transport (see core.Service.Configure): the raw resources switch, the
// dashboard URL, the server domains in key order, and the audit retention.
func Settings(cfg config.Config) core.Settings {
	s := core.Settings{AllowRawResources: cfg.Flags.AllowRawResources, DashboardURL: cfg.App.DashboardURL, AuditRetention: cfg.Audit.Retention}
	for _, key := range slices.Sorted(maps.Keys(cfg.Domains)) {
		d := cfg.Domains[key]
		s.Domains = append(s.Domains, core.ConfigDomain{
			Key: key, BaseDomain: d.BaseDomain, CertResolver: d.CertResolver, PreferWildcardCert: d.PreferWildcardCert,
		})
	}
	return s
}
