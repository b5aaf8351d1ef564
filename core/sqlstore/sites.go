package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pangolin-gateway/core"
)

// siteSelect reads sites with the org name and the version its newt
// reported. A subquery rather than a join for the version, so a site with
// more than one newt row still reads as one site.
const siteSelect = `SELECT s.site_id, s.org_id, s.nice_id, s.exit_node_id, s.name, s.pub_key,
	s.subnet, s.megabytes_in, s.megabytes_out, s.last_bandwidth_update, s.type, s.online,
	s.address, s.endpoint, s.public_key, s.last_hole_punch, s.listen_port,
	s.docker_socket_enabled, s.remote_subnets, o.name,
	(SELECT n.version FROM newts n WHERE n.site_id = s.site_id ORDER BY n.created_at DESC, n.newt_id LIMIT 1)
	FROM sites s JOIN orgs o ON o.org_id = s.org_id`

func scanSite(row interface{ Scan(...any) error }) (core.Site, error) {
	var st core.Site
	err := row.Scan(&st.ID, &st.OrgID, &st.NiceID, &st.ExitNodeID, &st.Name, &st.PubKey,
		&st.Subnet, &st.MegabytesIn, &st.MegabytesOut, &st.LastBandwidthUpdate, &st.Type, &st.Online,
		&st.Address, &st.Endpoint, &st.PublicKey, &st.LastHolePunch, &st.ListenPort,
		&st.DockerSocketEnabled, &st.RemoteSubnets, &st.OrgName, &st.NewtVersion)
	return st, err
}

func getSite(ctx context.Context, q querier, id int64) (core.Site, error) {
	st, err := scanSite(q.QueryRowContext(ctx, siteSelect+` WHERE s.site_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Site{}, errSiteNotFound(id)
	}
	return st, err
}

func errSiteNotFound(id int64) error {
	return core.Errorf(core.CodeNotFound, "Site with ID %d not found", id)
}

func errNiceIDTaken(niceID string) error {
	return core.Errorf(core.CodeConflict, "A site with niceId %s already exists in this organization", niceID)
}

func errAddressTaken(address string) error {
	return core.Errorf(core.CodeConflict, "Address %s is already in use in this organization", address)
}

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
// credential for it; it returns the site as stored. site.ID, OrgName and
// NewtVersion are ignored; newt.SiteID is set to the new site's id.
func (s *Store) CreateSite(ctx context.Context, site core.Site, newt *core.Newt) (core.Site, error) {
	var stored core.Site
	err := s.write(ctx, func(tx *sql.Tx) error {
		found, err := exists(ctx, tx, `SELECT 1 FROM orgs WHERE org_id = $1`, site.OrgID)
		if err != nil {
			return err
		}
		if !found {
			return errOrgNotFound(site.OrgID)
		}
		if site.ExitNodeID != nil {
			found, err := exists(ctx, tx, `SELECT 1 FROM exit_nodes WHERE exit_node_id = $1`, *site.ExitNodeID)
			if err != nil {
				return err
			}
			if !found {
				return errExitNodeNotFound()
			}
		}
		if err := checkNiceIDFree(ctx, tx, site.OrgID, site.NiceID, 0); err != nil {
			return err
		}
		if site.Address != nil {
			taken, err := exists(ctx, tx,
				`SELECT 1 FROM sites WHERE org_id = $1 AND address = $2`, site.OrgID, *site.Address)
			if err != nil {
				return err
			}
			if taken {
				return errAddressTaken(*site.Address)
			}
		}
		var id int64
		err = tx.QueryRowContext(ctx,
			`INSERT INTO sites (org_id, nice_id, exit_node_id, name, pub_key, subnet, megabytes_in,
				megabytes_out, last_bandwidth_update, type, online, address, endpoint, public_key,
				last_hole_punch, listen_port, docker_socket_enabled, remote_subnets)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			 RETURNING site_id`,
			site.OrgID, site.NiceID, site.ExitNodeID, site.Name, site.PubKey, site.Subnet, site.MegabytesIn,
			site.MegabytesOut, site.LastBandwidthUpdate, site.Type, site.Online, site.Address, site.Endpoint,
			site.PublicKey, site.LastHolePunch, site.ListenPort, site.DockerSocketEnabled, site.RemoteSubnets,
		).Scan(&id)
		if foreignKeyViolation(err) {
			return errOrgNotFound(site.OrgID) // deleted concurrently
		}
		if err != nil {
			return siteConflict(err, site.NiceID, site.Address)
		}
		if newt != nil {
			if err := insertNewt(ctx, tx, *newt, id); err != nil {
				return err
			}
		}
		stored, err = getSite(ctx, tx, id)
		return err
	})
	return stored, internal("create site", err)
}

func insertNewt(ctx context.Context, tx *sql.Tx, newt core.Newt, siteID int64) error {
	if newt.CreatedAt.IsZero() {
		newt.CreatedAt = now()
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO newts (newt_id, secret_hash, created_at, site_id) VALUES ($1, $2, $3, $4)`,
		newt.ID, newt.SecretHash, formatTime(newt.CreatedAt), siteID)
	if _, ok := uniqueViolation(err); ok {
		return core.Errorf(core.CodeConflict, "Newt with ID %s already exists", newt.ID)
	}
	return err
}

// checkNiceIDFree refuses niceID when another site of the org (one whose id
// is not exceptID) has it.
func checkNiceIDFree(ctx context.Context, tx *sql.Tx, orgID, niceID string, exceptID int64) error {
	taken, err := exists(ctx, tx,
		`SELECT 1 FROM sites WHERE org_id = $1 AND nice_id = $2 AND site_id <> $3`, orgID, niceID, exceptID)
	if err != nil {
		return err
	}
	if taken {
		return errNiceIDTaken(niceID)
	}
	return nil
}

// GetSite returns the site with OrgName and NewtVersion filled.
func (s *Store) GetSite(ctx context.Context, id int64) (core.Site, error) {
	st, err := getSite(ctx, s.reader, id)
	return st, internal("get site", err)
}

// GetSiteByNiceID returns the org's site with that niceId.
func (s *Store) GetSiteByNiceID(ctx context.Context, orgID, niceID string) (core.Site, error) {
	st, err := scanSite(s.reader.QueryRowContext(ctx,
		siteSelect+` WHERE s.org_id = $1 AND s.nice_id = $2`, orgID, niceID))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Site{}, core.Errorf(core.CodeNotFound, "Site with niceId %s not found", niceID)
	}
	return st, internal("get site by niceId", err)
}

