-- +goose Up
-- The servers sharing the database, kept by their heartbeats, and the
-- lease of the one leading each role: who runs the work that must run
-- once. Times are Unix nanoseconds.
CREATE TABLE servers (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    hostname       TEXT    NOT NULL DEFAULT '',
    addr           TEXT    NOT NULL DEFAULT '',
    started        BIGINT  NOT NULL,
    last_heartbeat BIGINT  NOT NULL
);
CREATE INDEX servers_heartbeat ON servers (last_heartbeat);

CREATE TABLE leaders (
    role        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    since       BIGINT  NOT NULL,
    lease_until BIGINT  NOT NULL,
    term        BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE leaders;
DROP TABLE servers;
