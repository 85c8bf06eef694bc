-- +goose Up

-- What staff did to a task, oldest first: claims, assignments by someone
-- else, unclaims and notes, each with who did it, the API key it came
-- with and when. Kept with the task, so erasure (which deletes the
-- customer's tasks) and export (which writes their rows) cover it.
ALTER TABLE tasks ADD COLUMN actions jsonb NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE tasks DROP COLUMN IF EXISTS actions;
