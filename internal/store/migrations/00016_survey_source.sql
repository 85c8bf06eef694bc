-- +goose Up

-- Where a survey answer came from: the survey page, or a journey's record
-- step (an SMS reply, a call).
ALTER TABLE survey_answers ADD COLUMN source text NOT NULL DEFAULT 'page';

-- +goose Down
ALTER TABLE survey_answers DROP COLUMN source;
