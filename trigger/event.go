package trigger

// Event is what a trigger looks at: the body of POST /api/v1/events, or a
// webhook turned into one. Data is JSON-shaped (decoded with encoding/json,
// or built from maps, slices, strings, numbers, bools and nil).
type Event struct {
	// Type names what happened, dotted by convention: "order.created".
	Type string `json:"type"`
	// Data is the event's payload; filters and mappings reach into it with
	// paths such as data.order.id or data.items[0].sku.
	Data map[string]any `json:"data,omitempty"`
}
