-- Public resources and everything that hangs off them: domains, targets,
-- rules, resource auth and access, access tokens, and the roles and users
-- that access is granted to. Column names are the proto field names of the
-- messages that carry them (snake_case of Pangolin's JSON names). Deleting
-- an org or a resource removes what belongs to it through the foreign keys
-- (ON DELETE CASCADE), in the statement that deletes it. Booleans are
-- INTEGER 0/1, ISO-8601 timestamps TEXT, epoch-millisecond times INTEGER;
-- lists (headers) are JSON text.

-- +goose Up
CREATE TABLE domains (
    domain_id            TEXT PRIMARY KEY,
    base_domain          TEXT NOT NULL,
    -- Declared in the config file: synced at start, never deleted by the API.
    config_managed       INTEGER NOT NULL DEFAULT 0,
    type                 TEXT,
    verified             INTEGER NOT NULL DEFAULT 0,
    failed               INTEGER NOT NULL DEFAULT 0,
    tries                INTEGER NOT NULL DEFAULT 0,
    cert_resolver        TEXT,
    custom_cert_resolver TEXT,
    prefer_wildcard_cert INTEGER,
    error_message        TEXT,
    last_checked_at      INTEGER
);
CREATE INDEX domains_base_domain_idx ON domains (base_domain);

-- A domain may serve several orgs (config domains serve all of them).
CREATE TABLE org_domains (
    org_id    TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    domain_id TEXT NOT NULL REFERENCES domains (domain_id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, domain_id)
);
CREATE INDEX org_domains_domain_id_idx ON org_domains (domain_id);

CREATE TABLE dns_records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id   TEXT NOT NULL REFERENCES domains (domain_id) ON DELETE CASCADE,
    record_type TEXT NOT NULL,
    base_domain TEXT,
    value       TEXT NOT NULL,
    verified    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX dns_records_domain_id_idx ON dns_records (domain_id);

-- site_id is the 1.8 resource's site (resources created on the newer path
-- have none: their targets carry the site). full_domain is unique across
-- all orgs, and so is a raw resource's (protocol, proxy_port).
CREATE TABLE resources (
    resource_id                INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                     TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    site_id                    INTEGER REFERENCES sites (site_id) ON DELETE CASCADE,
    nice_id                    TEXT NOT NULL,
    resource_guid              TEXT NOT NULL,
    name                       TEXT NOT NULL,
    subdomain                  TEXT,
    full_domain                TEXT,
    domain_id                  TEXT REFERENCES domains (domain_id) ON DELETE SET NULL,
    ssl                        INTEGER NOT NULL DEFAULT 0,
    block_access               INTEGER NOT NULL DEFAULT 0,
    sso                        INTEGER NOT NULL DEFAULT 1,
    http                       INTEGER NOT NULL DEFAULT 1,
    protocol                   TEXT NOT NULL,
    proxy_port                 INTEGER,
    email_whitelist_enabled    INTEGER NOT NULL DEFAULT 0,
    apply_rules                INTEGER NOT NULL DEFAULT 0,
    enabled                    INTEGER NOT NULL DEFAULT 1,
    sticky_session             INTEGER NOT NULL DEFAULT 0,
    tls_server_name            TEXT,
    set_host_header            TEXT,
    enable_proxy               INTEGER DEFAULT 1,
    -- An identity provider id; no foreign key until identity providers
    -- are stored.
    skip_to_idp_id             INTEGER,
    headers                    TEXT,
    proxy_protocol             INTEGER NOT NULL DEFAULT 0,
    proxy_protocol_version     INTEGER DEFAULT 1,
    maintenance_mode_enabled   INTEGER NOT NULL DEFAULT 0,
    maintenance_mode_type      TEXT DEFAULT 'forced',
    maintenance_title          TEXT,
    maintenance_message        TEXT,
    maintenance_estimated_time TEXT,
    post_auth_path             TEXT
);
CREATE UNIQUE INDEX resources_org_id_nice_id_key ON resources (org_id, nice_id);
CREATE UNIQUE INDEX resources_resource_guid_key ON resources (resource_guid);
CREATE UNIQUE INDEX resources_full_domain_key ON resources (full_domain) WHERE full_domain IS NOT NULL;
CREATE UNIQUE INDEX resources_protocol_proxy_port_key ON resources (protocol, proxy_port) WHERE proxy_port IS NOT NULL;
CREATE INDEX resources_site_id_idx ON resources (site_id);
CREATE INDEX resources_domain_id_idx ON resources (domain_id);

-- A target with its health check (Pangolin keeps the hc_* fields in a
-- table of their own, one row per target: the same data).
CREATE TABLE targets (
    target_id              INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id            INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    site_id                INTEGER NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    ip                     TEXT NOT NULL,
    method                 TEXT,
    port                   INTEGER NOT NULL,
    internal_port          INTEGER,
    enabled                INTEGER NOT NULL DEFAULT 1,
    path                   TEXT,
    path_match_type        TEXT,
    rewrite_path           TEXT,
    rewrite_path_type      TEXT,
    priority               INTEGER NOT NULL DEFAULT 100,
    mode                   TEXT,
    hc_enabled             INTEGER NOT NULL DEFAULT 0,
    hc_path                TEXT,
    hc_scheme              TEXT,
    hc_mode                TEXT,
    hc_hostname            TEXT,
    hc_port                INTEGER,
    hc_interval            INTEGER,
    hc_unhealthy_interval  INTEGER,
    hc_timeout             INTEGER,
    hc_headers             TEXT,
    hc_follow_redirects    INTEGER,
    hc_method              TEXT,
    hc_status              INTEGER,
    hc_health              TEXT NOT NULL DEFAULT 'unknown',
    hc_tls_server_name     TEXT,
    hc_healthy_threshold   INTEGER,
    hc_unhealthy_threshold INTEGER
);
CREATE INDEX targets_resource_id_idx ON targets (resource_id);
CREATE INDEX targets_site_id_idx ON targets (site_id);

