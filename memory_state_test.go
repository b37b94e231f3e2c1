package loom_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestMemoryStateRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	tests := []struct {
		name string
		run  func(t *testing.T, s *loom.MemoryState)
	}{
		{"load unknown run is ErrNotFound", func(t *testing.T, s *loom.MemoryState) {
			_, err := s.LoadRun(ctx, "nope")
			if !errors.Is(err, loom.ErrNotFound) {
				t.Fatalf("LoadRun: err = %v, want ErrNotFound", err)
			}
			if got, want := err.Error(), "load run nope: "+loom.ErrNotFound.Error(); got != want {
				t.Errorf("LoadRun: err = %q, want %q", got, want)
			}
		}},
		{"save then load round-trips", func(t *testing.T, s *loom.MemoryState) {
			want := loom.RunState{
				RunID: "r1", Task: "etl", Status: loom.StatusRunning,
				Input: loom.Values{"src": "s3://b"}, Attempts: 1, Started: t0,
				Steps: map[string]loom.StepState{"a": {Name: "a", Status: loom.StatusPending}},
			}
			mustSaveRun(t, s, want)
			got, err := s.LoadRun(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("LoadRun = %+v, want %+v", got, want)
			}
		}},
		{"empty run id is an error", func(t *testing.T, s *loom.MemoryState) {
			if err := s.SaveRun(ctx, loom.RunState{Task: "x"}); err == nil {
				t.Error("SaveRun with empty RunID: want error")
			}
		}},
		{"SaveRun with nil Steps keeps saved steps", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "r1", Status: loom.StatusRunning})
			mustSaveStep(t, s, "r1", loom.StepState{Name: "a", Status: loom.StatusCompleted, Output: loom.Values{"x": 1}})
			mustSaveStep(t, s, "r1", loom.StepState{Name: "b", Status: loom.StatusRunning})
			mustSaveRun(t, s, loom.RunState{RunID: "r1", Status: loom.StatusCompleted})
			got := mustLoad(t, s, "r1")
			if got.Status != loom.StatusCompleted {
				t.Errorf("Status = %s, want completed", got.Status)
			}
			if len(got.Steps) != 2 || got.Steps["a"].Output["x"] != 1 || got.Steps["b"].Status != loom.StatusRunning {
				t.Errorf("Steps = %+v, want a and b kept", got.Steps)
			}
		}},
		{"SaveRun with non-nil Steps replaces them", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "r1"})
			mustSaveStep(t, s, "r1", loom.StepState{Name: "a"})
			mustSaveRun(t, s, loom.RunState{RunID: "r1", Steps: map[string]loom.StepState{}})
			if got := mustLoad(t, s, "r1"); len(got.Steps) != 0 {
				t.Errorf("Steps = %+v, want none", got.Steps)
			}
		}},
		{"SaveStep replaces a step", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "r1"})
			mustSaveStep(t, s, "r1", loom.StepState{Name: "a", Status: loom.StatusRunning, Attempts: 1})
			mustSaveStep(t, s, "r1", loom.StepState{Name: "a", Status: loom.StatusFailed, Attempts: 2, Error: "boom"})
			want := loom.StepState{Name: "a", Status: loom.StatusFailed, Attempts: 2, Error: "boom"}
			if got := mustLoad(t, s, "r1").Steps["a"]; !reflect.DeepEqual(got, want) {
				t.Errorf("step = %+v, want %+v", got, want)
			}
		}},
		{"SaveStep of unknown run is ErrNotFound", func(t *testing.T, s *loom.MemoryState) {
			err := s.SaveStep(ctx, "nope", loom.StepState{Name: "a"})
			if !errors.Is(err, loom.ErrNotFound) {
				t.Errorf("SaveStep: err = %v, want ErrNotFound", err)
			}
		}},
		{"SaveStep with empty name is an error", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "r1"})
			if err := s.SaveStep(ctx, "r1", loom.StepState{}); err == nil {
				t.Error("SaveStep with empty name: want error")
			}
		}},
		{"saved run is a copy of the caller's", func(t *testing.T, s *loom.MemoryState) {
			nested := map[string]any{"k": "v"}
			list := []any{"a", map[string]any{"deep": 1}}
			run := loom.RunState{
				RunID: "r1",
				Input: loom.Values{"m": nested, "l": list},
				Steps: map[string]loom.StepState{"a": {Name: "a", Output: loom.Values{"o": 1}}},
			}
			mustSaveRun(t, s, run)
			run.Input["new"] = true
			nested["k"] = "changed"
			list[1].(map[string]any)["deep"] = 2
			run.Steps["b"] = loom.StepState{Name: "b"}
			run.Steps["a"].Output["o"] = 2
			got := mustLoad(t, s, "r1")
			want := loom.Values{"m": map[string]any{"k": "v"}, "l": []any{"a", map[string]any{"deep": 1}}}
			if !reflect.DeepEqual(got.Input, want) {
				t.Errorf("Input = %v, want %v", got.Input, want)
			}
			if len(got.Steps) != 1 || got.Steps["a"].Output["o"] != 1 {
				t.Errorf("Steps = %+v, want the saved one", got.Steps)
			}
		}},
		{"loaded run is a copy of the stored one", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "r1", Output: loom.Values{"x": 1}})
			mustSaveStep(t, s, "r1", loom.StepState{Name: "a", Output: loom.Values{"y": []string{"p"}}})
			got := mustLoad(t, s, "r1")
			got.Output["x"] = 2
			got.Steps["a"].Output["y"].([]string)[0] = "q"
			got.Steps["z"] = loom.StepState{}
			again := mustLoad(t, s, "r1")
			if again.Output["x"] != 1 || again.Steps["a"].Output["y"].([]string)[0] != "p" || len(again.Steps) != 1 {
				t.Errorf("stored run changed through a loaded copy: %+v", again)
			}
		}},
		{"step output is a copy", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "r1"})
			out := loom.Values{"x": 1}
			mustSaveStep(t, s, "r1", loom.StepState{Name: "a", Output: out})
			out["x"] = 2
			if got := mustLoad(t, s, "r1").Steps["a"].Output["x"]; got != 1 {
				t.Errorf("step output = %v, want 1", got)
			}
		}},
		{"Runs sorted by Started then RunID", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "c", Started: t0.Add(time.Second)})
			mustSaveRun(t, s, loom.RunState{RunID: "b", Started: t0})
			mustSaveRun(t, s, loom.RunState{RunID: "a", Started: t0})
			mustSaveRun(t, s, loom.RunState{RunID: "d"})
			var ids []string
			for _, r := range s.Runs() {
				ids = append(ids, r.RunID)
			}
			if want := []string{"d", "a", "b", "c"}; !reflect.DeepEqual(ids, want) {
				t.Errorf("Runs order = %v, want %v", ids, want)
			}
		}},
		{"Runs returns copies", func(t *testing.T, s *loom.MemoryState) {
			mustSaveRun(t, s, loom.RunState{RunID: "r1", Input: loom.Values{"x": 1}})
			s.Runs()[0].Input["x"] = 2
			if got := mustLoad(t, s, "r1").Input["x"]; got != 1 {
				t.Errorf("Input x = %v, want 1", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, loom.NewMemoryState())
		})
	}
}

