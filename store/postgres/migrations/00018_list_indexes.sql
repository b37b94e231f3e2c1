-- +goose Up
-- The tasks of one type, or of one queue, that ended badly, by status and
-- newest first: the list of a type's or a queue's failures reads a page
-- of rows however rare they are among its tasks or the status's. A
-- partial index costs a claim or a completion nothing but a test of its
-- condition, since the task is in it neither before nor after.
CREATE INDEX tasks_type_ended_badly ON tasks (type, status, created DESC, id DESC)
    WHERE status IN ('failed', 'cancelled', 'skipped');
CREATE INDEX tasks_queue_ended_badly ON tasks (queue, status, created DESC, id DESC)
    WHERE status IN ('failed', 'cancelled', 'skipped');

-- The tasks of one queue, newest first: without it the list of a small
-- queue reads every task in search of a page. Queues are few and their
-- tasks many, so neither the index on types nor the one on statuses
-- finds them.
CREATE INDEX tasks_queue ON tasks (queue, created DESC, id DESC);

-- +goose Down
DROP INDEX tasks_queue;
DROP INDEX tasks_queue_ended_badly;
DROP INDEX tasks_type_ended_badly;
