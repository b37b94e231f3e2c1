package metrics_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/metrics"
	"github.com/loomhq/loom/store"
	"github.com/loomhq/loom/store/sqlite"
)

// countingStore counts the reads the collector makes of a real store.
type countingStore struct {
	store.Store
	lists atomic.Int64
}

func (s *countingStore) ListQueues(ctx context.Context) ([]store.QueueInfo, error) {
	s.lists.Add(1)
	return s.Store.ListQueues(ctx)
}

// TestStoreGaugesCached: however often the metrics are gathered, the store
// is read at most once per CacheTTL, and the gauges say what it holds:
// queue depth, the oldest due task's wait, unknown queues under _other.
func TestStoreGaugesCached(t *testing.T) {
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := loomtest.NewFakeClock(now)
	_, err = st.InsertTasks(t.Context(), &store.InsertTasksParams{Now: now.Add(-time.Minute), Tasks: []*loom.TaskInfo{
		{Type: "a", Queue: "default"}, {Type: "a", Queue: "default"}, {Type: "a", Queue: "made-up"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	m := metrics.New()
	m.KnowQueues("default")
	m.WatchStore(metrics.StoreConfig{Store: cs, Clock: clock, CacheTTL: time.Hour})
	for range 10 {
		if _, err := m.Registry().Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.lists.Load(); n != 1 {
		t.Errorf("10 scrapes read the store %d times, want 1", n)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			if mt.Gauge == nil {
				continue
			}
			key := f.GetName()
			for _, l := range mt.GetLabel() {
				key += "/" + l.GetValue()
			}
			want[key] = mt.Gauge.GetValue()
		}
	}
	for key, v := range map[string]float64{
		"loom_queue_depth/default":                      2,
		"loom_queue_depth/" + metrics.OtherLabel:        1,
		"loom_queue_oldest_pending_age_seconds/default": 60,
	} {
		if want[key] != v {
			t.Errorf("%s = %v, want %v", key, want[key], v)
		}
	}
}
