-- +goose Up
-- How many tasks each queue has in each status, kept by every transaction
-- that inserts a task or changes its status, so that listing queues with
-- their counts reads a few rows instead of every task.
CREATE TABLE queue_counts (
    queue  TEXT    NOT NULL,
    status TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, status)
) WITHOUT ROWID;
INSERT INTO queue_counts (queue, status, n)
    SELECT queue, status, count(*) FROM tasks GROUP BY queue, status;

-- +goose Down
DROP TABLE queue_counts;
