package metrics

import (
	"context"

	"github.com/loomhq/loom"
)

// Values of loom_breaker_state.
const (
	BreakerClosedValue   = 0
	BreakerHalfOpenValue = 1
	BreakerOpenValue     = 2
)

// WatchBreakers keeps loom_breaker_state up to date from the breaker
// events em carries (the events a worker emits when a task type's circuit
// breaker changes state), until off is called. A nil m or em watches
// nothing.
func (m *Metrics) WatchBreakers(em *loom.EventEmitter) (off func()) {
	if m == nil || em == nil {
		return func() {}
	}
	return em.On("", func(_ context.Context, e loom.Event) {
		var v float64
		switch e.Type {
		case loom.EventBreakerOpened:
			v = BreakerOpenValue
		case loom.EventBreakerHalf:
			v = BreakerHalfOpenValue
		case loom.EventBreakerClosed:
			v = BreakerClosedValue
		default:
			return
		}
		m.breaker.WithLabelValues(m.typeLabel(e.Task)).Set(v)
	})
}
