-- +goose Up
-- What a worker says of itself when it announces: how many tasks it runs
-- at once, how many it runs now, and its build.
ALTER TABLE workers ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN version TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE workers DROP COLUMN version;
ALTER TABLE workers DROP COLUMN in_flight;
ALTER TABLE workers DROP COLUMN concurrency;
