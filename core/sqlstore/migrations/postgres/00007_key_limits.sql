-- A key's own limits, its last use and a rolled secret's grace. The allow
-- list (JSON array of CIDRs) and the rate limit (JSON object) are read with
-- the key's scope; last_used_at is written in batches, to the minute, and
-- is no change of the key (nothing cached depends on it); previous_hash is
-- the secret before a roll, working until previous_secret_expires_at.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;
ALTER TABLE api_keys ADD COLUMN rate_limit TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
ALTER TABLE api_keys ADD COLUMN previous_hash TEXT;
ALTER TABLE api_keys ADD COLUMN previous_secret_expires_at timestamptz;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN previous_secret_expires_at;
ALTER TABLE api_keys DROP COLUMN previous_hash;
ALTER TABLE api_keys DROP COLUMN last_used_at;
ALTER TABLE api_keys DROP COLUMN rate_limit;
ALTER TABLE api_keys DROP COLUMN allowed_ips;
