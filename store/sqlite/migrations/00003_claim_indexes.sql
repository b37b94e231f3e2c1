-- +goose Up
-- Indexes that cost claims less.
--
-- Tasks that may still expire (reaper), keyed on ended rather than status.
-- A partial index whose condition names a column an UPDATE sets is
-- rewritten by that UPDATE, and every claim sets status: keyed on status,
-- this index cost a delete and an insert on each claim although its entry
-- stays the same. A task has no end time exactly while it is pending or
-- running (InsertTasks clears Ended on such tasks), so claims leave this
-- index alone and only the end of a task removes its entry.
UPDATE tasks SET ended = NULL WHERE status IN ('pending', 'running') AND ended IS NOT NULL;
DROP INDEX tasks_timeout;
CREATE INDEX tasks_timeout ON tasks (timeout) WHERE ended IS NULL;

-- The claim index also holds timeout, which a claim checks, so that
-- choosing the tasks to claim reads the index alone.
DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (queue, priority DESC, run_at, id, timeout)
    WHERE status = 'pending';

-- +goose Down
DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (queue, priority DESC, run_at, id)
    WHERE status = 'pending';
DROP INDEX tasks_timeout;
CREATE INDEX tasks_timeout ON tasks (timeout)
    WHERE status IN ('pending', 'running');
