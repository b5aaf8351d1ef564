package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"pangolin-gateway/core"
	corev1 "pangolin-gateway/proto/pangolin/core/v1"
)

// siteResources holds corev1.SiteResource; lists read
// corev1.SiteResourceListItem with its site's name, niceId, address and
// state.
var siteResources = &table{
	name: "site_resources", alias: "sr", generated: "site_resource_id",
	columns: []string{
		"site_resource_id", "site_id", "org_id", "nice_id", "name", "mode", "destination", "enabled", "alias",
		"alias_address", "tcp_port_range_string", "udp_port_range_string", "disable_icmp",
	},
	computed: map[string]string{
		"site_name":    `(SELECT s.name FROM sites s WHERE s.site_id = sr.site_id)`,
		"site_nice_id": `(SELECT s.nice_id FROM sites s WHERE s.site_id = sr.site_id)`,
		"site_address": `(SELECT s.address FROM sites s WHERE s.site_id = sr.site_id)`,
		"site_online":  `(SELECT s.online FROM sites s WHERE s.site_id = sr.site_id)`,
	},
}

// siteResourceClients reads corev1.SiteResourceClient from clients.
var siteResourceClients = &table{name: "clients", alias: "c", columns: []string{"client_id", "name", "subnet"}}

var siteResourceGrants = &grants{
	kind: core.GrantSiteResource, key: "site_resource_id",
	roles: "role_site_resources", users: "user_site_resources", clients: "client_site_resources",
	lock: (*Store).lockSiteResource,
}

func getSiteResource(ctx context.Context, q querier, id int64, lock string) (*corev1.SiteResource, error) {
	r := &corev1.SiteResource{}
	err := getRow(ctx, q, siteResources, r, `WHERE sr.site_resource_id = $1`+lock, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.SiteResourceNotFound(id)
	}
	return r, err
}

// lockSiteResource returns the org of a site resource and, on PostgreSQL,
// locks its row until the transaction ends.
func (s *Store) lockSiteResource(ctx context.Context, tx *tx, id int64) (string, error) {
	var orgID string
	err := tx.QueryRowContext(ctx, `SELECT org_id FROM site_resources WHERE site_resource_id = $1`+s.dialect.forUpdate(), id).Scan(&orgID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", core.SiteResourceNotFound(id)
	}
	return orgID, err
}

func errAliasTaken(alias string) error {
	return core.Errorf(core.CodeConflict, "Alias %s is already in use in this organization", alias)
}

// siteResourceConflict maps a unique-index violation on site resources to
// the rule it broke (writers racing on PostgreSQL).
func siteResourceConflict(err error, r *corev1.SiteResource) error {
	name, ok := uniqueViolation(err)
	switch {
	case ok && strings.Contains(name, "nice_id"):
		return errResourceNiceIDTaken(r.GetNiceId())
	case ok && strings.Contains(name, "alias"):
		return errAliasTaken(r.GetAlias())
	}
	return err
}

// prepareSiteResource refuses r when its site is not of its org, or its
// niceId (shared with the org's public resources) or alias is another's
// (a site resource whose id is not exceptID), and sets its alias address.
// The org is locked first, so that alias addresses read as free stay so.
func (s *Store) prepareSiteResource(ctx context.Context, tx *tx, r *corev1.SiteResource, exceptID int64, alias core.AliasAddress) error {
	if err := s.lockOrg(ctx, tx, r.GetOrgId()); err != nil {
		return err
	}
	inOrg, err := exists(ctx, tx, `SELECT 1 FROM sites WHERE site_id = $1 AND org_id = $2`, r.GetSiteId(), r.GetOrgId())
	if err != nil {
		return err
	}
	if !inOrg {
		return core.SiteNotFound(r.GetSiteId())
	}
	taken, err := exists(ctx, tx, `SELECT 1 FROM site_resources WHERE org_id = $1 AND nice_id = $2 AND site_resource_id <> $3
		UNION ALL SELECT 1 FROM resources WHERE org_id = $1 AND nice_id = $2`, r.GetOrgId(), r.GetNiceId(), exceptID)
	if err != nil {
		return err
	}
	if taken {
		return errResourceNiceIDTaken(r.GetNiceId())
	}
	if r.Alias != nil {
		taken, err := exists(ctx, tx, `SELECT 1 FROM site_resources WHERE org_id = $1 AND alias = $2 AND site_resource_id <> $3`,
			r.GetOrgId(), r.GetAlias(), exceptID)
		if err != nil {
			return err
		}
		if taken {
			return errAliasTaken(r.GetAlias())
		}
	}
	used, err := queryStrings(ctx, tx, `SELECT alias_address FROM site_resources
		WHERE org_id = $1 AND alias_address IS NOT NULL AND site_resource_id <> $2`, r.GetOrgId(), exceptID)
	if err != nil {
		return err
	}
	r.AliasAddress, err = alias(r, used)
	return err
}

