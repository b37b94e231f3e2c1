-- +goose Up
-- Times are BIGINT unix nanoseconds (UTC), so that a time reads back
-- exactly as it was written (timestamptz keeps microseconds only); JSON
-- values are TEXT, kept as written. Text that is ordered or compared by
-- range (ids, names, keys) uses the "C" collation: byte order, as Go
-- compares strings, whatever the database's default.
CREATE TABLE tasks (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    type            TEXT COLLATE "C" NOT NULL,
    queue           TEXT COLLATE "C" NOT NULL,
    info            TEXT    NOT NULL DEFAULT '',
    attributes      TEXT,
    input           TEXT,
    output          TEXT,
    status          TEXT    NOT NULL,
    result          TEXT    NOT NULL DEFAULT '',
    msg             TEXT    NOT NULL DEFAULT '',
    created         BIGINT  NOT NULL,
    started         BIGINT,
    ended           BIGINT,
    timeout         BIGINT  NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 1,
    -- retry_base is Attempt when the task was last retried by hand, so
    -- that max_attempts - retry_base is the budget a retry renews.
    retry_base      INTEGER NOT NULL DEFAULT 0,
    priority        INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT COLLATE "C",
    parent_id       TEXT COLLATE "C",
    step            TEXT COLLATE "C",
    run_at          BIGINT  NOT NULL,
    worker_id       TEXT    NOT NULL DEFAULT '',
    lease_until     BIGINT,
    -- began is the attempt number whose handler is known to have started
    -- (MarkStarted): an attempt whose lease lapses while began = attempt
    -- was running and died without a result; any other had not started,
    -- and gives its attempt number back.
    began           INTEGER NOT NULL DEFAULT 0,
    -- lease_expiries counts every lapsed lease of the task, lost_runs
    -- those of started attempts since the task was last retried by hand:
    -- the reaper fails a task whose lost_runs reach the engine's limit.
    lease_expiries  INTEGER NOT NULL DEFAULT 0,
    lost_runs       INTEGER NOT NULL DEFAULT 0
);

-- Claiming: the pending tasks of a queue in claim order.
CREATE INDEX tasks_claim ON tasks (queue, priority DESC, run_at, id)
    WHERE status = 'pending';
-- The earliest due task of each queue (NextRunAt).
CREATE INDEX tasks_pending_run_at ON tasks (queue, run_at)
    WHERE status = 'pending';
-- Running tasks per queue (concurrency caps) and lapsed leases (reaper).
CREATE INDEX tasks_running ON tasks (queue, lease_until)
    WHERE status = 'running';
CREATE INDEX tasks_lease ON tasks (lease_until)
    WHERE status = 'running';
-- Tasks that may still expire (reaper): only a task that has not ended
-- has no end time.
CREATE INDEX tasks_timeout ON tasks (timeout) WHERE ended IS NULL;
-- Listing, newest first, and cursor paging.
CREATE INDEX tasks_created ON tasks (created DESC, id DESC);
CREATE INDEX tasks_type ON tasks (type, created DESC, id DESC);
CREATE INDEX tasks_status ON tasks (status, created DESC, id DESC);
-- Flow steps: children of a parent, and one task per step.
CREATE INDEX tasks_parent ON tasks (parent_id, created, id)
    WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX tasks_parent_step ON tasks (parent_id, step)
    WHERE parent_id IS NOT NULL AND step IS NOT NULL;
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE task_events (
    seq     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id TEXT COLLATE "C" NOT NULL,
    type    TEXT    NOT NULL,
    time    BIGINT  NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    status  TEXT    NOT NULL DEFAULT '',
    msg     TEXT    NOT NULL DEFAULT '',
    data    TEXT
);
CREATE INDEX task_events_task ON task_events (task_id, seq);

CREATE TABLE task_logs (
    seq     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id TEXT COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    time    BIGINT  NOT NULL,
    data    TEXT    NOT NULL
);
CREATE INDEX task_logs_task ON task_logs (task_id, attempt, seq);

