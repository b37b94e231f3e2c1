package postgres

import (
	"context"
	"fmt"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

var _ store.ChildCounter = (*Store)(nil)

// CountChildren counts the children of parentID by status, from the
// parent index without decoding a task.
func (s *Store) CountChildren(ctx context.Context, parentID string) (map[loom.Status]int, error) {
	rows, err := s.db().Query(ctx, `SELECT status, count(*) FROM tasks WHERE parent_id = $1 GROUP BY status`, parentID)
	if err != nil {
		return nil, fmt.Errorf("count children of %s: %w", parentID, err)
	}
	defer rows.Close()
	out := map[loom.Status]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count children of %s: %w", parentID, err)
		}
		out[loom.Status(status)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count children of %s: %w", parentID, err)
	}
	return out, nil
}
