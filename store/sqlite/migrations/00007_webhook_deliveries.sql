-- +goose Up
-- Signed webhook messages a trigger has acted on, kept until they expire so
-- that a replayed message starts nothing. task_id is empty while the first
-- delivery is being acted on.
CREATE TABLE webhook_deliveries (
    trigger  TEXT    NOT NULL,
    hash     TEXT    NOT NULL,
    task_id  TEXT    NOT NULL DEFAULT '',
    received INTEGER NOT NULL,
    expires  INTEGER NOT NULL,
    PRIMARY KEY (trigger, hash)
);
CREATE INDEX webhook_deliveries_expires ON webhook_deliveries (expires);

-- +goose Down
DROP TABLE webhook_deliveries;