// CreateSiteResource stores r, links its org's Admin role and the grants,
// in one transaction, and returns it as stored.
func (s *Store) CreateSiteResource(ctx context.Context, r *corev1.SiteResource, g core.SiteResourceGrants, alias core.AliasAddress) (*corev1.SiteResource, error) {
	var stored *corev1.SiteResource
	err := s.write(ctx, func(tx *tx) error {
		if err := s.prepareSiteResource(ctx, tx, r, 0, alias); err != nil {
			return err
		}
		id, err := insert(ctx, tx, siteResources, r)
		if err != nil {
			return siteResourceConflict(err, r)
		}
		if err := checkRoles(ctx, tx, siteResourceGrants, r.GetOrgId(), g.RoleIDs); err != nil {
			return err
		}
		if err := s.membersOnly(ctx, tx, r.GetOrgId(), g.UserIDs); err != nil {
			return err
		}
		if err := s.machineClientsOnly(ctx, tx, r.GetOrgId(), g.ClientIDs, "add"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO role_site_resources (role_id, site_resource_id)
			SELECT role_id, $1 FROM roles WHERE org_id = $2 AND is_admin`, id, r.GetOrgId()); err != nil {
			return err
		}
		if err := linkRoles(ctx, tx, siteResourceGrants, id, g.RoleIDs); err != nil {
			return err
		}
		if err := linkUsers(ctx, tx, siteResourceGrants, id, g.UserIDs); err != nil {
			return err
		}
		if err := linkClients(ctx, tx, siteResourceGrants, id, g.ClientIDs); err != nil {
			return err
		}
		stored, err = getSiteResource(ctx, tx, id, "")
		return err
	})
	return stored, internal("create site resource", err)
}

// GetSiteResource returns the site resource.
func (s *Store) GetSiteResource(ctx context.Context, id int64) (*corev1.SiteResource, error) {
	r, err := getSiteResource(ctx, s.reader, id, "")
	return r, internal("get site resource", err)
}

// SiteResourceOrg returns the org of the site resource.
func (s *Store) SiteResourceOrg(ctx context.Context, id int64) (string, error) {
	return objectOrg(ctx, s.reader, "site resource org",
		`SELECT org_id FROM site_resources WHERE site_resource_id = $1`, id, core.SiteResourceNotFound)
}

// ListSiteResources returns a page of the site resources f selects, and
// how many it selects.
func (s *Store) ListSiteResources(ctx context.Context, f core.SiteResourceFilter, page *corev1.Page) ([]*corev1.SiteResourceListItem, int32, error) {
	where := []string{"sr.org_id = $1"}
	args := []any{f.OrgID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.SiteID != nil {
		where = append(where, `sr.site_id = `+arg(*f.SiteID))
	}
	if f.Mode != nil {
		where = append(where, `sr.mode = `+arg(*f.Mode))
	}
	if f.Query != nil {
		n := arg("%" + likeEscaper.Replace(strings.ToLower(*f.Query)) + "%")
		var like []string
		for _, c := range []string{"sr.name", "sr.nice_id", "COALESCE(sr.destination, '')", "COALESCE(sr.alias, '')"} {
			like = append(like, `LOWER(`+c+`) LIKE `+n+` ESCAPE '\'`)
		}
		where = append(where, "("+strings.Join(like, " OR ")+")")
	}
	dir := direction(f.Desc)
	order := "sr.site_resource_id " + dir
	if f.SortByName {
		order = "LOWER(sr.name) " + dir + ", sr.name " + dir + ", sr.site_resource_id " + dir
	}
	return pageOf[corev1.SiteResourceListItem](ctx, s, siteResources, "site resources", strings.Join(where, " AND "), order, args, page)
}

// UpdateSiteResource reads the site resource (locked on PostgreSQL), lets
// change modify it and writes the result, in one transaction.
func (s *Store) UpdateSiteResource(ctx context.Context, id int64, change func(*corev1.SiteResource) error, alias core.AliasAddress) (*corev1.SiteResource, error) {
	var stored *corev1.SiteResource
	err := s.write(ctx, func(tx *tx) error {
		r, err := getSiteResource(ctx, tx, id, s.dialect.forUpdate())
		if err != nil {
			return err
		}
		orgID := r.GetOrgId()
		if err := change(r); err != nil {
			return err
		}
		r.SiteResourceId, r.OrgId = id, orgID
		if err := s.prepareSiteResource(ctx, tx, r, id, alias); err != nil {
			return err
		}
		if _, err := updateRow(ctx, tx, siteResources, r, "site_resource_id", "org_id"); err != nil {
			return siteResourceConflict(err, r)
		}
		stored, err = getSiteResource(ctx, tx, id, "")
		return err
	})
	return stored, internal("update site resource", err)
}

// DeleteSiteResource deletes the site resource; its grants cascade.
func (s *Store) DeleteSiteResource(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "site_resources", "site_resource_id", id, core.SiteResourceNotFound(id))
}

