-- +goose Up
-- Times are INTEGER unix nanoseconds (UTC); JSON values are TEXT.
CREATE TABLE tasks (
    id              TEXT    NOT NULL PRIMARY KEY,
    type            TEXT    NOT NULL,
    queue           TEXT    NOT NULL,
    info            TEXT    NOT NULL DEFAULT '',
    attributes      TEXT,
    input           TEXT,
    output          TEXT,
    status          TEXT    NOT NULL,
    result          TEXT    NOT NULL DEFAULT '',
    msg             TEXT    NOT NULL DEFAULT '',
    created         INTEGER NOT NULL,
    started         INTEGER,
    ended           INTEGER,
    timeout         INTEGER NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 1,
    -- retry_base is Attempt when the task was last retried by hand, so
    -- that max_attempts - retry_base is the budget a retry renews.
    retry_base      INTEGER NOT NULL DEFAULT 0,
    priority        INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    parent_id       TEXT,
    step            TEXT,
    run_at          INTEGER NOT NULL,
    worker_id       TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER
);

-- Claiming: the pending tasks of a queue in claim order.
CREATE INDEX tasks_claim ON tasks (queue, priority DESC, run_at, id)
    WHERE status = 'pending';
-- Running tasks per queue (MaxRunning) and lapsed leases (reaper).
CREATE INDEX tasks_running ON tasks (queue, lease_until)
    WHERE status = 'running';
-- Tasks that may still expire (reaper).
CREATE INDEX tasks_timeout ON tasks (timeout)
    WHERE status IN ('pending', 'running');
-- Listing, newest first, and cursor paging.
CREATE INDEX tasks_created ON tasks (created DESC, id DESC);
-- Flow steps: children of a parent, and one task per step.
CREATE INDEX tasks_parent ON tasks (parent_id, created, id)
    WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX tasks_parent_step ON tasks (parent_id, step)
    WHERE parent_id IS NOT NULL AND step IS NOT NULL;
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE task_events (
    seq     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    task_id TEXT    NOT NULL,
    type    TEXT    NOT NULL,
    time    INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    status  TEXT    NOT NULL DEFAULT '',
    msg     TEXT    NOT NULL DEFAULT '',
    data    TEXT
);
CREATE INDEX task_events_task ON task_events (task_id, seq);

CREATE TABLE task_logs (
    seq     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    task_id TEXT    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    time    INTEGER NOT NULL,
    data    TEXT    NOT NULL
);
CREATE INDEX task_logs_task ON task_logs (task_id, attempt, seq);

CREATE TABLE queues (
    name        TEXT    NOT NULL PRIMARY KEY,
    concurrency INTEGER NOT NULL DEFAULT 0,
    paused      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE workers (
    id             TEXT    NOT NULL PRIMARY KEY,
    hostname       TEXT    NOT NULL DEFAULT '',
    queues         TEXT,
    started        INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    running        TEXT
);
CREATE INDEX workers_heartbeat ON workers (last_heartbeat);

-- Library run state (loom.StateManager): one JSON document per run and
-- per step.
CREATE TABLE runs (
    run_id TEXT NOT NULL PRIMARY KEY,
    data   TEXT NOT NULL
);

CREATE TABLE run_steps (
    run_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    key          TEXT    NOT NULL PRIMARY KEY,
    status       TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    result       TEXT,
    locked_until INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE workers;
DROP TABLE queues;
DROP TABLE task_logs;
DROP TABLE task_events;
DROP TABLE tasks;
