-- +goose Up
-- What the taskmasters keep: schedules, triggers, checks, alerts and their
-- deliveries, signals to waiting tasks, backfills, event-log cursors.
CREATE TABLE schedules (
    name         TEXT    NOT NULL PRIMARY KEY,
    def          TEXT    NOT NULL,
    task         TEXT    NOT NULL,
    cursor       INTEGER NOT NULL DEFAULT 0,
    backlog      TEXT,
    last_fire    INTEGER NOT NULL DEFAULT 0,
    last_task_id TEXT    NOT NULL DEFAULT '',
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL
);

CREATE TABLE triggers (
    name    TEXT    NOT NULL PRIMARY KEY,
    kind    TEXT    NOT NULL,
    on_type TEXT    NOT NULL DEFAULT '',
    def     TEXT    NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX triggers_kind ON triggers (kind, on_type);

CREATE TABLE checks (
    name      TEXT    NOT NULL PRIMARY KEY,
    period    INTEGER NOT NULL,
    grace     INTEGER NOT NULL,
    last_ping INTEGER,
    pings     INTEGER NOT NULL DEFAULT 0,
    created   INTEGER NOT NULL
);

CREATE TABLE notifiers (
    name    TEXT    NOT NULL PRIMARY KEY,
    def     TEXT    NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE alerts (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    key             TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL DEFAULT '',
    message         TEXT    NOT NULL DEFAULT '',
    data            TEXT,
    opened          INTEGER NOT NULL,
    resolved        INTEGER,
    resolve_message TEXT    NOT NULL DEFAULT ''
);
-- One open alert per key: one outage, one alert.
CREATE UNIQUE INDEX alerts_open_key ON alerts (key) WHERE resolved IS NULL;
CREATE INDEX alerts_opened ON alerts (opened DESC, id DESC);

CREATE TABLE deliveries (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    notifier   TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    last_code  INTEGER NOT NULL DEFAULT 0,
    last_error TEXT    NOT NULL DEFAULT '',
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_alert ON deliveries (alert_id, id);

CREATE TABLE signals (
    task_id TEXT    NOT NULL,
    name    TEXT    NOT NULL,
    data    TEXT,
    time    INTEGER NOT NULL,
    PRIMARY KEY (task_id, name)
) WITHOUT ROWID;

CREATE TABLE backfills (
    id      TEXT    NOT NULL PRIMARY KEY,
    def     TEXT    NOT NULL,
    started INTEGER NOT NULL
);

CREATE TABLE taskmaster_cursors (
    name TEXT    NOT NULL PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE taskmaster_cursors;
DROP TABLE backfills;
DROP TABLE signals;
DROP TABLE deliveries;
DROP TABLE alerts;
DROP TABLE notifiers;
DROP TABLE checks;
DROP TABLE triggers;
DROP TABLE schedules;
