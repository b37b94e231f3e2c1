package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// ErrBackupExists is Backup's answer when the destination file exists: a
// backup never overwrites anything.
var ErrBackupExists = errors.New("backup file exists")

// BackupInfo describes a finished backup.
type BackupInfo struct {
	// Tasks counts the tasks the copy holds.
	Tasks int64
	// Bytes is the copy's size.
	Bytes int64
}

// Backup writes a consistent copy of the SQLite database at src to the
// new file dest with VACUUM INTO, while servers keep using src: the copy
// is one read transaction's snapshot (under WAL, writers go on meanwhile),
// compacted, and holds every transaction committed before the backup
// began. It then checks the copy with PRAGMA integrity_check.
func Backup(ctx context.Context, src, dest string) (*BackupInfo, error) {
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("back up %s: %w", src, err)
	}
	if _, err := os.Stat(dest); err == nil {
		return nil, fmt.Errorf("back up %s to %s: %w", src, dest, ErrBackupExists)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("back up %s: open: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return nil, fmt.Errorf("back up %s to %s: %w", src, dest, err)
	}
	info, err := checkCopy(ctx, dest)
	if err != nil {
		return nil, fmt.Errorf("check backup %s: %w", dest, err)
	}
	return info, nil
}

// checkCopy opens a backup read-only, runs PRAGMA integrity_check and
// counts its tasks.
func checkCopy(ctx context.Context, path string) (*BackupInfo, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil {
		return nil, err
	}
	if ok != "ok" {
		return nil, fmt.Errorf("integrity check: %s", ok)
	}
	info := &BackupInfo{}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM tasks").Scan(&info.Tasks); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	info.Bytes = st.Size()
	return info, nil
}
