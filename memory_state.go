package loom

// MemoryState is a StateManager that keeps everything in memory, for tests
// and for executors that need no durability. It is safe for concurrent use.
type MemoryState struct{}

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { panic("not implemented") }
