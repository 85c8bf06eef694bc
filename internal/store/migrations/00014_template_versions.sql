-- +goose Up

-- The content of every template a plan pinned, by hash: a run renders the
-- version it started with, though the files were edited, renamed or
-- deleted since. Rows are never changed (a hash names one content);
-- workers and the API add the versions they load.
CREATE TABLE template_versions (
    hash       text PRIMARY KEY,
    name       text NOT NULL,
    files      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE template_versions;
