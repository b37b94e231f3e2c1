//go:build !flowapi

package engine

import (
	"context"
	"fmt"

	"github.com/loomhq/loom"
)

func (e *Engine) registerSteps(f *loom.Flow, _ []RegisterOption) error {
	return fmt.Errorf("%w: flows need the flow advance API", ErrInvalid)
}

func (e *Engine) startFlow(context.Context, *loom.TaskInfo) {}

func (e *Engine) advanceFlows(ctx context.Context) { <-ctx.Done() }

func (e *Engine) resumeFlows(context.Context) error { return nil }

func (e *Engine) retrySteps(context.Context, *loom.TaskInfo, *loom.Flow, loom.Values) error {
	return nil
}
