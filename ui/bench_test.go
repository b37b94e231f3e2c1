package ui_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/engine"
	"github.com/loomhq/loom/schedule"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/postgres"
	"github.com/loomhq/loom/store/sqlite"
	"github.com/loomhq/loom/taskmaster"
	"github.com/loomhq/loom/ui"
)

// benchTasks is how many tasks the rendering benchmarks put in the store:
// 100,000, or LOOM_UI_BENCH_TASKS (e.g. 1000000, to see that pages stay
// fast as the store grows).
var benchTasks = func() int {
	if n, err := strconv.Atoi(os.Getenv("LOOM_UI_BENCH_TASKS")); err == nil && n > benchSteps+1 {
		return n
	}
	return 100_000
}()

// benchSteps is the size of the flow the flow-detail benchmark renders.
const benchSteps = 200

// benchBudget is the most a page may take to render with benchTasks tasks
// in the store.
const benchBudget = 100 * time.Millisecond

// benchPGTasks is how many tasks the rendering benchmarks put in
// PostgreSQL (when LOOM_TEST_POSTGRES_URL is set): 1,000,000, or
// LOOM_UI_BENCH_PG_TASKS.
var benchPGTasks = func() int {
	if n, err := strconv.Atoi(os.Getenv("LOOM_UI_BENCH_PG_TASKS")); err == nil && n > benchSteps+1 {
		return n
	}
	return 1_000_000
}()

// benchStore is a store the rendering benchmarks share: filled once per
// test binary (a SQLite file in a temporary directory, or a PostgreSQL
// schema) and removed by TestMain, since inserting the tasks takes far
// longer than rendering any page. Only benchmarks fill one: a plain test
// run seeds nothing.
type benchStore struct {
	once   sync.Once
	tasks  int
	st     store.TaskmasterStore
	h      http.Handler
	flowID string
	fill   time.Duration
	err    error
	// remove deletes what open made.
	remove func()
	// bulk, when set, puts the n plain tasks fillBench makes (created
	// one a second up to now) in the store faster than InsertTasks.
	bulk func(ctx context.Context, n int, now time.Time) error
}

var (
	benchDB = &benchStore{tasks: benchTasks}
	benchPG = &benchStore{tasks: benchPGTasks}
)

// closeBenchDB closes and removes the benchmarks' stores, if any was made.
func closeBenchDB() {
	for _, bs := range []*benchStore{benchDB, benchPG} {
		if bs.st != nil {
			_ = bs.st.Close()
		}
		if bs.remove != nil {
			bs.remove()
		}
	}
}

// benchUI returns the UI over the shared SQLite benchmark store, and the
// id of its flow of benchSteps steps.
func benchUI(b *testing.B) (http.Handler, string) {
	b.Helper()
	return benchDB.ui(b, openBenchSQLite)
}

// ui fills bs once with open and returns its UI and flow id.
func (bs *benchStore) ui(b *testing.B, open func(bs *benchStore) error) (http.Handler, string) {
	b.Helper()
	bs.once.Do(func() {
		start := time.Now()
		bs.err = open(bs)
		if bs.err == nil {
			bs.h, bs.flowID, bs.err = fillBench(context.Background(), bs.st, bs.tasks, bs.bulk)
		}
		bs.fill = time.Since(start)
	})
	if bs.err != nil {
		b.Fatal(bs.err)
	}
	b.Logf("store of %d tasks filled in %s", bs.tasks, bs.fill.Round(time.Millisecond))
	return bs.h, bs.flowID
}

// benchBoth runs bench over the SQLite store (named sqlite) and, when
// LOOM_TEST_POSTGRES_URL is set, over PostgreSQL with benchPGTasks tasks
// (named postgres).
func benchBoth(b *testing.B, bench func(b *testing.B, h http.Handler, flowID string)) {
	b.Run("sqlite", func(b *testing.B) {
		h, id := benchUI(b)
		bench(b, h, id)
	})
	url := os.Getenv("LOOM_TEST_POSTGRES_URL")
	if url == "" {
		return
	}
	b.Run("postgres", func(b *testing.B) {
		h, id := benchPG.ui(b, func(bs *benchStore) error { return openBenchPG(bs, url) })
		bench(b, h, id)
	})
}

