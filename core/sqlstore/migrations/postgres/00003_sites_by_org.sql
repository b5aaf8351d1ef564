-- An org's sites in id order straight from an index: the list reads them
-- so (ORDER BY site_id), and without it the database sorted every list in
-- a temporary B-tree, which was 40% of listing 20 sites on SQLite.
-- Numbered 00003 to leave 00002 to the resources schema being written
-- alongside; goose applies versions in order whatever the gaps.

-- +goose Up
CREATE INDEX sites_org_id_site_id_idx ON sites (org_id, site_id);

-- +goose Down
DROP INDEX sites_org_id_site_id_idx;
