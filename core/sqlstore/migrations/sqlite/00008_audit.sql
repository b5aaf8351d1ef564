-- The API call log (written in the transaction of each change it records)
-- and the answers kept for idempotent retries (ciphertext only).

-- +goose Up
-- A plain rowid table, without secondary indexes or AUTOINCREMENT: each of
-- those is one more page written with every API write, and on the embedded
-- SQLite default the record must not make writes noticeably slower. Lists
-- scan and sort (fine at a single node's volume); PostgreSQL has indexes.
CREATE TABLE api_logs (
    id           INTEGER PRIMARY KEY,
    timestamp    TEXT NOT NULL,
    api_key_id   TEXT NOT NULL,
    api_key_name TEXT,
    client_ip    TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    action       TEXT NOT NULL,
    org_id       TEXT,
    object_id    TEXT,
    status       INTEGER NOT NULL,
    request_id   TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    api_key_id  TEXT NOT NULL,
    key_digest  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    answer      BLOB,
    lease_until TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (api_key_id, key_digest)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_logs;
