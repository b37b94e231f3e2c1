-- +goose Up
-- The tasks of one type that ended badly, by status and newest first: the
-- list of a type's failures reads a page of rows however rare they are
-- among the type's tasks or the status's. A partial index costs a claim or
-- a completion nothing but a test of its condition, since the task is in
-- it neither before nor after.
CREATE INDEX tasks_type_ended_badly ON tasks (type, status, created DESC, id DESC)
    WHERE status IN ('failed', 'cancelled', 'skipped');

-- +goose Down
DROP INDEX tasks_type_ended_badly;
