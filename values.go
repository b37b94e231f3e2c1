package loom

import "maps"

// Values carries a task's inputs and outputs, and the data a flow passes
// between its steps. Values are JSON-shaped (string keys, JSON-encodable
// values) so that the same task runs in-process and through the durable
// engine, where inputs and outputs are stored and sent as JSON.
type Values map[string]any

// Clone returns a shallow copy of v, so that a step cannot change the map
// another step or the caller holds. A nil Values clones to an empty one.
func (v Values) Clone() Values {
	out := make(Values, len(v))
	maps.Copy(out, v)
	return out
}
