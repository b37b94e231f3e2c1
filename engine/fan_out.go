package engine

// fanOutRun is the state of a fan-out step's items.
type fanOutRun struct{}

func (f *fanOutRun) ended(c *childRef) {}
