-- +goose Up
-- Retention: the ended top-level tasks, oldest end first.
CREATE INDEX tasks_ended ON tasks (ended) WHERE parent_id IS NULL AND ended IS NOT NULL;

-- +goose Down
DROP INDEX tasks_ended;