CREATE TABLE resource_rules (
    rule_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    enabled     INTEGER NOT NULL DEFAULT 1,
    priority    INTEGER NOT NULL,
    action      TEXT NOT NULL,
    match       TEXT NOT NULL,
    value       TEXT NOT NULL,
    method      TEXT
);
CREATE INDEX resource_rules_resource_id_idx ON resource_rules (resource_id, priority);

-- Role names are unique in an org (Pangolin checks it in code).
CREATE TABLE roles (
    role_id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                  TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    is_admin                INTEGER,
    name                    TEXT NOT NULL,
    description             TEXT,
    require_device_approval INTEGER NOT NULL DEFAULT 0,
    ssh_sudo_mode           TEXT NOT NULL DEFAULT 'none',
    ssh_sudo_commands       TEXT NOT NULL DEFAULT '[]',
    ssh_create_home_dir     INTEGER NOT NULL DEFAULT 1,
    ssh_unix_groups         TEXT NOT NULL DEFAULT '[]'
);
CREATE UNIQUE INDEX roles_org_id_name_key ON roles (org_id, name);

CREATE TABLE role_actions (
    role_id   INTEGER NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    action_id TEXT NOT NULL REFERENCES actions (action_id) ON DELETE CASCADE,
    org_id    TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, action_id)
);
CREATE INDEX role_actions_action_id_idx ON role_actions (action_id);
CREATE INDEX role_actions_org_id_idx ON role_actions (org_id);

-- idp_id names an identity provider; no foreign key until identity
-- providers are stored.
CREATE TABLE users (
    user_id                    TEXT PRIMARY KEY,
    email                      TEXT,
    username                   TEXT NOT NULL,
    name                       TEXT,
    type                       TEXT NOT NULL,
    idp_id                     INTEGER,
    password_hash              TEXT,
    two_factor_enabled         INTEGER NOT NULL DEFAULT 0,
    two_factor_secret          TEXT,
    two_factor_setup_requested INTEGER DEFAULT 0,
    email_verified             INTEGER NOT NULL DEFAULT 0,
    date_created               TEXT NOT NULL,
    terms_accepted_timestamp   TEXT,
    terms_version              TEXT,
    server_admin               INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX users_idp_id_idx ON users (idp_id);
CREATE INDEX users_username_idx ON users (username);

-- One membership per (user, org), with the member's role (1.8's model).
-- The role cannot be deleted while a member has it.
CREATE TABLE user_orgs (
    user_id          TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    org_id           TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    role_id          INTEGER NOT NULL REFERENCES roles (role_id),
    is_owner         INTEGER NOT NULL DEFAULT 0,
    auto_provisioned INTEGER NOT NULL DEFAULT 0,
    pam_username     TEXT,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX user_orgs_org_id_idx ON user_orgs (org_id);
CREATE INDEX user_orgs_role_id_idx ON user_orgs (role_id);

CREATE TABLE role_resources (
    role_id     INTEGER NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    resource_id INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, resource_id)
);
CREATE INDEX role_resources_resource_id_idx ON role_resources (resource_id);

CREATE TABLE user_resources (
    user_id     TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    resource_id INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, resource_id)
);
CREATE INDEX user_resources_resource_id_idx ON user_resources (resource_id);

-- At most one password, pincode and header auth per resource; only
-- argon2id hashes are stored.
CREATE TABLE resource_passwords (
    password_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id   INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX resource_passwords_resource_id_key ON resource_passwords (resource_id);

CREATE TABLE resource_pincodes (
    pincode_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id  INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    pincode_hash TEXT NOT NULL,
    digit_length INTEGER NOT NULL
);
CREATE UNIQUE INDEX resource_pincodes_resource_id_key ON resource_pincodes (resource_id);

CREATE TABLE resource_header_auth (
    header_auth_id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id                         INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    header_auth_hash                    TEXT NOT NULL,
    extended_compatibility_is_activated INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX resource_header_auth_resource_id_key ON resource_header_auth (resource_id);

-- Lower-cased e-mail addresses or *@domain wildcards.
CREATE TABLE resource_whitelist (
    whitelist_id INTEGER PRIMARY KEY AUTOINCREMENT,
    email        TEXT NOT NULL,
    resource_id  INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX resource_whitelist_resource_id_email_key ON resource_whitelist (resource_id, email);

-- Times are epoch milliseconds, as Pangolin answers them.
CREATE TABLE resource_access_tokens (
    access_token_id TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    resource_id     INTEGER NOT NULL REFERENCES resources (resource_id) ON DELETE CASCADE,
    token_hash      TEXT NOT NULL,
    session_length  INTEGER NOT NULL,
    expires_at      INTEGER,
    title           TEXT,
    description     TEXT,
    created_at      INTEGER NOT NULL,
    path            TEXT
);
CREATE INDEX resource_access_tokens_org_id_idx ON resource_access_tokens (org_id);
CREATE INDEX resource_access_tokens_resource_id_idx ON resource_access_tokens (resource_id);

-- +goose Down
DROP TABLE resource_access_tokens;
DROP TABLE resource_whitelist;
DROP TABLE resource_header_auth;
DROP TABLE resource_pincodes;
DROP TABLE resource_passwords;
DROP TABLE user_resources;
DROP TABLE role_resources;
DROP TABLE user_orgs;
DROP TABLE users;
DROP TABLE role_actions;
DROP TABLE roles;
DROP TABLE resource_rules;
DROP TABLE targets;
DROP TABLE resources;
DROP TABLE dns_records;
DROP TABLE org_domains;
DROP TABLE domains;
