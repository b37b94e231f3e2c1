package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/store/postgres/pgtest"
)

// TestServerOnPostgres starts a server on PostgreSQL in a schema of its
// own, which it creates, and runs a submitted task to completion.
func TestServerOnPostgres(t *testing.T) {
	db, schema := pgtest.URL(t), pgtest.Schema(t)
	args := []string{"--db-schema", schema, "--allow-exec", "--secret-key-file", filepath.Join(t.TempDir(), "loom.key")}
	url, stop := inProcessServer(t, db, args...)
	out, code := runMain(t, "--server", url, "submit", "exec", "--input", `{"command":["echo","hello"]}`, "--wait")
	if code != 0 || !strings.Contains(out, "completed") {
		t.Fatalf("submit --wait: exit %d, output:\n%s", code, out)
	}
	id := strings.Fields(out)[0]
	out, code = runMain(t, "--server", url, "tasks", "logs", id)
	if code != 0 || out != "hello\n" {
		t.Errorf("tasks logs: exit %d, output %q", code, out)
	}
	stop()

	// The tasks outlive the server, in the schema.
	url, _ = inProcessServer(t, db, args...)
	out, code = runMain(t, "--server", url, "tasks", "show", id)
	if code != 0 || !strings.Contains(out, "completed") {
		t.Errorf("tasks show after a restart: exit %d, output:\n%s", code, out)
	}
}

// TestTokensOnPostgres makes and lists tokens straight on a PostgreSQL
// database, as before a server is exposed.
func TestTokensOnPostgres(t *testing.T) {
	t.Parallel()
	db, schema := pgtest.URL(t), pgtest.Schema(t)
	out, code := runMain(t, "tokens", "create", "root", "--role", "admin", "--db", db, "--db-schema", schema)
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("tokens create: exit %d, output:\n%s", code, out)
	}
	out, code = runMain(t, "tokens", "list", "--db", db, "--db-schema", schema)
	if code != 0 || !strings.Contains(out, "root") || !strings.Contains(out, "admin") {
		t.Errorf("tokens list: exit %d, output:\n%s", code, out)
	}
}

func TestDBFlagErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"server", "--addr", "127.0.0.1:0", "--db", t.TempDir() + "/x.db", "--db-schema", "s"},
		{"server", "--addr", "127.0.0.1:0", "--db", "sqlite:"},
		{"tokens", "list", "--db", "sqlite:", "--db-schema", "s"},
		{"bench", "--db", "loom.db"},
	} {
		if _, code := runMain(t, args...); code != 2 {
			t.Errorf("loom %s: exit %d, want 2 (usage)", strings.Join(args, " "), code)
		}
	}
}

func TestRedactDB(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"loom.db":                          "loom.db",
		"postgres://u:secret@h/db":         "postgres://u:xxxxx@h/db",
		"postgresql://u@h/db?password=pw1": "postgresql://u@h/db?password=xxxxx",
	} {
		if got := redactDB(in); got != want {
			t.Errorf("redactDB(%q) = %q, want %q", in, got, want)
		}
	}
}
