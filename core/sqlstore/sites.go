package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// sites holds corev1.Site; lists read corev1.SiteListItem from it, with the
// org's name and the version the site's newt reported. Subqueries rather
// than joins, so a site with more than one newt row still reads as one.
var sites = &table{
	name: "sites", alias: "s", generated: "site_id",
	columns: []string{
		"site_id", "org_id", "nice_id", "exit_node_id", "name", "pub_key", "subnet", "megabytes_in",
		"megabytes_out", "last_bandwidth_update", "type", "online", "address", "endpoint", "public_key",
		"last_hole_punch", "listen_port", "docker_socket_enabled", "remote_subnets",
	},
	computed: map[string]string{
		"org_name": `(SELECT o.name FROM orgs o WHERE o.org_id = s.org_id)`,
		"newt_version": `(SELECT n.version FROM newts n WHERE n.site_id = s.site_id
			ORDER BY n.created_at DESC, n.newt_id LIMIT 1)`,
	},
}

// exitNodes are read-only for the API: the first one is read as the
// defaults it proposes for a new site (its id, name, address, endpoint,
// public key and listen port).
var exitNodes = &table{
	name: "exit_nodes", alias: "e",
	columns: []string{"exit_node_id", "name", "address", "endpoint", "public_key", "listen_port"},
}

func getSite(ctx context.Context, q querier, id int64) (*corev1.Site, error) {
	site := &corev1.Site{}
	err := getRow(ctx, q, sites, site, `WHERE s.site_id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.SiteNotFound(id)
	}
	return site, err
}

func errNiceIDTaken(niceID string) error {
	return core.Errorf(core.CodeConflict, "A site with niceId %s already exists in this organization", niceID)
}

func errAddressTaken(address string) error {
	return core.Errorf(core.CodeConflict, "Address %s is already in use in this organization", address)
}

func errExitNodeNotFound() error { return core.Errorf(core.CodeNotFound, "Exit node not found") }

// siteConflict maps a unique-index violation on sites to the rule it
// broke. The checks made before writing catch these; this catches writers
// racing on PostgreSQL, where the index is the final judge.
func siteConflict(err error, niceID string, address *string) error {
	name, ok := uniqueViolation(err)
	switch {
	case ok && strings.Contains(name, "nice_id"):
		return errNiceIDTaken(niceID)
	case ok && strings.Contains(name, "address") && address != nil:
		return errAddressTaken(*address)
	}
	return err
}

// CreateSite stores site in its org and, when newt is not nil, the newt
// credential for it; it returns the site as stored. site.site_id is
// ignored: the database assigns it.
func (s *Store) CreateSite(ctx context.Context, site *corev1.Site, newt *core.Newt) (*corev1.Site, error) {
	var stored *corev1.Site
	err := s.write(ctx, func(tx *tx) error {
		// The org's lock, for a site with an overlay address only: a
		// client created meanwhile cannot take the address checked free
		// below. Sites without one need not queue behind the org's other
		// writers (a missing org is the insert's foreign key below).
		if site.Address != nil {
			if err := s.lockOrg(ctx, tx, site.GetOrgId()); err != nil {
				return err
			}
		}
		if site.ExitNodeId != nil {
			found, err := exists(ctx, tx, `SELECT 1 FROM exit_nodes WHERE exit_node_id = $1`, site.GetExitNodeId())
			if err != nil {
				return err
			}
			if !found {
				return errExitNodeNotFound()
			}
		}
		if err := checkNiceIDFree(ctx, tx, site.GetOrgId(), site.GetNiceId(), 0); err != nil {
			return err
		}
		if site.Address != nil {
			taken, err := exists(ctx, tx, `SELECT 1 FROM sites WHERE org_id = $1 AND address = $2
				UNION ALL SELECT 1 FROM clients WHERE org_id = $1 AND subnet = $2`, site.GetOrgId(), site.GetAddress())
			if err != nil {
				return err
			}
			if taken {
				return errAddressTaken(site.GetAddress())
			}
		}
		id, err := insert(ctx, tx, sites, site)
		if foreignKeyViolation(err) {
			return errOrgNotFound(site.GetOrgId()) // deleted concurrently
		}
		if err != nil {
			return siteConflict(err, site.GetNiceId(), site.Address)
		}
		if newt != nil {
			_, err := tx.ExecContext(ctx,
				`INSERT INTO newts (newt_id, secret_hash, created_at, site_id) VALUES ($1, $2, $3, $4)`,
				newt.ID, newt.SecretHash, now(), id)
			if _, ok := uniqueViolation(err); ok {
				return core.Errorf(core.CodeConflict, "Newt with ID %s already exists", newt.ID)
			}
			if err != nil {
				return err
			}
		}
		stored, err = getSite(ctx, tx, id)
		return err
	})
	return stored, internal("create site", err)
}

// checkNiceIDFree refuses niceID when another site of the org (one whose id
// is not exceptID) has it.
func checkNiceIDFree(ctx context.Context, q querier, orgID, niceID string, exceptID int64) error {
	taken, err := exists(ctx, q,
		`SELECT 1 FROM sites WHERE org_id = $1 AND nice_id = $2 AND site_id <> $3`, orgID, niceID, exceptID)
	if err != nil {
		return err
	}
	if taken {
		return errNiceIDTaken(niceID)
	}
	return nil
}

// GetSite returns the site.
func (s *Store) GetSite(ctx context.Context, id int64) (*corev1.Site, error) {
	site, err := getSite(ctx, s.reader, id)
	return site, internal("get site", err)
}

// SiteOrg returns the org of the site.
func (s *Store) SiteOrg(ctx context.Context, id int64) (string, error) {
	return objectOrg(ctx, s.reader, "site org", `SELECT org_id FROM sites WHERE site_id = $1`, id, core.SiteNotFound)
}

// GetSiteByNiceID returns the org's site with that niceId.
func (s *Store) GetSiteByNiceID(ctx context.Context, orgID, niceID string) (*corev1.Site, error) {
	site := &corev1.Site{}
	err := getRow(ctx, s.reader, sites, site, `WHERE s.org_id = $1 AND s.nice_id = $2`, orgID, niceID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.Errorf(core.CodeNotFound, "Site with niceId %s not found", niceID)
	}
	return site, internal("get site by niceId", err)
}

// ListSites returns a page of the org's sites ordered by id, and how many
// the org has.
func (s *Store) ListSites(ctx context.Context, orgID string, page *corev1.Page) ([]*corev1.SiteListItem, int32, error) {
	limit, offset := limitOffset(page)
	list, err := getRows[corev1.SiteListItem](ctx, s.reader, sites,
		`WHERE s.org_id = $1 ORDER BY s.site_id LIMIT $2 OFFSET $3`, orgID, limit, offset)
	if err != nil {
		return nil, 0, internal("list sites", err)
	}
	if total, ok := pageTotal(limit, offset, len(list)); ok {
		return list, total, nil
	}
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM sites WHERE org_id = $1`, orgID)
	return list, total, internal("count sites", err)
}