func TestMemoryStateZeroValue(t *testing.T) {
	t.Parallel()
	var s loom.MemoryState
	mustSaveRun(t, &s, loom.RunState{RunID: "r1"})
	mustLoad(t, &s, "r1")
	if _, ok, err := s.AcquireKey(context.Background(), "k", "r1", t0, time.Minute); err != nil || !ok {
		t.Errorf("AcquireKey on zero value = %v, %v", ok, err)
	}
}

func TestMemoryStateAcquireKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ttl = time.Minute
	done := &loom.Result{RunID: "r1", Name: "charge", Status: loom.StatusCompleted, Output: loom.Values{"id": "ch_1"}}

	tests := []struct {
		name string
		// prepare puts the key in the state the case starts from.
		prepare  func(t *testing.T, s *loom.MemoryState)
		runID    string
		now      time.Time
		acquired bool
		want     loom.IdempotencyRecord
	}{
		{
			name:     "absent key is free",
			prepare:  func(*testing.T, *loom.MemoryState) {},
			runID:    "r1",
			now:      t0,
			acquired: true,
			want:     loom.IdempotencyRecord{Key: "k", Status: loom.StatusRunning, RunID: "r1", LockedUntil: t0.Add(ttl)},
		},
		{
			name:     "in flight under another run is held",
			prepare:  acquire("r1", t0),
			runID:    "r2",
			now:      t0.Add(ttl - time.Nanosecond),
			acquired: false,
			want:     loom.IdempotencyRecord{Key: "k", Status: loom.StatusRunning, RunID: "r1", LockedUntil: t0.Add(ttl)},
		},
		{
			name:     "lapsed lock is taken over",
			prepare:  acquire("r1", t0),
			runID:    "r2",
			now:      t0.Add(ttl),
			acquired: true,
			want:     loom.IdempotencyRecord{Key: "k", Status: loom.StatusRunning, RunID: "r2", LockedUntil: t0.Add(2 * ttl)},
		},
		{
			name:     "holder acquires again with its lock extended",
			prepare:  acquire("r1", t0),
			runID:    "r1",
			now:      t0.Add(time.Second),
			acquired: true,
			want:     loom.IdempotencyRecord{Key: "k", Status: loom.StatusRunning, RunID: "r1", LockedUntil: t0.Add(time.Second + ttl)},
		},
		{
			name: "recorded result is returned before it expires",
			prepare: func(t *testing.T, s *loom.MemoryState) {
				acquire("r1", t0)(t, s)
				if err := s.CompleteKey(ctx, "k", done, t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			},
			runID:    "r2",
			now:      t0.Add(time.Hour - time.Nanosecond),
			acquired: false,
			want:     loom.IdempotencyRecord{Key: "k", Status: loom.StatusCompleted, RunID: "r1", Result: done, ExpiresAt: t0.Add(time.Hour)},
		},
		{
			name: "expired record is free",
			prepare: func(t *testing.T, s *loom.MemoryState) {
				acquire("r1", t0)(t, s)
				if err := s.CompleteKey(ctx, "k", done, t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			},
			runID:    "r2",
			now:      t0.Add(time.Hour),
			acquired: true,
			want:     loom.IdempotencyRecord{Key: "k", Status: loom.StatusRunning, RunID: "r2", LockedUntil: t0.Add(time.Hour + ttl)},
		},
		{
			name: "kept failure is returned like a result",
			prepare: func(t *testing.T, s *loom.MemoryState) {
				acquire("r1", t0)(t, s)
				failed := &loom.Result{RunID: "r1", Status: loom.StatusFailed, Message: "declined"}
				if err := s.CompleteKey(ctx, "k", failed, t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			},
			runID:    "r2",
			now:      t0.Add(time.Minute),
			acquired: false,
			want: loom.IdempotencyRecord{Key: "k", Status: loom.StatusFailed, RunID: "r1",
				Result: &loom.Result{RunID: "r1", Status: loom.StatusFailed, Message: "declined"}, ExpiresAt: t0.Add(time.Hour)},
		},
		{
			name: "released key is free",
			prepare: func(t *testing.T, s *loom.MemoryState) {
				acquire("r1", t0)(t, s)
				if err := s.ReleaseKey(ctx, "k"); err != nil {
					t.Fatal(err)
				}
			},
			runID:    "r2",
			now:      t0.Add(time.Second),
			acquired: true,
			want:     loom.IdempotencyRecord{Key: "k", Status: loom.StatusRunning, RunID: "r2", LockedUntil: t0.Add(time.Second + ttl)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := loom.NewMemoryState()
			tt.prepare(t, s)
			rec, acquired, err := s.AcquireKey(ctx, "k", tt.runID, tt.now, ttl)
			if err != nil {
				t.Fatal(err)
			}
			if acquired != tt.acquired {
				t.Errorf("acquired = %v, want %v", acquired, tt.acquired)
			}
			if !reflect.DeepEqual(rec, tt.want) {
				t.Errorf("record = %+v, want %+v", rec, tt.want)
			}
		})
	}
}

func acquire(runID string, now time.Time) func(*testing.T, *loom.MemoryState) {
	return func(t *testing.T, s *loom.MemoryState) {
		t.Helper()
		if _, ok, err := s.AcquireKey(context.Background(), "k", runID, now, time.Minute); err != nil || !ok {
			t.Fatalf("AcquireKey(%s) = %v, %v; want acquired", runID, ok, err)
		}
	}
}

func TestMemoryStateAcquireKeyInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name, key, runID string
		ttl              time.Duration
	}{
		{"empty key", "", "r1", time.Minute},
		{"empty run id", "k", "", time.Minute},
		{"zero TTL", "k", "r1", 0},
		{"negative TTL", "k", "r1", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, ok, err := loom.NewMemoryState().AcquireKey(ctx, tt.key, tt.runID, t0, tt.ttl); err == nil || ok {
				t.Errorf("AcquireKey = %v, %v; want error", ok, err)
			}
		})
	}
}

