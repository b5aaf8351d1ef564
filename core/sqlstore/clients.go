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

// clients holds corev1.OlmClient; lists (corev1.ClientListItem) and the
// detail (corev1.GetClientResponse) read the org's name, the OLM's version
// and agent and the user's fields beside it, with the user's provider.
var clients = &table{
	name: "clients", alias: "c", generated: "client_id",
	columns: []string{
		"client_id", "org_id", "exit_node_id", "user_id", "nice_id", "name", "pub_key", "olm_id", "subnet",
		"megabytes_in", "megabytes_out", "last_bandwidth_update", "last_ping", "type", "online",
		"last_hole_punch", "archived", "blocked", "approval_state",
	},
	computed: map[string]string{
		"org_name":             `(SELECT o.name FROM orgs o WHERE o.org_id = c.org_id)`,
		"olm_version":          `(SELECT m.version FROM olms m WHERE m.client_id = c.client_id ORDER BY m.created_at DESC, m.olm_id LIMIT 1)`,
		"agent":                `(SELECT m.agent FROM olms m WHERE m.client_id = c.client_id ORDER BY m.created_at DESC, m.olm_id LIMIT 1)`,
		"olm_archived":         `COALESCE((SELECT m.archived FROM olms m WHERE m.client_id = c.client_id ORDER BY m.created_at DESC, m.olm_id LIMIT 1), ` + sqlFalse + `)`,
		"username":             `(SELECT u.username FROM users u WHERE u.user_id = c.user_id)`,
		"user_username":        `(SELECT u.username FROM users u WHERE u.user_id = c.user_id)`,
		"user_email":           `(SELECT u.email FROM users u WHERE u.user_id = c.user_id)`,
		"user_name":            `(SELECT u.name FROM users u WHERE u.user_id = c.user_id)`,
		"user_type":            `(SELECT u.type FROM users u WHERE u.user_id = c.user_id)`,
		"idp_name":             `(SELECT i.name FROM users u JOIN idps i ON i.idp_id = u.idp_id WHERE u.user_id = c.user_id)`,
		"olm_update_available": sqlFalse,
	},
}

// sqlFalse is a false both dialects read as a boolean (0 on SQLite).
const sqlFalse = `(1 = 0)`

func getClient(ctx context.Context, q querier, id int64, lock string) (*corev1.OlmClient, error) {
	c := &corev1.OlmClient{}
	err := getRow(ctx, q, clients, c, `WHERE c.client_id = $1`+lock, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.ClientNotFound(id)
	}
	return c, err
}

func errClientNiceIDTaken(niceID string) error {
	return core.Errorf(core.CodeConflict, "A client with niceId %q already exists", niceID)
}

// clientConflict maps a unique-index violation on clients or olms to the
// rule it broke (writers racing on PostgreSQL; the checks before writing
// catch the rest).
func clientConflict(err error, c *corev1.OlmClient) error {
	name, ok := uniqueViolation(err)
	switch {
	case ok && strings.Contains(name, "nice_id"):
		return errClientNiceIDTaken(c.GetNiceId())
	case ok && strings.Contains(name, "subnet"):
		return core.Errorf(core.CodeConflict, "Subnet %s already exists in clients", c.GetSubnet())
	case ok && strings.Contains(name, "olm"):
		return core.Errorf(core.CodeConflict, "OLM with ID %s already exists", c.GetOlmId())
	}
	return err
}

// CreateClient stores c with its OLM and links its org's Admin role, in
// one transaction under the org's lock; its subnet is what assign answers
// for the addresses in use.
func (s *Store) CreateClient(ctx context.Context, c *corev1.OlmClient, olm core.Olm, assign core.AssignAddress) (*corev1.OlmClient, error) {
	var stored *corev1.OlmClient
	err := s.write(ctx, func(tx *tx) error {
		if err := s.lockOrg(ctx, tx, c.GetOrgId()); err != nil {
			return err
		}
		siteAddrs, err := queryStrings(ctx, tx, `SELECT address FROM sites WHERE org_id = $1 AND address IS NOT NULL`, c.GetOrgId())
		if err != nil {
			return err
		}
		clientSubnets, err := queryStrings(ctx, tx, `SELECT subnet FROM clients WHERE org_id = $1`, c.GetOrgId())
		if err != nil {
			return err
		}
		if c.Subnet, err = assign(siteAddrs, clientSubnets); err != nil {
			return err
		}
		taken, err := exists(ctx, tx, `SELECT 1 FROM clients WHERE org_id = $1 AND nice_id = $2`, c.GetOrgId(), c.GetNiceId())
		if err != nil {
			return err
		}
		if taken {
			return errClientNiceIDTaken(c.GetNiceId())
		}
		if taken, err = exists(ctx, tx, `SELECT 1 FROM olms WHERE olm_id = $1`, olm.ID); err != nil {
			return err
		}
		if taken {
			return core.Errorf(core.CodeConflict, "OLM with ID %s already exists", olm.ID)
		}
		id, err := insert(ctx, tx, clients, c, column{"created_at", now()})
		if err != nil {
			return clientConflict(err, c)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO olms (olm_id, secret_hash, created_at, client_id) VALUES ($1, $2, $3, $4)`,
			olm.ID, olm.SecretHash, now(), id)
		if err != nil {
			return clientConflict(err, c)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO role_clients (role_id, client_id) SELECT role_id, $1 FROM roles WHERE org_id = $2 AND is_admin`,
			id, c.GetOrgId()); err != nil {
			return err
		}
		stored, err = getClient(ctx, tx, id, "")
		return err
	})
	return stored, internal("create client", err)
}

