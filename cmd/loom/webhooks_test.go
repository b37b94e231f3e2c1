package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/trigger"
)

// postHook posts a signed webhook and returns the status and the answer.
func postHook(t *testing.T, url string, body []byte, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(trigger.SignatureHeader, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestWebhookSecretsAndReplays: a trigger's and a notifier's secrets are
// never answered and are not in the database's files; six identical
// signed webhooks start one task; after a restart the secret, read from
// the sealed store with the key file, still verifies.
func TestWebhookSecretsAndReplays(t *testing.T) {
	t.Parallel()
	const hookSecret, notifySecret = "hook-secret-91ac", "notify-secret-5d2f"
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	if err := os.Mkdir(flows, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flows, "noop.yaml"), []byte("name: noop\nsteps:\n  - name: s\n    exec: [\"true\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dbDir := filepath.Join(dir, "db")
	if err := os.Mkdir(dbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dbDir, "loom.db")
	url, stop := inProcessServer(t, db, "--flows", flows)
	api := url + "/api/v1"
	apiCode(t, "POST", api+"/triggers", map[string]any{"name": "gh", "kind": "event", "secret": hookSecret, "task": map[string]any{"type": "noop"}}, nil)
	apiCode(t, "POST", api+"/notifiers", map[string]any{"name": "ops", "url": "https://example.com/hook", "secret": notifySecret}, nil)
	for _, path := range []string{"/triggers", "/triggers/gh", "/notifiers"} {
		code, body := apiRaw(t, "GET", api+path, nil)
		if code != 200 || strings.Contains(body, hookSecret) || strings.Contains(body, notifySecret) {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}

	body := []byte(`{"ref":"main"}`)
	var first string
	for i := range 6 {
		code, answer := postHook(t, api+"/hooks/gh", body, trigger.Sign([]byte(hookSecret), body))
		var got struct {
			Started []struct {
				Task     loom.TaskInfo
				Created  bool
				Replayed bool
			}
		}
		if err := json.Unmarshal([]byte(answer), &got); err != nil || len(got.Started) != 1 {
			t.Fatalf("webhook %d: %d %s", i, code, answer)
		}
		s := got.Started[0]
		switch {
		case i == 0 && (code != http.StatusAccepted || !s.Created):
			t.Fatalf("first webhook: %d %s", code, answer)
		case i == 0:
			first = s.Task.ID
		case code != http.StatusOK || !s.Replayed || s.Created || s.Task.ID != first:
			t.Fatalf("replay %d: %d %s", i, code, answer)
		}
	}
	var page struct{ Tasks []loom.TaskInfo }
	apiCode(t, "GET", api+"/tasks?limit=100", nil, &page)
	n := 0
	for _, task := range page.Tasks {
		if task.Type == "noop" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("six identical webhooks made %d tasks", n)
	}
	waitIdle(t, url, 20*time.Second)
	stop()

	if fi, err := os.Stat(db + ".key"); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	entries, err := os.ReadDir(dbDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dbDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(hookSecret)) || bytes.Contains(b, []byte(notifySecret)) {
			t.Fatalf("%s holds a secret in plain text", e.Name())
		}
	}

	url, _ = inProcessServer(t, db, "--flows", flows)
	next := []byte(`{"ref":"next"}`)
	if code, answer := postHook(t, url+"/api/v1/hooks/gh", next, trigger.Sign([]byte("wrong"), next)); code != http.StatusUnauthorized {
		t.Errorf("wrong signature after restart: %d %s", code, answer)
	}
	if code, answer := postHook(t, url+"/api/v1/hooks/gh", next, trigger.Sign([]byte(hookSecret), next)); code != http.StatusAccepted || !strings.Contains(answer, `"created":true`) {
		t.Errorf("signed webhook after restart: %d %s", code, answer)
	}
}

// TestSecretKeySources: $LOOM_SECRET_KEY, as hex or base64, wins over the
// key file; a key of the wrong size is refused; a missing file is created
// once and then read.
func TestSecretKeySources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := ""
	m := &Main{Getenv: func(k string) string {
		if k == secretKeyEnv {
			return env
		}
		return ""
	}}
	db := filepath.Join(dir, "loom.db")
	k1, err := m.secretKey(db, "")
	if err != nil || len(k1) != 32 {
		t.Fatalf("created key: %x %v", k1, err)
	}
	if k2, err := m.secretKey(db, ""); err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("read key: %x %v, want %x", k2, err, k1)
	}
	env = strings.Repeat("ab", 32)
	if k, err := m.secretKey(db, ""); err != nil || k[0] != 0xab || len(k) != 32 {
		t.Fatalf("hex key: %x %v", k, err)
	}
	env = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	if k, err := m.secretKey(db, ""); err != nil || len(k) != 32 {
		t.Fatalf("base64 key: %x %v", k, err)
	}
	env = "abcd"
	if _, err := m.secretKey(db, ""); err == nil || !strings.Contains(err.Error(), secretKeyEnv) {
		t.Fatalf("short key: %v", err)
	}
	env = ""
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.secretKey(db, short); err == nil {
		t.Fatal("a 1-byte key file was accepted")
	}
}
