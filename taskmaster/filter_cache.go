package taskmaster

import (
	"sync"

	"github.com/loomhq/loom/trigger"
)

// maxCachedFilters bounds the filter cache; past it the cache starts
// afresh, which costs one compile per trigger.
const maxCachedFilters = 1024

// filterCache holds compiled trigger filters by source, so that each
// event costs a match, not a compile of every trigger's filter and its
// regular expressions. A filter is a pure function of its source, so a
// changed trigger simply uses another entry.
type filterCache struct {
	mu sync.Mutex
	m  map[string]*trigger.Filter
}

// get returns the compiled filter for src, compiling it on a miss.
func (c *filterCache) get(src string) (*trigger.Filter, error) {
	c.mu.Lock()
	f, ok := c.m[src]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	f, err := trigger.Compile(src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedFilters {
		c.m = make(map[string]*trigger.Filter)
	}
	c.m[src] = f
	return f, nil
}

// len counts the cached filters.
func (c *filterCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