// ListSites returns a page of the org's sites ordered by id, and how many
// the org has.
func (s *Store) ListSites(ctx context.Context, orgID string, page core.Page) ([]core.Site, int, error) {
	limit, offset := limitOffset(page)
	rows, err := s.reader.QueryContext(ctx,
		siteSelect+` WHERE s.org_id = $1 ORDER BY s.site_id LIMIT $2 OFFSET $3`, orgID, limit, offset)
	if err != nil {
		return nil, 0, internal("list sites", err)
	}
	defer rows.Close()
	sites := []core.Site{}
	for rows.Next() {
		st, err := scanSite(rows)
		if err != nil {
			return nil, 0, internal("list sites", err)
		}
		sites = append(sites, st)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, internal("list sites", err)
	}
	rows.Close() // free the connection before the next query
	total, err := count(ctx, s.reader, `SELECT COUNT(*) FROM sites WHERE org_id = $1`, orgID)
	if err != nil {
		return nil, 0, internal("count sites", err)
	}
	return sites, total, nil
}

// UpdateSite applies the non-nil fields of update and returns the site as
// stored.
func (s *Store) UpdateSite(ctx context.Context, id int64, update core.SiteUpdate) (core.Site, error) {
	var stored core.Site
	err := s.write(ctx, func(tx *sql.Tx) error {
		current, err := getSite(ctx, tx, id)
		if err != nil {
			return err
		}
		var sets []string
		var args []any
		set := func(column string, value any) {
			args = append(args, value)
			sets = append(sets, fmt.Sprintf("%s = $%d", column, len(args)))
		}
		if update.Name != nil {
			set("name", *update.Name)
		}
		if update.NiceID != nil {
			if err := checkNiceIDFree(ctx, tx, current.OrgID, *update.NiceID, id); err != nil {
				return err
			}
			set("nice_id", *update.NiceID)
		}
		if update.DockerSocketEnabled != nil {
			set("docker_socket_enabled", *update.DockerSocketEnabled)
		}
		if update.RemoteSubnets != nil {
			set("remote_subnets", *update.RemoteSubnets)
		}
		if len(sets) > 0 {
			args = append(args, id)
			_, err := tx.ExecContext(ctx,
				fmt.Sprintf(`UPDATE sites SET %s WHERE site_id = $%d`, strings.Join(sets, ", "), len(args)),
				args...)
			if err != nil {
				niceID := current.NiceID
				if update.NiceID != nil {
					niceID = *update.NiceID
				}
				return siteConflict(err, niceID, nil)
			}
		}
		stored, err = getSite(ctx, tx, id)
		return err
	})
	return stored, internal("update site", err)
}

// DeleteSite deletes the site; its newt cascades.
func (s *Store) DeleteSite(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sites WHERE site_id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errSiteNotFound(id)
		}
		return nil
	})
	return internal("delete site", err)
}

// OrgAddresses returns the overlay addresses the org's sites use, in site
// order.
func (s *Store) OrgAddresses(ctx context.Context, orgID string) ([]string, error) {
	addrs, err := queryStrings(ctx, s.reader,
		`SELECT address FROM sites WHERE org_id = $1 AND address IS NOT NULL ORDER BY site_id`, orgID)
	return addrs, internal("org addresses", err)
}

const exitNodeSelect = `SELECT exit_node_id, name, address, endpoint, public_key, listen_port FROM exit_nodes`

func scanExitNode(row *sql.Row) (core.ExitNode, error) {
	var n core.ExitNode
	err := row.Scan(&n.ID, &n.Name, &n.Address, &n.Endpoint, &n.PublicKey, &n.ListenPort)
	return n, err
}

func errExitNodeNotFound() error { return core.Errorf(core.CodeNotFound, "Exit node not found") }

// FirstExitNode returns the exit node with the lowest id, nil when there is
// none.
func (s *Store) FirstExitNode(ctx context.Context) (*core.ExitNode, error) {
	n, err := scanExitNode(s.reader.QueryRowContext(ctx, exitNodeSelect+` ORDER BY exit_node_id LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, internal("first exit node", err)
	}
	return &n, nil
}

// GetExitNode returns the exit node with that id.
func (s *Store) GetExitNode(ctx context.Context, id int64) (core.ExitNode, error) {
	n, err := scanExitNode(s.reader.QueryRowContext(ctx, exitNodeSelect+` WHERE exit_node_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.ExitNode{}, errExitNodeNotFound()
	}
	return n, internal("get exit node", err)
}

// ExitNodeSubnets returns the tunnel subnets of the sites on the exit node
// (null subnets left out), in site order.
func (s *Store) ExitNodeSubnets(ctx context.Context, exitNodeID int64) ([]string, error) {
	subnets, err := queryStrings(ctx, s.reader,
		`SELECT subnet FROM sites WHERE exit_node_id = $1 AND subnet IS NOT NULL ORDER BY site_id`, exitNodeID)
	return subnets, internal("exit node subnets", err)
}
