package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// announce notifies the schema's work channel of each distinct queue in
// queues, delivered when tx commits (and not at all if it rolls back).
func (s *Store) announce(ctx context.Context, tx pgx.Tx, queues ...string) error {
	if len(queues) == 0 {
		return nil
	}
	queues = slices.Clone(queues)
	slices.Sort(queues)
	queues = slices.Compact(queues)
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q`, s.channel, queues); err != nil {
		return fmt.Errorf("announce work: %w", err)
	}
	return nil
}

// listenRetry is how long ListenForWork waits before connecting again
// after losing its connection.
const listenRetry = time.Second

// ListenForWork listens to the schema's work channel on a connection of
// its own (a pooled connection cannot hold a LISTEN) and calls wake for
// each announcement of one of queues; see store.WorkListener. It wakes
// once more each time its LISTEN takes effect, for what was announced
// before. A lost connection is logged and made again a second later.
func (s *Store) ListenForWork(ctx context.Context, queues []string, wake func()) error {
	want := make(map[string]bool, len(queues))
	for _, q := range queues {
		want[q] = true
	}
	for {
		err := s.listen(ctx, want, wake)
		if ctx.Err() != nil {
			return nil
		}
		s.logger.Warn("postgres store: listening for work failed; trying again", "err", err, "retry", listenRetry)
		t := time.NewTimer(listenRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// listen holds one listening connection until it fails or ctx is done.
func (s *Store) listen(ctx context.Context, want map[string]bool, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("listen for work: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen for work: %w", err)
	}
	// What was announced before the LISTEN took effect was missed.
	wake()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return fmt.Errorf("listen for work: %w", err)
		}
		if len(want) == 0 || want[n.Payload] {
			wake()
		}
	}
}
