package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/loomhq/loom/store"
	"github.com/spf13/cobra"
)

// parseRetainQueues reads --retain-queue QUEUE=DURATION flags.
func parseRetainQueues(flags []string) (map[string]time.Duration, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[string]time.Duration, len(flags))
	for _, f := range flags {
		q, d, ok := strings.Cut(f, "=")
		if !ok || q == "" {
			return nil, &usageError{fmt.Errorf("--retain-queue %q: want QUEUE=DURATION, like jobs=24h", f)}
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur < 0 {
			return nil, &usageError{fmt.Errorf("--retain-queue %q: %q is not a duration like 24h (0 keeps the queue's tasks)", f, d)}
		}
		if _, dup := out[q]; dup {
			return nil, &usageError{fmt.Errorf("--retain-queue: queue %q given twice", q)}
		}
		out[q] = dur
	}
	return out, nil
}

func (m *Main) newPruneCommand() *cobra.Command {
	var (
		db        dbOptions
		olderThan time.Duration
		queue     string
	)
	cmd := &cobra.Command{
		Use:   "prune --older-than D",
		Short: "Delete ended tasks older than D, with their steps, logs and events, once",
		Long: `Delete every top-level task that ended more than --older-than ago (of one
--queue, or all), with its steps, logs and events, working on the database
directly, in short transactions that a running server's submits do not wait
behind. A flow goes only once it and all its steps have ended. 'loom server
--retain D' does the same continuously.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan <= 0 {
				return &usageError{fmt.Errorf("--older-than must be a positive duration, like 720h")}
			}
			st, err := db.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			p := store.PruneTasksParams{EndedBefore: time.Now().Add(-olderThan), Queue: queue}
			total, err := store.PruneAll(cmd.Context(), st, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "deleted %d task%s that ended before %s\n", total, plural(total), p.EndedBefore.Local().Format(time.DateTime))
			return nil
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "delete tasks that ended longer ago than this, e.g. 720h")
	cmd.Flags().StringVar(&queue, "queue", "", "only this queue's tasks")
	cmd.Flags().StringVar(&db.db, "db", "loom.db", "the database: a SQLite file or a postgres:// URL")
	cmd.Flags().StringVar(&db.schema, "db-schema", "", "PostgreSQL schema of --db (default: the URL's search_path, else public)")
	return cmd
}
