-- +goose Up
-- How far a task's latest attempt has got, as its handler reported:
-- progress_at is NULL until the attempt reports, and a claim clears it.
ALTER TABLE tasks ADD COLUMN progress_done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN progress_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN progress_msg TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN progress_at BIGINT;

-- +goose Down
ALTER TABLE tasks DROP COLUMN progress_at;
ALTER TABLE tasks DROP COLUMN progress_msg;
ALTER TABLE tasks DROP COLUMN progress_total;
ALTER TABLE tasks DROP COLUMN progress_done;