// pageTotal is the total a page of n rows implies without counting: a
// page that starts at the first row and is not full holds every row (the
// usual unpaged list), so a COUNT would only repeat it.
func pageTotal(limit, offset int64, n int) (int32, bool) {
	if offset == 0 && int64(n) < limit && n <= math.MaxInt32 {
		return int32(n), true
	}
	return 0, false
}

// UpdateSite sets the fields req carries and returns the site as stored.
func (s *Store) UpdateSite(ctx context.Context, req *corev1.UpdateSiteRequest) (*corev1.Site, error) {
	var stored *corev1.Site
	err := s.write(ctx, func(tx *tx) error {
		current, err := getSite(ctx, tx, req.GetSiteId())
		if err != nil {
			return err
		}
		niceID := current.GetNiceId()
		if req.NiceId != nil {
			niceID = req.GetNiceId()
			if err := checkNiceIDFree(ctx, tx, current.GetOrgId(), niceID, req.GetSiteId()); err != nil {
				return err
			}
		}
		if _, err := update(ctx, tx, sites, req, "site_id"); err != nil {
			return siteConflict(err, niceID, nil)
		}
		stored, err = getSite(ctx, tx, req.GetSiteId())
		return err
	})
	return stored, internal("update site", err)
}

// DeleteSite deletes the site; its newt cascades.
func (s *Store) DeleteSite(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "sites", "site_id", id, core.SiteNotFound(id))
}

// ResetBandwidth sets megabytes_in and megabytes_out of the org's sites to
// 0, in one statement.
func (s *Store) ResetBandwidth(ctx context.Context, orgID string) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sites SET megabytes_in = 0, megabytes_out = 0 WHERE org_id = $1`, orgID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, internal("reset bandwidth", err)
}

// OrgAddresses returns the overlay addresses the org's sites and clients
// use: the sites' in site order, then the clients'.
func (s *Store) OrgAddresses(ctx context.Context, orgID string) ([]string, error) {
	addrs, err := queryStrings(ctx, s.reader,
		`SELECT address FROM (SELECT address, 0 AS k, site_id AS id FROM sites WHERE org_id = $1 AND address IS NOT NULL
		 UNION ALL SELECT subnet, 1, client_id FROM clients WHERE org_id = $1) a ORDER BY k, id`, orgID)
	return addrs, internal("org addresses", err)
}

// FirstExitNode returns the exit node with the lowest id as site defaults,
// nil when there is none.
func (s *Store) FirstExitNode(ctx context.Context) (*corev1.SiteDefaults, error) {
	d := &corev1.SiteDefaults{}
	err := getRow(ctx, s.reader, exitNodes, d, `ORDER BY e.exit_node_id LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, internal("first exit node", err)
	}
	return d, nil
}

// ExitNodeExists reports whether the exit node exists.
func (s *Store) ExitNodeExists(ctx context.Context, id int64) (bool, error) {
	found, err := exists(ctx, s.reader, `SELECT 1 FROM exit_nodes WHERE exit_node_id = $1`, id)
	return found, internal("exit node", err)
}

// ExitNodeSubnets returns the tunnel subnets of the sites on the exit node
// (null subnets left out), in site order.
func (s *Store) ExitNodeSubnets(ctx context.Context, exitNodeID int64) ([]string, error) {
	subnets, err := queryStrings(ctx, s.reader,
		`SELECT subnet FROM sites WHERE exit_node_id = $1 AND subnet IS NOT NULL ORDER BY site_id`, exitNodeID)
	return subnets, internal("exit node subnets", err)
}
