package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
)

func TestConfigInvalid(t *testing.T) {
	t.Parallel()
	for _, cfg := range []postgres.Config{
		{},
		{URL: "postgres://user:secret@host:notaport/db"},
		{URL: "postgres://127.0.0.1/x", MaxConns: -1},
	} {
		_, err := postgres.Open(t.Context(), cfg)
		require.ErrorIs(t, err, store.ErrInvalid, "%+v", cfg)
		require.NotContains(t, err.Error(), "secret", "the password stays out of errors")
	}
}

// TestSearchPath opens a store whose schema the URL's search_path names:
// the schema is created and the tables go there.
func TestSearchPath(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	u, err := url.Parse(testURL(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := postgres.Open(t.Context(), postgres.Config{URL: u.String()})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, schema, s.Schema())
	_, err = s.InsertTasks(t.Context(), &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "job"}}})
	require.NoError(t, err)

	conn, err := pgx.Connect(t.Context(), testURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "tasks"}.Sanitize()).Scan(&n))
	require.Equal(t, 1, n)
}

// TestOpenTogether opens one new schema from several goroutines at once,
// as servers starting together do: the migration lock makes them take
// turns, and each migration is applied once.
func TestOpenTogether(t *testing.T) {
	t.Parallel()
	cfg := postgres.Config{URL: testURL(t), Schema: newSchema(t), MaxConns: 2}
	const n = 4
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), cfg) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		defer stores[i].Close()
	}
	conn, err := pgx.Connect(t.Context(), testURL(t))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var versions int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM `+
		pgx.Identifier{cfg.Schema, "goose_db_version"}.Sanitize()+` WHERE version_id > 0`).Scan(&versions))
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	require.NoError(t, err)
	require.Equal(t, len(files), versions, "each migration applied once")
}

// TestClaimsDisjoint has two stores on one schema, as two servers, claim
// from one queue together: no task is claimed twice.
func TestClaimsDisjoint(t *testing.T) {
	t.Parallel()
	s1, cfg := setup(t)
	s2, err := postgres.Open(t.Context(), cfg)
	require.NoError(t, err)
	defer s2.Close()
	const tasks = 200
	batch := make([]*loom.TaskInfo, tasks)
	for i := range batch {
		batch[i] = &loom.TaskInfo{Type: "job", Queue: "shared"}
	}
	_, err = s1.InsertTasks(t.Context(), &store.InsertTasksParams{Tasks: batch})
	require.NoError(t, err)

	var (
		mu      sync.Mutex
		claimed = map[string]string{}
		wg      sync.WaitGroup
	)
	for i, s := range []*postgres.Store{s1, s2, s1, s2} {
		worker := fmt.Sprint("w", i)
		wg.Go(func() {
			for {
				got, err := s.ClaimTasks(t.Context(), &store.ClaimTasksParams{
					Queue: "shared", Limit: 7, WorkerID: worker, LeaseUntil: time.Now().Add(time.Minute),
				})
				if !assertNoError(t, err) || len(got) == 0 {
					return
				}
				mu.Lock()
				for _, task := range got {
					if prev, ok := claimed[task.ID]; ok {
						t.Errorf("task %s claimed by %s and %s", task.ID, prev, worker)
					}
					claimed[task.ID] = worker
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, claimed, tasks)
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// TestListenForWork has one store announce a task that another store's
// listener hears, filtered by queue.
func TestListenForWork(t *testing.T) {
	t.Parallel()
	s1, cfg := setup(t)
	s2, err := postgres.Open(t.Context(), cfg)
	require.NoError(t, err)
	defer s2.Close()

	ctx, cancel := context.WithCancel(t.Context())
	woken := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- s2.ListenForWork(ctx, []string{"mine"}, func() {
			select {
			case woken <- struct{}{}:
			default:
			}
		})
	}()
	<-woken // listening now

	_, err = s1.InsertTasks(t.Context(), &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "job", Queue: "other"}}})
	require.NoError(t, err)
	_, err = s1.InsertTasks(t.Context(), &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "job", Queue: "mine"}}})
	require.NoError(t, err)
	<-woken
	// Notifications of one connection arrive in commit order: "other"
	// came first and woke nobody, so nothing is left to arrive.
	require.Empty(t, woken)

	cancel()
	require.NoError(t, <-done)
}

// TestRefusedValues gives the store values PostgreSQL cannot keep, which
// SQLite takes: they are the caller's bad input (ErrInvalid), in a
// transaction or not, and change nothing.
func TestRefusedValues(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	_, err := s.InsertTasks(ctx, &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "a\x00b"}}})
	require.ErrorIs(t, err, store.ErrInvalid)
	long := make([]byte, 1<<14)
	_, _ = rand.Read(long)
	_, err = s.InsertTasks(ctx, &store.InsertTasksParams{Tasks: []*loom.TaskInfo{{Type: "job", IdempotencyKey: hex.EncodeToString(long)}}})
	require.ErrorIs(t, err, store.ErrInvalid, "a key too long to index")
	_, err = s.GetTask(ctx, "id\x00")
	require.ErrorIs(t, err, store.ErrInvalid)
	err = s.UpsertQueue(ctx, store.QueueConfig{Name: "q\x00"})
	require.ErrorIs(t, err, store.ErrInvalid)
	page, err := s.ListTasks(ctx, &store.ListTasksParams{})
	require.NoError(t, err)
	require.Empty(t, page.Tasks)
}

// TestCapAcrossStores has two stores claim together from a queue capped at
// five running tasks: the claims take turns, and five run, not more.
func TestCapAcrossStores(t *testing.T) {
	t.Parallel()
	s1, cfg := setup(t)
	s2, err := postgres.Open(t.Context(), cfg)
	require.NoError(t, err)
	defer s2.Close()
	require.NoError(t, s1.UpsertQueue(t.Context(), store.QueueConfig{Name: "capped", Concurrency: 5}))
	batch := make([]*loom.TaskInfo, 40)
	for i := range batch {
		batch[i] = &loom.TaskInfo{Type: "job", Queue: "capped"}
	}
	_, err = s1.InsertTasks(t.Context(), &store.InsertTasksParams{Tasks: batch})
	require.NoError(t, err)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for i, s := range []*postgres.Store{s1, s2, s1, s2, s1, s2} {
		wg.Go(func() {
			got, err := s.ClaimTasks(t.Context(), &store.ClaimTasksParams{
				Queue: "capped", Limit: 3, WorkerID: fmt.Sprint("w", i), LeaseUntil: time.Now().Add(time.Minute),
			})
			if assertNoError(t, err) {
				mu.Lock()
				total += len(got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 5, total)
}
