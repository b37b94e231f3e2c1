-- +goose Up
-- retry is the task's own retry policy (loom.TaskRetry as JSON), set by
-- its creator; NULL means the policy of its type.
ALTER TABLE tasks ADD COLUMN retry TEXT;

-- +goose Down
ALTER TABLE tasks DROP COLUMN retry;
