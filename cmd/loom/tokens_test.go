package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runMainEnv runs one loom command line in-process with env as its
// environment and returns its stdout, stderr and exit code.
func runMainEnv(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr syncBuffer
	m := NewMain()
	m.Stdout, m.Stderr = &stdout, &stderr
	m.Getenv = func(k string) string { return env[k] }
	err := m.ParseFlags(context.Background(), args)
	if err == nil {
		err = m.Run(context.Background())
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	code := exitCode(&stderr, err)
	return stdout.String(), stderr.String(), code
}

// TestTokensOfflineAndThroughServer makes the first admin token offline,
// then uses, makes, lists and revokes tokens through a server on the same
// database.
func TestTokensOfflineAndThroughServer(t *testing.T) {
	db := filepath.Join(t.TempDir(), "loom.db")
	out, errOut, code := runMainEnv(t, nil, "tokens", "create", "root", "--role", "admin", "--db", db)
	root := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(root, "loom_") || out != root+"\n" || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("offline create: exit %d, %q, %q", code, out, errOut)
	}
	if _, errOut, code := runMainEnv(t, nil, "tokens", "create", "x", "--role", "root", "--db", db); code != 2 || !strings.Contains(errOut, "role") {
		t.Errorf("bad role: exit %d, %q", code, errOut)
	}
	if _, _, code := runMainEnv(t, nil, "tokens", "create", "root", "--role", "viewer", "--db", db); code != 1 {
		t.Errorf("taken name: exit %d", code)
	}

	url, stop := inProcessServer(t, db)
	defer stop()

	_, errOut, code = runMainEnv(t, nil, "--server", url, "tasks", "list")
	if code != 1 || !strings.Contains(errOut, "unauthorized") || !strings.Contains(errOut, "--token") || !strings.Contains(errOut, "LOOM_TOKEN") {
		t.Errorf("no token: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runMainEnv(t, nil, "--server", url, "--token", root, "tasks", "list"); code != 0 {
		t.Errorf("--token: exit %d, %q", code, errOut)
	}
	env := map[string]string{"LOOM_TOKEN": root}
	out, errOut, code = runMainEnv(t, env, "--server", url, "tokens", "create", "ci", "--role", "viewer")
	viewer := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(viewer, "loom_") {
		t.Fatalf("create through the server: exit %d, %q %q", code, out, errOut)
	}
	if _, errOut, code := runMainEnv(t, map[string]string{"LOOM_TOKEN": viewer}, "--server", url, "submit", "exec"); code != 1 || !strings.Contains(errOut, "forbidden") {
		t.Errorf("viewer submits: exit %d, %q", code, errOut)
	}
	out, _, code = runMainEnv(t, env, "--server", url, "tokens", "list")
	if code != 0 || !strings.Contains(out, "ci") || !strings.Contains(out, "viewer") || strings.Contains(out, "loom_") {
		t.Errorf("list: exit %d, %q", code, out)
	}
	if out, _, code := runMainEnv(t, env, "--server", url, "tokens", "revoke", "ci"); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: exit %d, %q", code, out)
	}
	if _, errOut, code := runMainEnv(t, map[string]string{"LOOM_TOKEN": viewer}, "--server", url, "tasks", "list"); code != 1 || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("revoked token: exit %d, %q", code, errOut)
	}
	out, _, code = runMainEnv(t, nil, "tokens", "list", "--db", db, "--json")
	if code != 0 || !strings.Contains(out, `"revoked"`) || !strings.Contains(out, `"last_used"`) {
		t.Errorf("offline list: exit %d, %q", code, out)
	}
}

// TestServerRequireAuth: --require-auth refuses requests before any
// token exists.
func TestServerRequireAuth(t *testing.T) {
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), "--require-auth")
	defer stop()
	if _, errOut, code := runMainEnv(t, nil, "--server", url, "tasks", "list"); code != 1 || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("no token: exit %d, %q", code, errOut)
	}
}

// TestServerRefusesOpenNonLoopback: listening on all interfaces needs
// authentication or --insecure-no-auth.
func TestServerRefusesOpenNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		db := filepath.Join(t.TempDir(), "loom.db")
		_, errOut, code := runMainEnv(t, nil, "server", "--addr", addr, "--db", db, "--workers", "-1")
		if code != 1 || !strings.Contains(errOut, "refusing to listen") || !strings.Contains(errOut, "--insecure-no-auth") {
			t.Errorf("%s: exit %d, %q", addr, code, errOut)
		}
	}

	db := filepath.Join(t.TempDir(), "loom.db")
	if logs := serveUntilListening(t, "server", "--addr", "0.0.0.0:0", "--db", db, "--workers", "-1", "--insecure-no-auth"); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "insecure-no-auth") {
		t.Errorf("--insecure-no-auth logs no warning:\n%s", logs)
	}

	if _, _, code := runMainEnv(t, nil, "tokens", "create", "root", "--role", "admin", "--db", db); code != 0 {
		t.Fatalf("create: exit %d", code)
	}
	if logs := serveUntilListening(t, "server", "--addr", "0.0.0.0:0", "--db", db, "--workers", "-1"); strings.Contains(logs, "level=WARN") {
		t.Errorf("a server with authentication warns:\n%s", logs)
	}
}

// TestExposedServerStaysClosed: a server listening beyond loopback keeps
// authentication on when its last token is revoked.
func TestExposedServerStaysClosed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "loom.db")
	out, _, code := runMainEnv(t, nil, "tokens", "create", "root", "--role", "admin", "--db", db)
	if code != 0 {
		t.Fatalf("create: exit %d", code)
	}
	env := map[string]string{"LOOM_TOKEN": strings.TrimSpace(out)}
	url, stop := inProcessServer(t, db, "--addr", "0.0.0.0:0")
	defer stop()
	// The wildcard is not a name the server answers to; loopback is.
	url = strings.Replace(url, "[::]", "127.0.0.1", 1)
	url = strings.Replace(url, "0.0.0.0", "127.0.0.1", 1)
	if _, errOut, code := runMainEnv(t, env, "--server", url, "tokens", "revoke", "root"); code != 0 {
		t.Fatalf("revoke: exit %d %s", code, errOut)
	}
	if _, errOut, code := runMainEnv(t, nil, "--server", url, "tasks", "list"); code != 1 || !strings.Contains(errOut, "unauthorized") {
		t.Errorf("after revoking every token: exit %d, %q", code, errOut)
	}
}

// serveUntilListening runs `loom server` in-process until it listens,
// stops it, and returns what it logged.
func serveUntilListening(t *testing.T, args ...string) string {
	t.Helper()
	var logs syncBuffer
	m := NewMain()
	m.Stdout, m.Stderr = &logs, &logs
	m.Getenv = func(string) string { return "" }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.ParseFlags(ctx, args); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for deadline := time.Now().Add(20 * time.Second); !urlInLog.MatchString(logs.String()); {
		select {
		case err := <-done:
			t.Fatalf("server stopped: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("server Run: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	return logs.String()
}
