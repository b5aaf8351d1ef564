-- The API call log (written in the transaction of each change it records)
-- and the answers kept for idempotent retries (ciphertext only).

-- +goose Up
CREATE TABLE api_logs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
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
-- Newest first, for all orgs and for one; retention prunes by time.
CREATE INDEX api_logs_timestamp_idx ON api_logs (timestamp, id);
CREATE INDEX api_logs_org_timestamp_idx ON api_logs (org_id, timestamp, id);

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
