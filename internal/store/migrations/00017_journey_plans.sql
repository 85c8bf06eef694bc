-- +goose Up

-- When each plan of a journey was first seen by a worker (or by rapport
-- runs move). A journey that says on_edit: restart-at-step moves its runs
-- only to a plan seen after theirs, so a worker still on older journey
-- files (mid-rollout, or rolled back) never moves runs back to an older
-- plan. Rows are never changed.
CREATE TABLE journey_plans (
    journey    text NOT NULL,
    plan_hash  text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (journey, plan_hash)
);

-- The plans of runs already registered, first seen when their first run
-- started.
INSERT INTO journey_plans (journey, plan_hash, first_seen)
SELECT journey, plan_hash, min(started_at) FROM journey_runs GROUP BY journey, plan_hash;

-- The Mover pages through a journey's running runs by workflow id.
CREATE INDEX journey_runs_running_by_journey ON journey_runs (journey, workflow_id) WHERE status = 'running';

-- +goose Down
DROP INDEX journey_runs_running_by_journey;
DROP TABLE journey_plans;
