-- +goose Up
-- What the reaper needs to tell a crash loop from a lost claim.
--
-- began is the attempt number whose handler is known to have started
-- (MarkStarted): an attempt whose lease lapses while began = attempt was
-- running and died without a result; any other had not started, and gives
-- its attempt number back. Keeping the number rather than a flag leaves
-- claims alone: a new attempt is unmarked because its number is new.
ALTER TABLE tasks ADD COLUMN began INTEGER NOT NULL DEFAULT 0;
-- lease_expiries counts every lapsed lease of the task, lost_runs those of
-- started attempts since the task was last retried by hand: the reaper
-- fails a task whose lost_runs reach the engine's limit.
ALTER TABLE tasks ADD COLUMN lease_expiries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN lost_runs INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE tasks DROP COLUMN lost_runs;
ALTER TABLE tasks DROP COLUMN lease_expiries;
ALTER TABLE tasks DROP COLUMN began;