CREATE TABLE queues (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    concurrency INTEGER NOT NULL DEFAULT 0,
    paused      BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE workers (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    hostname       TEXT   NOT NULL DEFAULT '',
    queues         TEXT,
    started        BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    running        TEXT
);
CREATE INDEX workers_heartbeat ON workers (last_heartbeat);

-- Library run state (loom.StateManager): one JSON document per run and
-- per step.
CREATE TABLE runs (
    run_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    data   TEXT NOT NULL
);

CREATE TABLE run_steps (
    run_id TEXT COLLATE "C" NOT NULL,
    name   TEXT COLLATE "C" NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE idempotency_keys (
    key          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    status       TEXT   NOT NULL,
    run_id       TEXT   NOT NULL,
    result       TEXT,
    locked_until BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- What the taskmasters keep: schedules, triggers, checks, alerts and their
-- deliveries, signals to waiting tasks, backfills, event-log cursors.
CREATE TABLE schedules (
    name         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    def          TEXT   NOT NULL,
    task         TEXT   NOT NULL,
    cursor       BIGINT NOT NULL DEFAULT 0,
    backlog      TEXT,
    last_fire    BIGINT NOT NULL DEFAULT 0,
    last_task_id TEXT   NOT NULL DEFAULT '',
    created      BIGINT NOT NULL,
    updated      BIGINT NOT NULL
);

CREATE TABLE triggers (
    name    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    kind    TEXT   NOT NULL,
    on_type TEXT   NOT NULL DEFAULT '',
    def     TEXT   NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX triggers_kind ON triggers (kind, on_type);

-- Signed webhook messages a trigger has acted on, kept until they expire so
-- that a replayed message starts nothing. task_id is empty while the first
-- delivery is being acted on.
CREATE TABLE webhook_deliveries (
    trigger  TEXT COLLATE "C" NOT NULL,
    hash     TEXT COLLATE "C" NOT NULL,
    task_id  TEXT   NOT NULL DEFAULT '',
    received BIGINT NOT NULL,
    expires  BIGINT NOT NULL,
    PRIMARY KEY (trigger, hash)
);
CREATE INDEX webhook_deliveries_expires ON webhook_deliveries (expires);

CREATE TABLE checks (
    name      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    period    BIGINT NOT NULL,
    grace     BIGINT NOT NULL,
    last_ping BIGINT,
    pings     BIGINT NOT NULL DEFAULT 0,
    created   BIGINT NOT NULL
);

CREATE TABLE notifiers (
    name    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    def     TEXT   NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE alerts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key             TEXT COLLATE "C" NOT NULL,
    kind            TEXT   NOT NULL,
    subject         TEXT   NOT NULL DEFAULT '',
    message         TEXT   NOT NULL DEFAULT '',
    data            TEXT,
    opened          BIGINT NOT NULL,
    resolved        BIGINT,
    resolve_message TEXT   NOT NULL DEFAULT ''
);
-- One open alert per key: one outage, one alert.
CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE resolved IS NULL;
CREATE INDEX alerts_opened ON alerts (opened DESC, id DESC);

CREATE TABLE deliveries (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id   BIGINT  NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    notifier   TEXT COLLATE "C" NOT NULL,
    event      TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    BIGINT  NOT NULL,
    last_code  INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created    BIGINT  NOT NULL,
    updated    BIGINT  NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_alert ON deliveries (alert_id, id);

CREATE TABLE signals (
    task_id TEXT COLLATE "C" NOT NULL,
    name    TEXT COLLATE "C" NOT NULL,
    data    TEXT,
    time    BIGINT NOT NULL,
    PRIMARY KEY (task_id, name)
);

CREATE TABLE backfills (
    id      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    def     TEXT   NOT NULL,
    started BIGINT NOT NULL
);

CREATE TABLE taskmaster_cursors (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    seq  BIGINT NOT NULL
);

-- API tokens. Only the SHA-256 of a token's secret is kept; a name is
-- unique for good, revoked or not, so that what a name did in the event
-- log always means one token.
CREATE TABLE tokens (
    name      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    role      TEXT   NOT NULL,
    hash      TEXT   NOT NULL UNIQUE,
    created   BIGINT NOT NULL,
    last_used BIGINT,
    revoked   BIGINT
);

-- +goose Down
DROP TABLE tokens;
DROP TABLE taskmaster_cursors;
DROP TABLE backfills;
DROP TABLE signals;
DROP TABLE deliveries;
DROP TABLE alerts;
DROP TABLE notifiers;
DROP TABLE checks;
DROP TABLE webhook_deliveries;
DROP TABLE triggers;
DROP TABLE schedules;
DROP TABLE idempotency_keys;
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE workers;
DROP TABLE queues;
DROP TABLE task_logs;
DROP TABLE task_events;
DROP TABLE tasks;
