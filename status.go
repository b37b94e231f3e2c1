package loom

// Status is where a task, a flow run or a flow step stands. The same values
// are used by the library's StateManager and by the durable engine's task
// object, where they appear lower-case in JSON.
type Status string

// The statuses a task or step moves through. PENDING and RUNNING are live;
// the others are terminal.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped"
	StatusCancelled Status = "cancelled"
)

// Terminal reports whether s is a final status that no longer changes.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusSkipped, StatusCancelled:
		return true
	}
	return false
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusSkipped, StatusCancelled:
		return true
	}
	return false
}
