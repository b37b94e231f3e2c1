-- +goose Up
-- The W3C traceparent of the span that created a task: the engine starts
-- its attempts' spans (on any worker) as children of it.
ALTER TABLE tasks ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tasks DROP COLUMN traceparent;
