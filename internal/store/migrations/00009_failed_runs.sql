-- +goose Up
-- Runs that failed do not count for entry rules, and an event that started
-- one can start its journey again: find them by trigger.
CREATE INDEX journey_runs_failed_trigger ON journey_runs (trigger_event_id) WHERE status = 'failed';

-- +goose Down
DROP INDEX journey_runs_failed_trigger;
