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

-- +goose Down
DROP TABLE journey_plans;
