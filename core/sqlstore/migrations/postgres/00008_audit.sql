-- The API call log (written in the transaction of each change it records)
-- and the answers kept for idempotent retries (ciphertext only).

-- +goose Up
CREATE TABLE api_logs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    timestamp    timestamptz NOT NULL,
    api_key_id   text NOT NULL,
    api_key_name text,
    client_ip    text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    action       text NOT NULL,
    org_id       text,
    object_id    text,
    status       integer NOT NULL,
    request_id   text NOT NULL
);
-- Newest first, for all orgs and for one; retention prunes by time.
CREATE INDEX api_logs_timestamp_idx ON api_logs (timestamp, id);
CREATE INDEX api_logs_org_timestamp_idx ON api_logs (org_id, timestamp, id);

CREATE TABLE idempotency_keys (
    api_key_id  text NOT NULL,
    key_digest  text NOT NULL,
    fingerprint text NOT NULL,
    answer      bytea,
    lease_until timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key_digest)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE api_logs;
