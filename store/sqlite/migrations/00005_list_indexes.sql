-- +goose Up
-- Indexes that keep filtered task lists fast however many tasks there are.
-- Without them a list of a rare type, or of the few failed tasks, walks
-- every task newest first in search of a page.
--
-- A task's type never changes, so this index costs an insert and nothing
-- after.
CREATE INDEX tasks_type ON tasks (type, created DESC, id DESC);
-- The tasks that ended badly, by status and newest first. A partial index
-- costs an update only a test of its condition when the row is in it
-- neither before nor after, which is every claim and every completion;
-- written as ORs so that a query for one of these statuses can use it.
CREATE INDEX tasks_ended_badly ON tasks (status, created DESC, id DESC)
    WHERE status = 'failed' OR status = 'cancelled' OR status = 'skipped';

-- +goose Down
DROP INDEX tasks_ended_badly;
DROP INDEX tasks_type;