// GetClient returns the client.
func (s *Store) GetClient(ctx context.Context, id int64) (*corev1.OlmClient, error) {
	c, err := getClient(ctx, s.reader, id, "")
	return c, internal("get client", err)
}

// ClientDetail returns the client with its OLM, its user and its roles.
func (s *Store) ClientDetail(ctx context.Context, id int64) (*corev1.GetClientResponse, error) {
	out := &corev1.GetClientResponse{}
	var err error
	if out.Client, err = getClient(ctx, s.reader, id, ""); err != nil {
		return nil, internal("get client", err)
	}
	if err := getRow(ctx, s.reader, clients, out, `WHERE c.client_id = $1`, id); err != nil {
		return nil, internal("get client detail", err)
	}
	out.Roles, err = getRows[corev1.ClientRole](ctx, s.reader, roles,
		`JOIN role_clients l ON l.role_id = ro.role_id WHERE l.client_id = $1 ORDER BY ro.role_id`, id)
	return out, internal("client roles", err)
}

// ClientOrg returns the org of the client.
func (s *Store) ClientOrg(ctx context.Context, id int64) (string, error) {
	return objectOrg(ctx, s.reader, "client org", `SELECT org_id FROM clients WHERE client_id = $1`, id, core.ClientNotFound)
}

// ListClients returns a page of the clients f selects, and how many it
// selects.
func (s *Store) ListClients(ctx context.Context, f core.ClientFilter, page *corev1.Page) ([]*corev1.ClientListItem, int32, error) {
	where := []string{"c.org_id = $1", "c.user_id IS NULL"}
	if f.UserDevices {
		where[1] = "c.user_id IS NOT NULL"
	}
	args := []any{f.OrgID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Query != nil {
		n := arg("%" + likeEscaper.Replace(strings.ToLower(*f.Query)) + "%")
		cond := `LOWER(c.name) LIKE ` + n + ` ESCAPE '\' OR LOWER(c.nice_id) LIKE ` + n + ` ESCAPE '\'`
		if f.UserDevices {
			cond += ` OR EXISTS (SELECT 1 FROM users u WHERE u.user_id = c.user_id AND LOWER(COALESCE(u.email, '')) LIKE ` + n + ` ESCAPE '\')`
		}
		where = append(where, "("+cond+")")
	}
	if f.Online != nil {
		where = append(where, `c.online = `+arg(*f.Online))
	}
	var states []string
	if f.Active {
		states = append(states, `(NOT c.archived AND NOT c.blocked)`)
	}
	if f.Blocked {
		states = append(states, `c.blocked`)
	}
	if f.Archived {
		states = append(states, `c.archived`)
	}
	where = append(where, "("+strings.Join(states, " OR ")+")")
	dir := direction(f.Desc)
	order := map[string]string{
		"":             "c.client_id " + dir,
		"name":         "LOWER(c.name) " + dir + ", c.name " + dir + ", c.client_id " + dir,
		"megabytesIn":  "c.megabytes_in " + dir + ", c.client_id " + dir,
		"megabytesOut": "c.megabytes_out " + dir + ", c.client_id " + dir,
	}[f.SortBy]
	return pageOf[corev1.ClientListItem](ctx, s, clients, "clients", strings.Join(where, " AND "), order, args, page)
}

// UpdateClient reads the client (locked on PostgreSQL), lets change
// modify it and writes the result, in one transaction. Its id, org, user,
// OLM and subnet never change here.
func (s *Store) UpdateClient(ctx context.Context, id int64, change func(*corev1.OlmClient) error) (*corev1.OlmClient, error) {
	var stored *corev1.OlmClient
	err := s.write(ctx, func(tx *tx) error {
		c, err := getClient(ctx, tx, id, s.dialect.forUpdate())
		if err != nil {
			return err
		}
		if err := change(c); err != nil {
			return err
		}
		taken, err := exists(ctx, tx, `SELECT 1 FROM clients WHERE org_id = $1 AND nice_id = $2 AND client_id <> $3`,
			c.GetOrgId(), c.GetNiceId(), id)
		if err != nil {
			return err
		}
		if taken {
			return errClientNiceIDTaken(c.GetNiceId())
		}
		c.ClientId = id
		if _, err := updateRow(ctx, tx, clients, c, "client_id", "org_id", "user_id", "olm_id", "subnet"); err != nil {
			return clientConflict(err, c)
		}
		stored, err = getClient(ctx, tx, id, "")
		return err
	})
	return stored, internal("update client", err)
}

// DeleteClient deletes the client; its OLM, role links and grants cascade
// in the same statement.
func (s *Store) DeleteClient(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "clients", "client_id", id, core.ClientNotFound(id))
}