func TestMemoryStateKeyRecordIsCopied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loom.NewMemoryState()
	acquire("r1", t0)(t, s)
	res := &loom.Result{RunID: "r1", Status: loom.StatusCompleted, Output: loom.Values{"id": "a"},
		Steps: map[string]*loom.Result{"s": {Name: "s", Output: loom.Values{"v": 1}}}}
	if err := s.CompleteKey(ctx, "k", res, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res.Output["id"] = "changed"
	res.Steps["s"].Output["v"] = 2

	rec, _, err := s.AcquireKey(ctx, "k", "r2", t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Result.Output["id"] != "a" || rec.Result.Steps["s"].Output["v"] != 1 {
		t.Fatalf("recorded result changed through the caller's: %+v", rec.Result)
	}
	rec.Result.Output["id"] = "changed"
	rec.Result.Status = loom.StatusFailed
	again, _, _ := s.AcquireKey(ctx, "k", "r2", t0, time.Minute)
	if again.Result.Output["id"] != "a" || again.Result.Status != loom.StatusCompleted {
		t.Errorf("recorded result changed through a returned copy: %+v", again.Result)
	}
}

func TestMemoryStateCompleteKeyNilResult(t *testing.T) {
	t.Parallel()
	if err := loom.NewMemoryState().CompleteKey(context.Background(), "k", nil, t0); err == nil {
		t.Error("CompleteKey(nil): want error")
	}
}

func TestMemoryStateReleaseUnknownKey(t *testing.T) {
	t.Parallel()
	if err := loom.NewMemoryState().ReleaseKey(context.Background(), "k"); err != nil {
		t.Errorf("ReleaseKey of unknown key = %v, want nil", err)
	}
}

func TestMemoryStateKeyChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	res := &loom.Result{RunID: "r1", Status: loom.StatusCompleted}
	tests := []struct {
		name   string
		change func(t *testing.T, s *loom.MemoryState)
		fires  bool
	}{
		{"complete fires", func(t *testing.T, s *loom.MemoryState) {
			if err := s.CompleteKey(ctx, "k", res, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"release fires", func(t *testing.T, s *loom.MemoryState) {
			if err := s.ReleaseKey(ctx, "k"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"takeover of a lapsed lock fires", func(t *testing.T, s *loom.MemoryState) {
			acquire("r2", t0.Add(time.Minute))(t, s)
		}, true},
		{"a refused acquire does not fire", func(t *testing.T, s *loom.MemoryState) {
			if _, ok, _ := s.AcquireKey(ctx, "k", "r2", t0, time.Minute); ok {
				t.Fatal("acquired a held key")
			}
		}, false},
		{"the holder re-acquiring does not fire", func(t *testing.T, s *loom.MemoryState) {
			acquire("r1", t0.Add(time.Second))(t, s)
		}, false},
		{"another key's change does not fire", func(t *testing.T, s *loom.MemoryState) {
			if err := s.CompleteKey(ctx, "other", res, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := loom.NewMemoryState()
			acquire("r1", t0)(t, s)
			ch := s.KeyChanged("k")
			if ch2 := s.KeyChanged("k"); ch2 != ch {
				t.Error("two KeyChanged calls before a change returned different channels")
			}
			tt.change(t, s)
			select {
			case <-ch:
				if !tt.fires {
					t.Error("channel closed; want open")
				}
			default:
				if tt.fires {
					t.Error("channel open; want closed")
				}
			}
			if tt.fires {
				select {
				case <-s.KeyChanged("k"):
					t.Error("a channel taken after the change is already closed")
				default:
				}
			}
		})
	}
}

// A duplicate run waits on KeyChanged for the first one's result, as an
// executor does.
func TestMemoryStateDuplicateWaitsForResult(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loom.NewMemoryState()
	acquire("r1", t0)(t, s)

	var wg sync.WaitGroup
	got := make(chan *loom.Result, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			changed := s.KeyChanged("k")
			rec, ok, err := s.AcquireKey(ctx, "k", "r2", t0, time.Minute)
			if err != nil || ok {
				t.Errorf("AcquireKey = %v, %v; want held or recorded", ok, err)
				return
			}
			if rec.Result != nil {
				got <- rec.Result
				return
			}
			<-changed
		}
	}()
	want := &loom.Result{RunID: "r1", Status: loom.StatusCompleted, Output: loom.Values{"n": 1}}
	if err := s.CompleteKey(ctx, "k", want, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if r := <-got; !reflect.DeepEqual(r, want) {
		t.Errorf("waiter got %+v, want %+v", r, want)
	}
}

func TestMemoryStateConcurrentAcquireOneWinner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := loom.NewMemoryState()
	const n = 32
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.AcquireKey(ctx, "k", string(rune('a'+i)), t0, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
			_ = s.SaveRun(ctx, loom.RunState{RunID: "r"})
			_ = s.SaveStep(ctx, "r", loom.StepState{Name: "s"})
			_, _ = s.LoadRun(ctx, "r")
			_ = s.Runs()
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d runs acquired the key, want 1", winners)
	}
}

func mustSaveRun(t *testing.T, s *loom.MemoryState, r loom.RunState) {
	t.Helper()
	if err := s.SaveRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func mustSaveStep(t *testing.T, s *loom.MemoryState, runID string, st loom.StepState) {
	t.Helper()
	if err := s.SaveStep(context.Background(), runID, st); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, s *loom.MemoryState, runID string) loom.RunState {
	t.Helper()
	r, err := s.LoadRun(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