func openBenchSQLite(bs *benchStore) error {
	dir, err := os.MkdirTemp("", "loom-ui-bench-")
	if err != nil {
		return err
	}
	bs.remove = func() { _ = os.RemoveAll(dir) }
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "loom.db")})
	if err != nil {
		return err
	}
	bs.st = st
	return nil
}

func openBenchPG(bs *benchStore, url string) error {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "loom_ui_bench_" + hex.EncodeToString(b)
	bs.remove = func() {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, url); err == nil {
			_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
			_ = conn.Close(ctx)
		}
	}
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url, Schema: schema})
	if err != nil {
		return err
	}
	bs.st = st
	bs.bulk = func(ctx context.Context, n int, now time.Time) error {
		return bulkPG(ctx, url, schema, n, now)
	}
	return nil
}

// bulkPG inserts the n plain tasks of fillBench into the tasks table of
// schema with one statement over generate_series, in seconds where
// InsertTasks would take minutes, and then analyzes the table, as
// autovacuum would soon after such an insert. The tasks have no events.
func bulkPG(ctx context.Context, url, schema string, n int, now time.Time) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET search_path TO `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	// Row i mirrors fillBench's task i: its type, queue and status
	// cycle, and it was created n-i seconds before now.
	_, err = conn.Exec(ctx, `
		INSERT INTO tasks (id, type, queue, input, output, status, result, msg,
			created, started, ended, timeout, attempt, max_attempts, run_at, worker_id)
		SELECT '00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'),
			'type-' || i % 7, 'q' || i % 3,
			json_build_object('i', i, 'name', 'task <' || i || '>')::text,
			CASE WHEN st = 'completed' THEN '{"ok":true}' END,
			st,
			CASE st WHEN 'completed' THEN 'complete' WHEN 'failed' THEN 'error' ELSE '' END,
			CASE WHEN st = 'failed' THEN 'boom' ELSE '' END,
			created,
			CASE WHEN st <> 'pending' THEN created + 1000000 END,
			CASE WHEN st IN ('completed', 'failed') THEN created + 50000000 END,
			created + $3::bigint,
			CASE WHEN st <> 'pending' THEN 1 ELSE 0 END,
			1, created,
			CASE WHEN st = 'running' THEN 'bench-worker' ELSE '' END
		FROM generate_series(0, $1::bigint - 1) AS i,
			LATERAL (SELECT $2::bigint - ($1::bigint - i) * 1000000000 AS created,
				(ARRAY['completed', 'completed', 'completed', 'failed', 'pending', 'running'])[i % 6 + 1] AS st) AS v`,
		n, now.UnixNano(), int64(loom.DefaultTaskTimeout))
	if err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	_, err = conn.Exec(ctx, `ANALYZE tasks`)
	return err
}

// benchFlow is a flow of n steps in ranks of 20, each step after the one
// above it in the rank before and the one to the left of that, so its
// graph has rank after rank of crossing edges.
func benchFlow(n int) (*loom.Task, error) {
	step := &loom.Task{Name: "step", Handler: loom.HandlerFunc(func(ctx context.Context, in loom.Values) (loom.Values, error) {
		return in, nil
	})}
	def := loom.FlowDef{}
	for i := range n {
		s := loom.Step{Name: benchStep(i), Task: step}
		if i >= 20 {
			s.DependsOn = append(s.DependsOn, benchStep(i-20))
			if i%20 != 0 {
				s.DependsOn = append(s.DependsOn, benchStep(i-21))
			}
		}
		def.Steps = append(def.Steps, s)
	}
	return loom.NewFlow("bigflow", def)
}

func benchStep(i int) string { return fmt.Sprintf("step-%03d", i) }

// benchSchedules is how many schedules the schedules benchmark lists,
// each with a last run among the store's tasks.
const benchSchedules = 50

// benchFailedStep is the step of the benchmark flow that failed; the two
// steps after it never ran.
const benchFailedStep = 170

// fillBench puts tasks tasks in st (among them a flow of benchSteps
// steps, whose id it returns) and benchSchedules schedules, and returns
// the UI over it. The plain tasks go in with bulk when it is not nil,
// else with InsertTasks a thousand at a time.
func fillBench(ctx context.Context, st store.TaskmasterStore, tasks int, bulk func(ctx context.Context, n int, now time.Time) error) (http.Handler, string, error) {
	now := time.Now()
	statuses := []loom.Status{loom.StatusCompleted, loom.StatusCompleted, loom.StatusCompleted, loom.StatusFailed, loom.StatusPending, loom.StatusRunning}
	batch := make([]*loom.TaskInfo, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := st.InsertTasks(ctx, &store.InsertTasksParams{Tasks: batch, Now: now})
		batch = batch[:0]
		return err
	}
	n := tasks - 1 - benchSteps
	if bulk != nil {
		if err := bulk(ctx, n, now); err != nil {
			return nil, "", err
		}
		n = 0
	}
	for i := range n {
		created := now.Add(-time.Duration(n-i) * time.Second)
		t := &loom.TaskInfo{
			Type: fmt.Sprintf("type-%d", i%7), Queue: fmt.Sprintf("q%d", i%3),
			Status: statuses[i%len(statuses)], Created: created, RunAt: created,
			Input: loom.Values{"i": i, "name": "task <" + fmt.Sprint(i) + ">"},
		}
		if t.Status == loom.StatusRunning {
			started := created.Add(time.Millisecond)
			t.Started, t.Attempt, t.WorkerID = &started, 1, "bench-worker"
		}
		if t.Status.Terminal() {
			started, ended := created.Add(time.Millisecond), created.Add(50*time.Millisecond)
			t.Started, t.Ended, t.Attempt = &started, &ended, 1
			if t.Status == loom.StatusFailed {
				t.Msg, t.Result = "boom", loom.ResultError
			} else {
				t.Result, t.Output = loom.ResultComplete, loom.Values{"ok": true}
			}
		}
		batch = append(batch, t)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return nil, "", err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, "", err
	}

	res, err := st.InsertTasks(ctx, &store.InsertTasksParams{Now: now, Tasks: []*loom.TaskInfo{{
		Type: "bigflow", Status: loom.StatusRunning, Created: now.Add(-time.Minute), RunAt: now.Add(-time.Minute), Attempt: 1,
	}}})
	if err != nil {
		return nil, "", err
	}
	flowID := res[0].Task.ID
	for i := range benchSteps {
		if i-20 == benchFailedStep || i-21 == benchFailedStep {
			continue // blocked by the failure: never created
		}
		created := now.Add(-time.Minute + time.Duration(i)*100*time.Millisecond)
		started, ended := created.Add(10*time.Millisecond), created.Add(90*time.Millisecond)
		t := &loom.TaskInfo{
			Type: "step", ParentID: flowID, Step: benchStep(i), Status: loom.StatusCompleted,
			Created: created, RunAt: created, Started: &started, Ended: &ended, Attempt: 1, Result: loom.ResultComplete,
		}
		if i == benchFailedStep {
			t.Status, t.Result, t.Msg = loom.StatusFailed, loom.ResultError, "step failed"
		}
		batch = append(batch, t)
	}
	if err := flush(); err != nil {
		return nil, "", err
	}

	e, err := engine.New(engine.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, "", err
	}
	flow, err := benchFlow(benchSteps)
	if err != nil {
		return nil, "", err
	}
	if err := e.Register(flow); err != nil {
		return nil, "", err
	}
	tm, err := taskmaster.New(taskmaster.Config{Engine: e, Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, "", err
	}
	if err := benchSchedulesOf(ctx, st, tm); err != nil {
		return nil, "", err
	}
	return ui.New(ui.Config{Engine: e, Taskmaster: tm}), flowID, nil
}

// benchSchedulesOf creates benchSchedules schedules in time zones around
// the world, each with one of the store's tasks as its last run.
func benchSchedulesOf(ctx context.Context, st store.TaskmasterStore, tm *taskmaster.Taskmaster) error {
	zones := []string{"", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney"}
	crons := []string{"*/5 * * * *", "30 2 * * *", "0 9 * * 1-5", "@every 90s", "0 0 1 * *"}
	last, err := st.ListTasks(ctx, &store.ListTasksParams{Limit: benchSchedules})
	if err != nil {
		return err
	}
	for i := range benchSchedules {
		name := fmt.Sprintf("schedule-%02d", i)
		if _, err := tm.CreateSchedule(ctx, &store.Schedule{
			Def:  schedule.Schedule{Name: name, Cron: crons[i%len(crons)], TimeZone: zones[i%len(zones)], Paused: i%10 == 9},
			Task: store.TaskTemplate{Type: "bigflow", Input: loom.Values{"n": i}},
		}); err != nil {
			return err
		}
		sc, err := st.GetSchedule(ctx, name)
		if err != nil {
			return err
		}
		t := last.Tasks[i%len(last.Tasks)]
		if err := st.AdvanceSchedule(ctx, &store.AdvanceScheduleParams{Name: name, Cursor: sc.Cursor, LastFire: t.Created, LastTaskID: t.ID}); err != nil {
			return err
		}
	}
	return nil
}

// benchGet renders path b.N times, reports the time one render takes in
// ms/op, and fails if that is over budget (when not zero).
func benchGet(b *testing.B, h http.Handler, path string, budget time.Duration) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d\n%s", path, rec.Code, rec.Body)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/op")
	if budget > 0 && per > budget {
		b.Errorf("GET %s took %s, over the budget of %s", path, per, budget)
	}
}

// BenchmarkTaskListFirstPage renders the task list's first page with
// 100,000 tasks in the store.
func BenchmarkTaskListFirstPage(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/tasks", benchBudget)
	})
}

// BenchmarkTaskListFiltered renders the first page of failed tasks of one
// type among 100,000.
func BenchmarkTaskListFiltered(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/tasks?status=failed&type=type-3", benchBudget)
	})
}

// BenchmarkTaskListRareType renders the first page of a type with one
// task among all of them: the list must not walk every task to find it.
func BenchmarkTaskListRareType(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/tasks?type=bigflow", benchBudget)
	})
}

// BenchmarkTaskListNoMatch renders the empty first page of a status no
// task has (cancelled).
func BenchmarkTaskListNoMatch(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/tasks?status=cancelled", benchBudget)
	})
}

// BenchmarkFlowDetail200Steps renders the detail of a flow of 200 steps,
// one failed and the two it blocked never created, with 100,000 tasks in
// the store.
func BenchmarkFlowDetail200Steps(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, id string) {
		benchGet(b, h, "/tasks/"+id, benchBudget)
	})
}

// BenchmarkOverview renders the overview (counts by queue and status, the
// last hour's chart) with 100,000 tasks in the store.
func BenchmarkOverview(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/", benchBudget)
	})
}

// BenchmarkQueues renders the queues page (counts, rates, latencies) with
// 100,000 tasks in the store.
func BenchmarkQueues(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/queues", benchBudget)
	})
}

// BenchmarkSchedules renders the schedules page (50 schedules, each with
// its next five fire times in its own zone and its last run) with
// 100,000 tasks in the store.
func BenchmarkSchedules(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/schedules", benchBudget)
	})
}

// BenchmarkScheduleDetail renders one schedule's detail, whose recent
// runs the store finds by idempotency key among 100,000 tasks; no budget
// yet, since that search scans the tasks.
func BenchmarkScheduleDetail(b *testing.B) {
	benchBoth(b, func(b *testing.B, h http.Handler, _ string) {
		benchGet(b, h, "/schedules/schedule-01", 0)
	})
}
