package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
	"github.com/loomhq/loom/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup opens a Store on a fresh file in t's temp dir, closed when t ends.
func setup(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "loom.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, path
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := setup(t)
		return s
	})
}

func TestConfigInvalid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, cfg := range []sqlite.Config{
		{},
		{Path: ":memory:"},
		{Path: filepath.Join(dir, "a.db"), Synchronous: "OFF"},
		{Path: filepath.Join(dir, "b.db"), BusyTimeout: -time.Second},
		{Path: filepath.Join(dir, "c.db?x=1")},
	} {
		_, err := sqlite.Open(t.Context(), cfg)
		require.ErrorIs(t, err, store.ErrInvalid, "%+v", cfg)
	}
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(dir, "full.db"), Synchronous: "full"})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "loom.db")
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	require.NoError(t, err)
	res, err := s.InsertTasks(ctx, &store.InsertTasksParams{Tasks: []*loom.TaskInfo{
		{Type: "job", Input: loom.Values{"n": 1.0}, IdempotencyKey: "once"},
	}})
	require.NoError(t, err)
	id := res[0].Task.ID
	require.NoError(t, s.SaveRun(ctx, loom.RunState{RunID: "r", Task: "t", Status: loom.StatusRunning}))
	require.NoError(t, s.Close())

	for range 2 { // reopening twice: migrations are idempotent
		s, err = sqlite.Open(ctx, sqlite.Config{Path: path})
		require.NoError(t, err)
		got, err := s.GetTask(ctx, id)
		require.NoError(t, err)
		require.Equal(t, loom.Values{"n": 1.0}, got.Input)
		run, err := s.LoadRun(ctx, "r")
		require.NoError(t, err)
		require.Equal(t, loom.StatusRunning, run.Status)
		again, err := s.InsertTasks(ctx, &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "job", IdempotencyKey: "once"}}})
		require.NoError(t, err)
		require.True(t, again[0].Existing)
		require.Equal(t, id, again[0].Task.ID)
		require.NoError(t, s.Close())
	}

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var versions int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions))
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	require.Equal(t, len(files), versions, "each migration applied once")
	var mode string
	require.NoError(t, db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	require.Equal(t, "wal", mode)
}

// TestConcurrentWriters hammers one Store from many goroutines, as many
// dispatchers and workers of one process do: no call may fail with
// SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	const goroutines, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds)
	for g := range goroutines {
		wg.Go(func() {
			queue := fmt.Sprintf("q%d", g%4)
			for r := range rounds {
				if err := roundTrip(ctx, s, queue, g, r); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	queues, err := s.ListQueues(ctx)
	require.NoError(t, err)
	total := 0
	for _, q := range queues {
		total += q.Pending + q.Running + q.Completed
	}
	require.Equal(t, goroutines*rounds*3, total)
}

// roundTrip inserts, claims and finishes a few tasks while reading.
func roundTrip(ctx context.Context, s *sqlite.Store, queue string, g, r int) error {
	tasks := []*loom.TaskInfo{{Type: "a", Queue: queue}, {Type: "b", Queue: queue}, {Type: "c", Queue: queue}}
	if _, err := s.InsertTasks(ctx, &store.InsertTasksParams{Tasks: tasks}); err != nil {
		return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
	}
	got, err := s.ClaimTasks(ctx, &store.ClaimTasksParams{Queue: queue, Limit: 2, WorkerID: fmt.Sprint(g), LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
	}
	outcomes := make([]store.Outcome, len(got))
	for i, task := range got {
		outcomes[i] = store.Outcome{ID: task.ID, Attempt: task.Attempt, Status: loom.StatusCompleted}
	}
	if _, err := s.FinishTasks(ctx, &store.FinishTasksParams{Outcomes: outcomes}); err != nil {
		return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
	}
	if _, err := s.ListTasks(ctx, &store.ListTasksParams{Queue: queue, Limit: 10}); err != nil {
		return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
	}
	if err := s.UpsertWorker(ctx, store.WorkerInfo{ID: fmt.Sprint(g)}); err != nil {
		return fmt.Errorf("goroutine %d round %d: %w", g, r, err)
	}
	return nil
}

// TestTwoStoresOneFile opens the same file twice, as two processes would:
// the busy timeout, not an error, settles who writes.
func TestTwoStoresOneFile(t *testing.T) {
	t.Parallel()
	s1, path := setup(t)
	s2, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	require.NoError(t, err)
	defer func() { require.NoError(t, s2.Close()) }()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, s := range []*sqlite.Store{s1, s2, s1, s2} {
		wg.Go(func() {
			for r := range 25 {
				if err := roundTrip(t.Context(), s, "shared", 0, r); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}
