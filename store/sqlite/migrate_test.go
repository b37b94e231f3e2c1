package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/store"
)

// TestMigrateQueueCounts opens a database made before the queue counts
// existed: migration 00004 must count the tasks it already holds, and
// 00003 must clear the end time of tasks that have not ended.
func TestMigrateQueueCounts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", dsn(Config{Path: path}.withDefaults(), true))
	require.NoError(t, err)
	fsys, err := fs.Sub(migrations, "migrations")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 2)
	require.NoError(t, err)
	for i, row := range []struct {
		queue, status string
		ended         any
	}{
		{"a", "pending", nil}, {"a", "pending", 5}, {"a", "running", nil},
		{"b", "completed", 5}, {"b", "failed", 5}, {"b", "cancelled", 5},
	} {
		_, err := db.ExecContext(ctx, `INSERT INTO tasks (id, type, queue, status, created, timeout, run_at, ended)
			VALUES (?, 'job', ?, ?, 1, 2, 1, ?)`, string(rune('k'+i)), row.queue, row.status, row.ended)
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())

	s, err := Open(ctx, Config{Path: path})
	require.NoError(t, err)
	defer s.Close()
	queues, err := s.ListQueues(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.QueueInfo{
		{QueueConfig: store.QueueConfig{Name: "a"}, Pending: 2, Running: 1},
		{QueueConfig: store.QueueConfig{Name: "b"}, Completed: 1, Failed: 1, Cancelled: 1},
	}, queues)
	var ended int
	require.NoError(t, s.r.QueryRowContext(ctx,
		`SELECT count(*) FROM tasks WHERE status IN ('pending', 'running') AND ended IS NOT NULL`).Scan(&ended))
	require.Zero(t, ended, "pending and running tasks have no end time")
}
