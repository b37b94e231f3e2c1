package execrt_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
)

func TestParseProgressLine(t *testing.T) {
	for _, tc := range []struct {
		line        string
		done, total int64
		msg         string
		ok          bool
	}{
		{"::progress 3/10 copying a.txt", 3, 10, "copying a.txt", true},
		{"::progress 3/10", 3, 10, "", true},
		{"::progress 42 rows so far\r", 42, 0, "rows so far", true},
		{"::progress  7/8  two spaces ", 7, 8, "two spaces", true},
		{"::progress x/10 nope", 0, 0, "", false},
		{"::progress 3/-1", 0, 0, "", false},
		{"::progress -3", 0, 0, "", false},
		{"::progress", 0, 0, "", false},
		{"progress 3/10", 0, 0, "", false},
		{" ::progress 3/10", 0, 0, "", false},
	} {
		done, total, msg, ok := execrt.ParseProgressLine(tc.line)
		if ok != tc.ok || done != tc.done || total != tc.total || msg != tc.msg {
			t.Errorf("%q: %d/%d %q %v, want %d/%d %q %v", tc.line, done, total, msg, ok, tc.done, tc.total, tc.msg, tc.ok)
		}
	}
}

// TestProgressLines: a command's progress lines on stdout, written in
// pieces or many at once, reach loom.ReportProgress; its stderr and long
// lines do not.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []string
	)
	ctx := loom.ContextWithProgress(context.Background(), func(done, total int64, msg string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, strings.TrimSpace(strings.Join([]string{strconv.FormatInt(done, 10), strconv.FormatInt(total, 10), msg}, " ")))
	})
	long := strings.Repeat("x", 600)
	script := `printf '::progress 1/3 first\n'; printf '::prog'; printf 'ress 2/3 split\n';` +
		`echo '::progress 9/9 on stderr' >&2; printf '::progress 5/5 %s\n' ` + long + `; printf 'noise\n::progress 3/3\n'`
	out, _, err := run(t, ctx, execrt.New(execrt.Config{}), loom.Values{"command": []string{"sh", "-c", script}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out["stdout"].(string), "::progress 1/3 first") {
		t.Errorf("progress lines left stdout: %q", out["stdout"])
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"1 3 first", "2 3 split", "3 3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("reports %q, want %q", got, want)
	}
}
