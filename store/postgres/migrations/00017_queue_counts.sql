-- +goose Up
-- How many tasks each queue has in each status, so that listing queues
-- with their counts reads a few rows instead of every task.
--
-- Statement triggers keep the counts, in the transaction of the statement
-- that inserts, updates or deletes tasks, whatever the statement: a claim,
-- a finish, a cancel, a retry, a bulk insert, a prune. Each statement adds
-- its net change per queue and status (one row per group, not per task).
--
-- A queue's counts are split into shards, and a statement writes to the
-- shard of its server connection (pg_backend_pid() % 16): claims and
-- finishes of one queue on different connections change different rows,
-- rather than each waiting for the others' commit to change one. A shard's
-- count may be negative (a task counted in by one connection and out by
-- another); the sum over the shards is the count.
CREATE TABLE queue_counts (
    queue  TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    shard  SMALLINT NOT NULL,
    n      BIGINT   NOT NULL,
    PRIMARY KEY (queue, status, shard)
);

-- +goose StatementBegin
CREATE FUNCTION queue_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counts AS c (queue, status, shard, n)
        SELECT queue, status, pg_backend_pid() % 16, count(*)
        FROM new_tasks GROUP BY queue, status ORDER BY queue, status
        ON CONFLICT (queue, status, shard) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- An update that changes no status (a lease extension, a start) nets to
-- nothing and writes no row. Rows are written in key order, so that two
-- statements sharing a shard never wait for each other crosswise.
-- +goose StatementBegin
CREATE FUNCTION queue_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counts AS c (queue, status, shard, n)
        SELECT queue, status, pg_backend_pid() % 16, sum(d)
        FROM (SELECT queue, status, 1 AS d FROM new_tasks
              UNION ALL
              SELECT queue, status, -1 FROM old_tasks) AS changes
        GROUP BY queue, status HAVING sum(d) <> 0 ORDER BY queue, status
        ON CONFLICT (queue, status, shard) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION queue_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counts AS c (queue, status, shard, n)
        SELECT queue, status, pg_backend_pid() % 16, -count(*)
        FROM old_tasks GROUP BY queue, status ORDER BY queue, status
        ON CONFLICT (queue, status, shard) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Writers of tasks wait from here to the commit, so that the counts taken
-- below and the triggers' changes after them add up to the tasks.
LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION queue_counts_insert();
CREATE TRIGGER tasks_count_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_tasks NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION queue_counts_update();
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION queue_counts_delete();

INSERT INTO queue_counts (queue, status, shard, n)
    SELECT queue, status, 0, count(*) FROM tasks GROUP BY queue, status;

-- +goose Down
DROP TRIGGER tasks_count_delete ON tasks;
DROP TRIGGER tasks_count_update ON tasks;
DROP TRIGGER tasks_count_insert ON tasks;
DROP FUNCTION queue_counts_delete();
DROP FUNCTION queue_counts_update();
DROP FUNCTION queue_counts_insert();
DROP TABLE queue_counts;
