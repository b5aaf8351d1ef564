-- A key may expire: NULL means never. Read with the key's scope on every
-- call it has not cached, so the core refuses an expired key at once.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN expires_at;
