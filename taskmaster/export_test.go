package taskmaster

// RunningBackfills counts the backfills whose runs this Taskmaster is
// creating, so that tests see a cancel stop one without waiting on time.
func (t *Taskmaster) RunningBackfills() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.running)
}

// CachedFilters counts the compiled trigger filters kept.
func (t *Taskmaster) CachedFilters() int { return t.filters.len() }
