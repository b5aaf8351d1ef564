-- Clients (OLM agents on an org's overlay network) with their OLM
-- credentials, and private (site) resources with their grants to roles,
-- users and clients. Same shape as migrations/postgres/00006_clients.sql, with
-- SQLite's types (see 00001_init.sql).
-- Deleting an org, a site, a client, a role or a user removes what hangs
-- off it through the foreign keys.

-- +goose Up
-- user_id is set on user devices, null on machine clients. subnet is the
-- client's overlay address ("<ip>/<org prefix>"): unique among the org's
-- clients here, and against the org's site addresses in the store (both
-- are written under the org's row lock).
CREATE TABLE clients (
    client_id             INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    exit_node_id          INTEGER REFERENCES exit_nodes (exit_node_id) ON DELETE SET NULL,
    user_id               TEXT REFERENCES users (user_id) ON DELETE CASCADE,
    nice_id               TEXT NOT NULL,
    name                  TEXT NOT NULL,
    pub_key               TEXT,
    olm_id                TEXT,
    subnet                TEXT NOT NULL,
    megabytes_in          REAL NOT NULL DEFAULT 0,
    megabytes_out         REAL NOT NULL DEFAULT 0,
    last_bandwidth_update TEXT,
    last_ping             INTEGER,
    type                  TEXT NOT NULL DEFAULT 'olm',
    online                INTEGER NOT NULL DEFAULT 0,
    last_hole_punch       INTEGER,
    archived              INTEGER NOT NULL DEFAULT 0,
    blocked               INTEGER NOT NULL DEFAULT 0,
    approval_state        TEXT,
    created_at            TEXT NOT NULL
);
-- Index names are matched by the store (see uniqueViolation).
CREATE UNIQUE INDEX clients_org_id_nice_id_key ON clients (org_id, nice_id);
CREATE UNIQUE INDEX clients_org_id_subnet_key ON clients (org_id, subnet);
CREATE INDEX clients_user_id_idx ON clients (user_id);

-- An OLM credential: the secret is stored only as an argon2id hash.
CREATE TABLE olms (
    olm_id      TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    version     TEXT,
    agent       TEXT,
    archived    INTEGER NOT NULL DEFAULT 0,
    client_id   INTEGER REFERENCES clients (client_id) ON DELETE CASCADE
);
CREATE INDEX olms_client_id_idx ON olms (client_id);

CREATE TABLE role_clients (
    role_id   INTEGER NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    client_id INTEGER NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, client_id)
);
CREATE INDEX role_clients_client_id_idx ON role_clients (client_id);

-- nice_id shares its namespace with the org's public resources (checked
-- by the store); alias is unique in the org.
CREATE TABLE site_resources (
    site_resource_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    site_id               INTEGER NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    nice_id               TEXT NOT NULL,
    name                  TEXT NOT NULL,
    mode                  TEXT NOT NULL,
    destination           TEXT,
    enabled               INTEGER NOT NULL DEFAULT 1,
    alias                 TEXT,
    alias_address         TEXT,
    tcp_port_range_string TEXT NOT NULL DEFAULT '*',
    udp_port_range_string TEXT NOT NULL DEFAULT '*',
    disable_icmp          INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX site_resources_org_id_nice_id_key ON site_resources (org_id, nice_id);
CREATE UNIQUE INDEX site_resources_org_id_alias_key ON site_resources (org_id, alias) WHERE alias IS NOT NULL;
CREATE INDEX site_resources_site_id_idx ON site_resources (site_id);

CREATE TABLE role_site_resources (
    role_id          INTEGER NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    site_resource_id INTEGER NOT NULL REFERENCES site_resources (site_resource_id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, site_resource_id)
);
CREATE INDEX role_site_resources_site_resource_id_idx ON role_site_resources (site_resource_id);

CREATE TABLE user_site_resources (
    user_id          TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    site_resource_id INTEGER NOT NULL REFERENCES site_resources (site_resource_id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, site_resource_id)
);
CREATE INDEX user_site_resources_site_resource_id_idx ON user_site_resources (site_resource_id);

CREATE TABLE client_site_resources (
    client_id        INTEGER NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    site_resource_id INTEGER NOT NULL REFERENCES site_resources (site_resource_id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, site_resource_id)
);
CREATE INDEX client_site_resources_site_resource_id_idx ON client_site_resources (site_resource_id);

-- +goose Down
DROP TABLE client_site_resources;
DROP TABLE user_site_resources;
DROP TABLE role_site_resources;
DROP TABLE site_resources;
DROP TABLE role_clients;
DROP TABLE olms;
DROP TABLE clients;
