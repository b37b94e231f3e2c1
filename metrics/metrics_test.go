package metrics_test

import (
	"context"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/bus"
	"github.com/loomhq/loom/bus/memory"
	"github.com/loomhq/loom/metrics"
	dto "github.com/prometheus/client_model/go"
)

// series returns the value of name's series with exactly labels.
func series(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, mt := range f.GetMetric() {
			if len(mt.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range mt.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return value(mt)
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func value(mt *dto.Metric) float64 {
	switch {
	case mt.Counter != nil:
		return mt.Counter.GetValue()
	case mt.Gauge != nil:
		return mt.Gauge.GetValue()
	}
	return float64(mt.GetHistogram().GetSampleCount())
}

// TestBreakerState follows breaker events; a type not made known is
// reported under _other.
func TestBreakerState(t *testing.T) {
	m := metrics.New()
	m.KnowTypes("charge")
	em := loom.NewEventEmitter()
	off := m.WatchBreakers(em)
	defer off()
	em.Emit(context.Background(), loom.Event{Type: loom.EventBreakerOpened, Task: "charge"})
	if v := series(t, m, "loom_breaker_state", map[string]string{"type": "charge"}); v != metrics.BreakerOpenValue {
		t.Errorf("after opened: %v", v)
	}
	em.Emit(context.Background(), loom.Event{Type: loom.EventBreakerHalf, Task: "charge"})
	if v := series(t, m, "loom_breaker_state", map[string]string{"type": "charge"}); v != metrics.BreakerHalfOpenValue {
		t.Errorf("after half-open: %v", v)
	}
	em.Emit(context.Background(), loom.Event{Type: loom.EventBreakerOpened, Task: "someone-elses"})
	if v := series(t, m, "loom_breaker_state", map[string]string{"type": metrics.OtherLabel}); v != metrics.BreakerOpenValue {
		t.Errorf("unknown type: %v", v)
	}
}

// TestInstrumentBus counts deliveries and, when a message comes back
// after a Nack, redeliveries.
func TestInstrumentBus(t *testing.T) {
	m := metrics.New()
	m.KnowQueues("q")
	mb, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := metrics.InstrumentBus(mb, m)
	defer b.Close()
	ctx := context.Background()
	c, err := b.Consume(ctx, "q", bus.ConsumeOptions{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := b.Publish(ctx, "q", bus.Message{ID: "1", Type: "t", Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Receive(ctx, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("receive: %v %d", err, len(ds))
	}
	if err := ds[0].Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ds, err = c.Receive(ctx, 10)
	if err != nil || len(ds) != 1 || !ds[0].Redelivered {
		t.Fatalf("receive again: %v %d", err, len(ds))
	}
	_ = ds[0].Ack(ctx)
	labels := map[string]string{"stream": metrics.StreamReady, "queue": "q"}
	if v := series(t, m, "loom_bus_deliveries_total", labels); v != 2 {
		t.Errorf("deliveries %v, want 2", v)
	}
	if v := series(t, m, "loom_bus_redeliveries_total", labels); v != 1 {
		t.Errorf("redeliveries %v, want 1", v)
	}
	if metrics.InstrumentBus(mb, nil) != bus.Bus(mb) {
		t.Error("InstrumentBus without metrics wraps the bus")
	}
}
