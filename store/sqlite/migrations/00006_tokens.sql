-- +goose Up
-- API tokens. Only the SHA-256 of a token's secret is kept; a name is
-- unique for good, revoked or not, so that what a name did in the event
-- log always means one token.
CREATE TABLE tokens (
    name      TEXT    NOT NULL PRIMARY KEY,
    role      TEXT    NOT NULL,
    hash      TEXT    NOT NULL UNIQUE,
    created   INTEGER NOT NULL,
    last_used INTEGER,
    revoked   INTEGER
);

-- +goose Down
DROP TABLE tokens;
