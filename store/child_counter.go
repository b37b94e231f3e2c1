package store

import (
	"context"

	"github.com/loomhq/loom"
)

// ChildCounter is implemented by stores that count a task's children by
// status without reading them: what a page showing a flow or a fan-out of
// 10,000 items needs to say how far it got while drawing only a few. It
// is optional: callers detect it with a type assertion and otherwise
// count ListChildren.
type ChildCounter interface {
	// CountChildren returns how many children of parentID are in each
	// status; statuses no child is in are absent. An unknown parent has
	// none.
	CountChildren(ctx context.Context, parentID string) (map[loom.Status]int, error)
}
