package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/store"
)

// ChildSummary is a bounded view of a task's children (a flow's steps, a
// fan-out step's items): a page to draw and counts of them all.
type ChildSummary struct {
	// Children are every child, oldest first, when there are at most the
	// limit asked for; otherwise the newest limit of them, oldest first.
	Children []*loom.TaskInfo
	// Total counts every child, Counts every child by status.
	Total  int
	Counts map[loom.Status]int
}

// Truncated reports whether Children are fewer than all the children.
func (s *ChildSummary) Truncated() bool { return len(s.Children) < s.Total }

// ChildSummary returns the children of task id, at most limit of them,
// with counts of all. On a store that counts children (store.ChildCounter)
// it reads no more than limit tasks, so a page showing a fan-out of
// 10,000 items costs what it draws.
func (e *Engine) ChildSummary(ctx context.Context, id string, limit int) (*ChildSummary, error) {
	cc, ok := e.store.(store.ChildCounter)
	if !ok {
		all, err := e.Children(ctx, id)
		if err != nil {
			return nil, err
		}
		s := &ChildSummary{Children: all, Total: len(all), Counts: map[loom.Status]int{}}
		for _, c := range all {
			s.Counts[c.Status]++
		}
		if len(all) > limit {
			s.Children = all[len(all)-limit:]
		}
		return s, nil
	}
	counts, err := cc.CountChildren(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("engine: count children of %s: %w", id, err)
	}
	s := &ChildSummary{Counts: counts}
	for _, n := range counts {
		s.Total += n
	}
	if s.Total <= limit {
		s.Children, err = e.Children(ctx, id)
		return s, err
	}
	page, err := e.List(ctx, &store.ListTasksParams{ParentID: id, Limit: limit})
	if err != nil {
		return nil, err
	}
	s.Children = page.Tasks
	slices.SortStableFunc(s.Children, func(a, b *loom.TaskInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return s, nil
}
