-- Initial schema: orgs, exit nodes, sites, newts, actions, API keys and the
-- key change log. SQLite has no boolean or timestamp types: booleans are
-- INTEGER 0/1 and timestamps ISO-8601 UTC text with milliseconds, which
-- sorts and compares chronologically.

-- +goose Up
CREATE TABLE orgs (
    org_id         TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    subnet         TEXT,
    utility_subnet TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE exit_nodes (
    exit_node_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    address         TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    public_key      TEXT NOT NULL,
    listen_port     INTEGER NOT NULL,
    reachable_at    TEXT,
    max_connections INTEGER
);

-- AUTOINCREMENT so that ids of deleted sites are never handed out again
-- (as with PostgreSQL's identity columns).
CREATE TABLE sites (
    site_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    nice_id               TEXT NOT NULL,
    exit_node_id          INTEGER REFERENCES exit_nodes (exit_node_id) ON DELETE SET NULL,
    name                  TEXT NOT NULL,
    pub_key               TEXT,
    subnet                TEXT,
    megabytes_in          REAL NOT NULL DEFAULT 0,
    megabytes_out         REAL NOT NULL DEFAULT 0,
    last_bandwidth_update TEXT,
    type                  TEXT NOT NULL,
    online                INTEGER NOT NULL DEFAULT 0,
    address               TEXT,
    endpoint              TEXT,
    public_key            TEXT,
    last_hole_punch       INTEGER,
    listen_port           INTEGER,
    docker_socket_enabled INTEGER NOT NULL DEFAULT 1,
    remote_subnets        TEXT
);
CREATE UNIQUE INDEX sites_org_id_nice_id_key ON sites (org_id, nice_id);
CREATE UNIQUE INDEX sites_org_id_address_key ON sites (org_id, address) WHERE address IS NOT NULL;
CREATE INDEX sites_exit_node_id_idx ON sites (exit_node_id);

CREATE TABLE newts (
    newt_id     TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    version     TEXT,
    site_id     INTEGER NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE
);
CREATE INDEX newts_site_id_idx ON newts (site_id);

CREATE TABLE actions (
    action_id TEXT PRIMARY KEY
);

CREATE TABLE api_keys (
    api_key_id   TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    api_key_hash TEXT NOT NULL,
    last_chars   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    is_root      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_key_actions (
    api_key_id TEXT NOT NULL REFERENCES api_keys (api_key_id) ON DELETE CASCADE,
    action_id  TEXT NOT NULL REFERENCES actions (action_id) ON DELETE CASCADE,
    PRIMARY KEY (api_key_id, action_id)
);
CREATE INDEX api_key_actions_action_id_idx ON api_key_actions (action_id);

CREATE TABLE api_key_orgs (
    api_key_id TEXT NOT NULL REFERENCES api_keys (api_key_id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    PRIMARY KEY (api_key_id, org_id)
);
CREATE INDEX api_key_orgs_org_id_idx ON api_key_orgs (org_id);

-- The key change log has no foreign key: a deleted key must still be
-- logged. AUTOINCREMENT guarantees seq never goes back, even after the log
-- is pruned empty, so a gateway's "changes after N" stays meaningful.
CREATE TABLE key_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key_id TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE INDEX key_changes_changed_at_idx ON key_changes (changed_at);

-- +goose Down
DROP TABLE key_changes;
DROP TABLE api_key_orgs;
DROP TABLE api_key_actions;
DROP TABLE api_keys;
DROP TABLE actions;
DROP TABLE newts;
DROP TABLE sites;
DROP TABLE exit_nodes;
DROP TABLE orgs;