// SiteResourceRoles lists the roles granted the site resource, by id.
func (s *Store) SiteResourceRoles(ctx context.Context, id int64) ([]*corev1.ResourceRole, error) {
	return s.grantedRoles(ctx, siteResourceGrants, id)
}

// SiteResourceUsers lists the users granted the site resource, by username.
func (s *Store) SiteResourceUsers(ctx context.Context, id int64) ([]*corev1.ResourceUser, error) {
	return s.grantedUsers(ctx, siteResourceGrants, id)
}

// SiteResourceClients lists the clients granted the site resource, by id.
func (s *Store) SiteResourceClients(ctx context.Context, id int64) ([]*corev1.SiteResourceClient, error) {
	list, err := getRows[corev1.SiteResourceClient](ctx, s.reader, siteResourceClients,
		`JOIN client_site_resources l ON l.client_id = c.client_id WHERE l.site_resource_id = $1 ORDER BY c.client_id`, id)
	return list, internal("site resource clients", err)
}

// SetSiteResourceRoles makes roleIDs the roles granted the site resource
// besides its org's Admin role.
func (s *Store) SetSiteResourceRoles(ctx context.Context, id int64, roleIDs []int64) error {
	return s.setRoles(ctx, siteResourceGrants, id, roleIDs)
}

// AddSiteResourceRole grants a role of the site resource's org the site
// resource.
func (s *Store) AddSiteResourceRole(ctx context.Context, id, roleID int64) error {
	return s.addRole(ctx, siteResourceGrants, id, roleID)
}

// RemoveSiteResourceRole takes the site resource from a role of its org.
func (s *Store) RemoveSiteResourceRole(ctx context.Context, id, roleID int64) error {
	return s.removeRole(ctx, siteResourceGrants, id, roleID)
}

// SetSiteResourceUsers makes userIDs the users granted the site resource.
func (s *Store) SetSiteResourceUsers(ctx context.Context, id int64, userIDs []string) error {
	return s.setUsers(ctx, siteResourceGrants, id, userIDs)
}

// AddSiteResourceUser grants a member of the org the site resource.
func (s *Store) AddSiteResourceUser(ctx context.Context, id int64, userID string) error {
	return s.addUser(ctx, siteResourceGrants, id, userID)
}

// RemoveSiteResourceUser takes the site resource from a member.
func (s *Store) RemoveSiteResourceUser(ctx context.Context, id int64, userID string) error {
	return s.removeUser(ctx, siteResourceGrants, id, userID)
}

// SetSiteResourceClients makes clientIDs (machine clients of its org) the
// clients granted the site resource, in one transaction.
func (s *Store) SetSiteResourceClients(ctx context.Context, id int64, clientIDs []int64) error {
	g := siteResourceGrants
	err := s.write(ctx, func(tx *tx) error {
		orgID, err := g.lock(s, ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.machineClientsOnly(ctx, tx, orgID, clientIDs, "add"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+g.clients+` WHERE `+g.key+` = $1`, id); err != nil {
			return err
		}
		return linkClients(ctx, tx, g, id, clientIDs)
	})
	return internal("set site resource clients", err)
}

// AddSiteResourceClient grants a machine client of its org the site
// resource.
func (s *Store) AddSiteResourceClient(ctx context.Context, id, clientID int64) error {
	g := siteResourceGrants
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockClientGrant(ctx, tx, id, clientID, "add"); err != nil {
			return err
		}
		granted, err := exists(ctx, tx, `SELECT 1 FROM `+g.clients+` WHERE client_id = $1 AND `+g.key+` = $2`, clientID, id)
		if err != nil {
			return err
		}
		if granted {
			return core.ClientAlreadyAssigned(g.kind)
		}
		return linkClients(ctx, tx, g, id, []int64{clientID})
	})
	return internal("add site resource client", err)
}

