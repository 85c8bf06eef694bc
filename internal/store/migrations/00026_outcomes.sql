-- +goose Up

-- What each run is measured against: its arm (holdout for the journey's
-- control group, treatment for the others of a journey with a holdout,
-- '' for a journey without) and its journey's goal, copied from the plan
-- it entered on, so a conversion is attributed by the rule the run
-- started with, after it ended too. goal_until is when the window ends
-- for a goal counted from entry.
ALTER TABLE journey_runs
    ADD COLUMN arm        text NOT NULL DEFAULT '' CHECK (arm IN ('', 'treatment', 'holdout')),
    ADD COLUMN goal       jsonb,
    ADD COLUMN goal_until timestamptz;

-- A run's conversion: the first event that met its goal inside the
-- window. revenue is the goal event's order total (exact, in currency),
-- NULL when the event named no order.
CREATE TABLE journey_conversions (
    workflow_id  text PRIMARY KEY,
    journey      text NOT NULL,
    customer_id  text NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    converted_at timestamptz NOT NULL,
    order_id     text NOT NULL DEFAULT '',
    revenue      numeric(14, 2),
    currency     text NOT NULL DEFAULT '',
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journey_conversions_journey ON journey_conversions (journey, converted_at);
CREATE INDEX journey_conversions_customer ON journey_conversions (customer_id);

-- The steps each run reached (entered), for the funnel: written when the
-- run comes to rest and when it ends.
CREATE TABLE run_steps (
    workflow_id text NOT NULL,
    step_id     text NOT NULL,
    reached_at  timestamptz NOT NULL,
    PRIMARY KEY (workflow_id, step_id)
);

-- The survey an answer is to (the record step's survey, else the
-- journey's name) and the order it is about, when the survey or the
-- journey that recorded it knew.
ALTER TABLE survey_answers ADD COLUMN survey text NOT NULL DEFAULT '', ADD COLUMN order_id text NOT NULL DEFAULT '';
CREATE INDEX survey_answers_customer ON survey_answers (customer_id, answered_at DESC);

-- +goose Down
DROP INDEX survey_answers_customer;
ALTER TABLE survey_answers DROP COLUMN order_id, DROP COLUMN survey;
DROP TABLE run_steps;
DROP TABLE journey_conversions;
ALTER TABLE journey_runs DROP COLUMN goal_until, DROP COLUMN goal, DROP COLUMN arm;
