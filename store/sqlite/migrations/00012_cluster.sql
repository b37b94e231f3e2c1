-- +goose Up
-- The servers sharing the database, kept by their heartbeats, and the
-- lease of the one leading each role: who runs the work that must run
-- once. Times are Unix nanoseconds.
CREATE TABLE servers (
    id             TEXT    NOT NULL PRIMARY KEY,
    hostname       TEXT    NOT NULL DEFAULT '',
    addr           TEXT    NOT NULL DEFAULT '',
    started        INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL
);
CREATE INDEX servers_heartbeat ON servers (last_heartbeat);

CREATE TABLE leaders (
    role        TEXT    NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    term        INTEGER NOT NULL
);

-- +goose Down
DROP TABLE leaders;
DROP TABLE servers;
