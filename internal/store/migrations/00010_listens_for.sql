-- +goose Up

-- The event types a run reacts to (its exit_when and wait until_event
-- conditions), so an event reaches only the runs that listen for its
-- type. NULL (runs registered before, or a condition that does not say
-- which types it matches) means every type, as long as listens is true;
-- '{*}' means the same.
ALTER TABLE journey_runs ADD COLUMN listens_for text[];

-- +goose Down
ALTER TABLE journey_runs DROP COLUMN listens_for;
