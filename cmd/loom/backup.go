package main

import (
	"fmt"
	"strings"

	"github.com/loomhq/loom/store/sqlite"
	"github.com/spf13/cobra"
)

func (m *Main) newBackupCommand() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy a SQLite database consistently, while a server uses it",
		Long: `Write a consistent, compacted copy of the SQLite database --db to the new
file FILE while servers keep using it (SQLite's VACUUM INTO: one snapshot,
holding every task acknowledged before the backup began), then check the
copy with PRAGMA integrity_check. FILE must not exist.

Restore by stopping the server and putting the copy in the database's
place (remove the old file's -wal and -shm files with it). Keep the
server's secret key file (loom.db.key beside the database, or
$LOOM_SECRET_KEY) with the backup: the copy's trigger and notifier secrets
are sealed under it. On PostgreSQL use pg_dump.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
				return &usageError{fmt.Errorf("--db is PostgreSQL: back it up with pg_dump (see the README)")}
			}
			info, err := sqlite.Backup(cmd.Context(), strings.TrimPrefix(db, "sqlite:"), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(m.Stdout, "backed up %s to %s: %d tasks, %.1f MB, integrity ok\n", db, args[0], info.Tasks, float64(info.Bytes)/(1<<20))
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "loom.db", "the SQLite database to copy")
	return cmd
}
