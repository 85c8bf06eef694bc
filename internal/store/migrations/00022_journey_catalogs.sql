-- +goose Up

-- Each journey folder a worker (or `rapport schedules sync`) has run with:
-- the plan of each of its journeys, when it was first and last seen, and
-- when it became the newest: first seen, or later claimed by `rapport
-- schedules sync` (a deploy, a deliberate rollback). Rapport's Temporal Schedules
-- (audience scans, retention) are written only by `rapport schedules
-- sync` and by workers whose folder is the newest, so an old pod (rolled
-- back by hand, crash-looping mid-rollout) never deletes the schedule of a
-- journey added since. Rows are never deleted; the newest is the row with
-- the latest newest_at.
CREATE TABLE journey_catalogs (
    catalog_hash text PRIMARY KEY,
    plans        jsonb NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_seen    timestamptz NOT NULL DEFAULT clock_timestamp(),
    newest_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_at   timestamptz
);

CREATE INDEX journey_catalogs_newest ON journey_catalogs (newest_at DESC, catalog_hash DESC);

-- +goose Down
DROP TABLE journey_catalogs;
