-- +goose Up
-- Which stream of the attempt a log chunk came from: stdout, stderr or
-- system (what loom itself notes in the log). Chunks written before the
-- column existed were stdout and stderr mixed, shown as stdout.
ALTER TABLE task_logs ADD COLUMN stream TEXT NOT NULL DEFAULT 'stdout';

-- +goose Down
ALTER TABLE task_logs DROP COLUMN stream;