// RemoveSiteResourceClient takes the site resource from a machine client
// of its org.
func (s *Store) RemoveSiteResourceClient(ctx context.Context, id, clientID int64) error {
	g := siteResourceGrants
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockClientGrant(ctx, tx, id, clientID, "remove"); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM `+g.clients+` WHERE client_id = $1 AND `+g.key+` = $2`, clientID, id)
		if err != nil {
			return err
		}
		return deletedOne(res, core.ClientNotAssigned(g.kind))
	})
	return internal("remove site resource client", err)
}

// lockClientGrant locks the site resource and checks that the client is a
// machine client of its org.
func (s *Store) lockClientGrant(ctx context.Context, tx *tx, id, clientID int64, verb string) error {
	orgID, err := siteResourceGrants.lock(s, ctx, tx, id)
	if err != nil {
		return err
	}
	return s.machineClientsOnly(ctx, tx, orgID, []int64{clientID}, verb)
}

// machineClientsOnly refuses unless every id is a client of the org
// (ClientsNotInOrg) that belongs to no user (UserClientRefused(verb)). On
// PostgreSQL the clients are locked until the transaction ends.
func (s *Store) machineClientsOnly(ctx context.Context, tx *tx, orgID string, clientIDs []int64, verb string) error {
	return inChunks(orgID, clientIDs, func(args []any, n int) error {
		owners, err := queryStrings(ctx, tx, `SELECT COALESCE(user_id, '') FROM clients WHERE org_id = $1 AND client_id IN (`+
			placeholders(2, n)+`)`+s.dialect.forUpdate(), args...)
		if err != nil {
			return err
		}
		if len(owners) != n {
			return core.ClientsNotInOrg()
		}
		for _, owner := range owners {
			if owner != "" {
				return core.UserClientRefused(verb)
			}
		}
		return nil
	})
}

// linkClients inserts the links of clientIDs (checked) to the object.
func linkClients(ctx context.Context, tx *tx, g *grants, id int64, clientIDs []int64) error {
	for _, clientID := range clientIDs {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+g.clients+` (client_id, `+g.key+`) VALUES ($1, $2)`, clientID, id)
		if foreignKeyViolation(err) {
			return core.ClientsNotInOrg() // deleted meanwhile
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// AddClientSiteResources grants the client those of the site resources
// (all of its org) it has not been granted yet, in one transaction, and
// returns them.
func (s *Store) AddClientSiteResources(ctx context.Context, clientID int64, ids []int64) ([]int64, error) {
	var added []int64
	err := s.write(ctx, func(tx *tx) error {
		c, err := getClient(ctx, tx, clientID, s.dialect.forUpdate())
		if err != nil {
			return err
		}
		args := []any{c.GetOrgId()}
		for _, id := range ids {
			args = append(args, id)
		}
		in, err := count(ctx, tx, `SELECT COUNT(*) FROM (SELECT site_resource_id FROM site_resources WHERE org_id = $1
			AND site_resource_id IN (`+placeholders(2, len(ids))+`)`+s.dialect.forUpdate()+`) r`, args...)
		if err != nil {
			return err
		}
		if int(in) != len(ids) {
			return core.SiteResourcesNotFound()
		}
		if c.UserId != nil {
			return core.Errorf(core.CodeInvalid,
				"This endpoint only supports machine (non-user) clients; the specified client is associated with a user")
		}
		added = nil
		for _, id := range ids {
			granted, err := exists(ctx, tx, `SELECT 1 FROM client_site_resources WHERE client_id = $1 AND site_resource_id = $2`, clientID, id)
			if err != nil {
				return err
			}
			if !granted {
				added = append(added, id)
			}
		}
		if len(added) == 0 {
			return core.Errorf(core.CodeConflict, "Client is already assigned to all specified site resources")
		}
		for _, id := range added {
			if _, err := tx.ExecContext(ctx, `INSERT INTO client_site_resources (client_id, site_resource_id) VALUES ($1, $2)`,
				clientID, id); err != nil {
				return err
			}
		}
		return nil
	})
	return added, internal("add client site resources", err)
}
