package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loomhq/loom/store"
)

// UpsertWorker records a worker's presence and heartbeat, replacing what
// was known of it. A zero Started keeps the Started first recorded (or
// LastHeartbeat for a new worker); a zero LastHeartbeat means now.
func (s *Store) UpsertWorker(ctx context.Context, w store.WorkerInfo) error {
	if w.ID == "" {
		return fmt.Errorf("upsert worker: empty id: %w", store.ErrInvalid)
	}
	queues, err := encodeJSON(nonNil(w.Queues))
	if err != nil {
		return fmt.Errorf("upsert worker %s: %w", w.ID, err)
	}
	running, err := encodeJSON(nonNil(w.Running))
	if err != nil {
		return fmt.Errorf("upsert worker %s: %w", w.ID, err)
	}
	beat := now(w.LastHeartbeat)
	var started sql.NullInt64
	if !w.Started.IsZero() {
		started = sql.NullInt64{Int64: toNanos(w.Started), Valid: true}
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO workers (id, hostname, queues, started, last_heartbeat, running,
				concurrency, in_flight, version)
			VALUES (?1, ?2, ?3, coalesce(?4, ?5), ?5, ?6, ?7, ?8, ?9)
			ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, queues = excluded.queues,
				started = coalesce(?4, workers.started), last_heartbeat = excluded.last_heartbeat,
				running = excluded.running, concurrency = excluded.concurrency,
				in_flight = excluded.in_flight, version = excluded.version`,
			w.ID, w.Hostname, queues, started, toNanos(beat), running, w.Concurrency, w.InFlight, w.Version)
		return err
	})
	if err != nil {
		return fmt.Errorf("upsert worker %s: %w", w.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ListWorkers returns the workers whose last heartbeat is at or after
// seenSince, by id.
func (s *Store) ListWorkers(ctx context.Context, seenSince time.Time) ([]store.WorkerInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, hostname, queues, started, last_heartbeat, running,
			concurrency, in_flight, version
		FROM workers WHERE last_heartbeat >= ? ORDER BY id`, toNanos(seenSince))
	if err != nil {
		return nil, fmt.Errorf("list workers seen since %s: %w", seenSince, err)
	}
	defer rows.Close()
	var out []store.WorkerInfo
	for rows.Next() {
		var (
			w               store.WorkerInfo
			queues, running string
			started, beat   int64
		)
		if err := rows.Scan(&w.ID, &w.Hostname, &queues, &started, &beat, &running,
			&w.Concurrency, &w.InFlight, &w.Version); err != nil {
			return nil, fmt.Errorf("list workers: %w", err)
		}
		w.Started, w.LastHeartbeat = fromNanos(started), fromNanos(beat)
		if err := json.Unmarshal([]byte(queues), &w.Queues); err != nil {
			return nil, fmt.Errorf("list workers: worker %s queues: %w", w.ID, err)
		}
		if err := json.Unmarshal([]byte(running), &w.Running); err != nil {
			return nil, fmt.Errorf("list workers: worker %s running: %w", w.ID, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	return out, nil
}

// DeleteWorker forgets a worker; one that is not known is ErrNotFound.
func (s *Store) DeleteWorker(ctx context.Context, id string) error {
	if err := s.deleteByID(ctx, "workers", id); err != nil {
		return fmt.Errorf("delete worker %s: %w", id, err)
	}
	return nil
}
