package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// SaveRun creates or replaces a run's own fields. When run.Steps is not
// nil it also replaces the run's steps with it; when nil the saved steps
// are kept.
func (s *Store) SaveRun(ctx context.Context, run loom.RunState) error {
	if run.RunID == "" {
		return fmt.Errorf("save run: empty run id: %w", store.ErrInvalid)
	}
	steps := run.Steps
	run.Steps = nil
	data, err := encodeJSON(run)
	if err != nil {
		return fmt.Errorf("save run %s: %w", run.RunID, err)
	}
	names := make([]string, 0, len(steps))
	stepData := make([]string, 0, len(steps))
	for name, st := range steps {
		if st.Name == "" {
			st.Name = name
		}
		d, err := encodeJSON(st)
		if err != nil {
			return fmt.Errorf("save run %s: step %s: %w", run.RunID, name, err)
		}
		names, stepData = append(names, name), append(stepData, d)
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO runs (run_id, data) VALUES ($1, $2)
			ON CONFLICT (run_id) DO UPDATE SET data = excluded.data`, run.RunID, data); err != nil {
			return err
		}
		if steps == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM run_steps WHERE run_id = $1`, run.RunID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO run_steps (run_id, name, data)
			SELECT $1, name, data FROM unnest($2::text[], $3::text[]) AS v(name, data)`, run.RunID, names, stepData)
		return err
	})
	if err != nil {
		return fmt.Errorf("save run %s: %w", run.RunID, err)
	}
	return nil
}

// SaveStep creates or replaces one step's state in the run runID. The run
// itself need not be saved yet, but LoadRun finds it only once it is.
func (s *Store) SaveStep(ctx context.Context, runID string, step loom.StepState) error {
	if runID == "" || step.Name == "" {
		return fmt.Errorf("save step %q of run %q: empty run id or step name: %w", step.Name, runID, store.ErrInvalid)
	}
	data, err := encodeJSON(step)
	if err != nil {
		return fmt.Errorf("save step %s of run %s: %w", step.Name, runID, err)
	}
	_, err = s.db().Exec(ctx, `INSERT INTO run_steps (run_id, name, data) VALUES ($1, $2, $3)
		ON CONFLICT (run_id, name) DO UPDATE SET data = excluded.data`, runID, step.Name, data)
	if err != nil {
		return fmt.Errorf("save step %s of run %s: %w", step.Name, runID, err)
	}
	return nil
}

// LoadRun returns the run runID with its steps (Steps nil when it has
// none), or ErrNotFound.
func (s *Store) LoadRun(ctx context.Context, runID string) (loom.RunState, error) {
	var run loom.RunState
	err := s.read(ctx, func(tx pgx.Tx) error {
		var data string
		err := tx.QueryRow(ctx, `SELECT data FROM runs WHERE run_id = $1`, runID).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(data), &run); err != nil {
			return fmt.Errorf("decode run: %w", err)
		}
		run.Steps = nil
		rows, err := tx.Query(ctx, `SELECT name, data FROM run_steps WHERE run_id = $1`, runID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name, data string
			if err := rows.Scan(&name, &data); err != nil {
				return err
			}
			var st loom.StepState
			if err := json.Unmarshal([]byte(data), &st); err != nil {
				return fmt.Errorf("decode step %s: %w", name, err)
			}
			if run.Steps == nil {
				run.Steps = make(map[string]loom.StepState)
			}
			run.Steps[name] = st
		}
		return rows.Err()
	})
	if err != nil {
		return loom.RunState{}, fmt.Errorf("load run %s: %w", runID, err)
	}
	return run, nil
}
