-- Roles, users, invitations and identity providers as the API manages
-- them. Roles gain newer Pangolin's allowSsh; an org has at most one
-- owner; identity providers with their OIDC settings and per-org
-- policies; invitations. Users keep idp_id without a foreign key (SQLite
-- cannot add one to an existing column): deleting a provider deletes its
-- users in the same transaction. The client secret of a provider and the
-- token of an invitation are stored only as argon2id hashes.

-- +goose Up
ALTER TABLE roles ADD COLUMN allow_ssh INTEGER NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX user_orgs_org_id_owner_key ON user_orgs (org_id) WHERE is_owner;
CREATE INDEX users_email_idx ON users (email);
-- A provider's user is one per username (API creates reuse it).
CREATE UNIQUE INDEX users_idp_id_username_key ON users (idp_id, username) WHERE idp_id IS NOT NULL;

CREATE TABLE idps (
    idp_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT NOT NULL,
    type                 TEXT NOT NULL,
    default_role_mapping TEXT,
    default_org_mapping  TEXT,
    auto_provision       INTEGER NOT NULL DEFAULT 0,
    tags                 TEXT
);

CREATE TABLE idp_oidc_configs (
    idp_oauth_config_id INTEGER PRIMARY KEY AUTOINCREMENT,
    idp_id              INTEGER NOT NULL REFERENCES idps (idp_id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    client_secret_hash  TEXT NOT NULL,
    auth_url            TEXT NOT NULL,
    token_url           TEXT NOT NULL,
    identifier_path     TEXT NOT NULL,
    email_path          TEXT,
    name_path           TEXT,
    scopes              TEXT NOT NULL,
    variant             TEXT NOT NULL DEFAULT 'oidc'
);
CREATE UNIQUE INDEX idp_oidc_configs_idp_id_key ON idp_oidc_configs (idp_id);

CREATE TABLE idp_orgs (
    idp_id       INTEGER NOT NULL REFERENCES idps (idp_id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    role_mapping TEXT,
    org_mapping  TEXT,
    PRIMARY KEY (idp_id, org_id)
);
CREATE INDEX idp_orgs_org_id_idx ON idp_orgs (org_id);

-- One invitation per (org, e-mail). Times are epoch milliseconds. The
-- regeneration window counts regenerations in the hour since regen_since.
CREATE TABLE user_invites (
    invite_id   TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (org_id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    token_hash  TEXT NOT NULL,
    role_id     INTEGER NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    regen_since INTEGER,
    regen_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX user_invites_org_id_email_key ON user_invites (org_id, email);
CREATE INDEX user_invites_role_id_idx ON user_invites (role_id);

-- +goose Down
DROP TABLE user_invites;
DROP TABLE idp_orgs;
DROP TABLE idp_oidc_configs;
DROP TABLE idps;
DROP INDEX users_idp_id_username_key;
DROP INDEX users_email_idx;
DROP INDEX user_orgs_org_id_owner_key;
ALTER TABLE roles DROP COLUMN allow_ssh;
