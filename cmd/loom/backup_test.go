package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
)

// TestBackupUnderLoad takes a backup while tasks are being submitted: the
// copy passes PRAGMA integrity_check and holds every task acknowledged
// before the backup began.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "loom.db")
	url, stop := inProcessServer(t, db)
	defer stop()
	c := client.New(url)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				tk, _, err := c.Submit(ctx, &client.SubmitRequest{Type: "wait", Input: loom.Values{"duration": "1h"}})
				if err != nil {
					continue
				}
				mu.Lock()
				acked = append(acked, tk.ID)
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	out, code := runMain(t, "backup", filepath.Join(dir, "copy.db"), "--db", db)
	cancel()
	wg.Wait()
	if code != 0 || !strings.Contains(out, "integrity ok") {
		t.Fatalf("backup: exit %d, %q", code, out)
	}
	copyDB, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "copy.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	var ok string
	if err := copyDB.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	missing := 0
	for _, id := range before {
		var n int
		if err := copyDB.QueryRow("SELECT count(*) FROM tasks WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d tasks acknowledged before the backup are not in it", missing, len(before))
	}
	// A backup never overwrites a file.
	if _, code := runMain(t, "backup", filepath.Join(dir, "copy.db"), "--db", db); code != 1 {
		t.Errorf("a second backup to the same file: exit %d, want 1", code)
	}
	if _, code := runMain(t, "backup", filepath.Join(dir, "pg.db"), "--db", "postgres://x/y"); code != 2 {
		t.Errorf("backup of PostgreSQL: exit %d, want 2", code)
	}
}
