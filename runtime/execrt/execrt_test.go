package execrt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// attemptLog is a log writer that a test can read while the command runs.
type attemptLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // receives (without blocking) after each write
}

func newAttemptLog() *attemptLog { return &attemptLog{wrote: make(chan struct{}, 1)} }

func (l *attemptLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *attemptLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// firstLine waits for the log's first complete line.
func (l *attemptLog) firstLine(t *testing.T) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if line, _, ok := strings.Cut(l.String(), "\n"); ok {
			return line
		}
		select {
		case <-l.wrote:
		case <-deadline:
			t.Fatalf("no line in the log after 10s; log so far: %q", l.String())
		}
	}
}

// run runs the handler with a captured log.
func run(t *testing.T, ctx context.Context, h *execrt.Handler, in loom.Values) (loom.Values, string, error) {
	t.Helper()
	log := newAttemptLog()
	out, err := h.Handle(loom.ContextWithLogWriter(ctx, log), in)
	return out, log.String(), err
}

func TestHandleCompletes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	stdin := "fed through stdin"
	tests := []struct {
		name       string
		cfg        execrt.Config
		in         loom.Values
		wantStdout string
		wantLog    []string // each must appear in the log
	}{
		{
			name:       "stdout and stderr both logged, stdout returned",
			in:         loom.Values{"command": []string{"sh", "-c", "echo to-out; echo to-err >&2"}},
			wantStdout: "to-out\n",
			wantLog:    []string{"to-out\n", "to-err\n"},
		},
		{
			name:       "arguments passed without a shell",
			in:         loom.Values{"command": []any{"printf", "%s|%s", "a b", "$HOME"}},
			wantStdout: "a b|$HOME",
		},
		{
			name:       "env added to the parent environment",
			in:         loom.Values{"command": []string{"sh", "-c", `printf '%s:%s' "$LOOM_EXEC_TEST" "${PATH:+path-kept}"`}, "env": map[string]string{"LOOM_EXEC_TEST": "set"}},
			wantStdout: "set:path-kept",
		},
		{
			name:       "dir is the working directory",
			in:         loom.Values{"command": []string{"pwd", "-P"}, "dir": dir},
			wantStdout: realDir + "\n",
		},
		{
			name:       "stdin fed to the command",
			in:         execrt.Input{Command: []string{"cat"}, Stdin: &stdin}.Values(),
			wantStdout: stdin,
		},
		{
			name:       "stdout cut to its tail, log keeps all",
			cfg:        execrt.Config{MaxOutput: 10},
			in:         loom.Values{"command": []string{"printf", "abcdefghijklmnopqrstuvwxyz"}},
			wantStdout: "qrstuvwxyz",
			wantLog:    []string{"abcdefghijklmnopqrstuvwxyz"},
		},
		{
			name:       "tail starts at a whole character",
			cfg:        execrt.Config{MaxOutput: 2},
			in:         loom.Values{"command": []string{"printf", "abcdéf"}},
			wantStdout: "f",
		},
		{
			name:       "many writes through a small tail",
			cfg:        execrt.Config{MaxOutput: 8},
			in:         loom.Values{"command": []string{"sh", "-c", "i=0; while [ $i -lt 200 ]; do echo $i; echo e$i >&2; i=$((i+1)); done"}},
			wantStdout: "198\n199\n",
			wantLog:    []string{"0\n", "e199\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, log, err := run(t, t.Context(), execrt.New(tt.cfg), tt.in)
			if err != nil {
				t.Fatalf("Handle: %v (log %q)", err, log)
			}
			if got := out["exit_code"]; got != 0 {
				t.Errorf("exit_code = %v, want 0", got)
			}
			if got := out["stdout"]; got != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tt.wantStdout)
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(log, want) {
					t.Errorf("log %q does not contain %q", log, want)
				}
			}
		})
	}
}

func TestHandleFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        loom.Values
		permanent bool
		wantErr   string
		wantExit  int // when non-zero, the error must be an *ExitError with this code
	}{
		{name: "non-zero exit is retryable", in: loom.Values{"command": []string{"sh", "-c", "echo failing >&2; exit 3"}}, wantErr: "exit status 3", wantExit: 3},
		{name: "killed by a signal is retryable", in: loom.Values{"command": []string{"sh", "-c", "kill -9 $$"}}, wantErr: "killed by signal"},
		{name: "missing program", in: loom.Values{"command": []string{"loom-no-such-program"}}, permanent: true, wantErr: `exec "loom-no-such-program": cannot start`},
		{name: "missing program path", in: loom.Values{"command": []string{"/nonexistent/loom-prog"}}, permanent: true, wantErr: "no such file or directory"},
		{name: "program not executable", in: loom.Values{"command": []string{"/etc/passwd"}}, permanent: true, wantErr: "permission denied"},
		{name: "missing dir", in: loom.Values{"command": []string{"true"}, "dir": "/nonexistent/loom-dir"}, permanent: true, wantErr: "no such file or directory"},
		{name: "no command", in: loom.Values{}, permanent: true, wantErr: `input "command": a non-empty list`},
		{name: "empty command", in: loom.Values{"command": []string{}}, permanent: true, wantErr: `input "command": a non-empty list`},
		{name: "empty program", in: loom.Values{"command": []string{""}}, permanent: true, wantErr: `input "command": a non-empty list`},
		{name: "command not a list", in: loom.Values{"command": "echo hi"}, permanent: true, wantErr: `input "command": got a JSON string, want an array`},
		{name: "argument not a string", in: loom.Values{"command": []any{"echo", 1}}, permanent: true, wantErr: `input "command": got a JSON number, want a string`},
		{name: "env not an object", in: loom.Values{"command": []string{"true"}, "env": []string{"A=B"}}, permanent: true, wantErr: `input "env": got a JSON array, want an object`},
		{name: "bad env name", in: loom.Values{"command": []string{"true"}, "env": map[string]string{"A=B": "c"}}, permanent: true, wantErr: `input "env": invalid variable name "A=B"`},
		{name: "negative timeout", in: loom.Values{"command": []string{"true"}, "timeout": -1}, permanent: true, wantErr: `input "timeout"`},
		{name: "unknown key", in: loom.Values{"command": []string{"true"}, "evn": map[string]string{}}, permanent: true, wantErr: `exec: input: unknown key "evn"`},
		{name: "NUL in argument", in: loom.Values{"command": []string{"echo", "a\x00b"}}, permanent: true, wantErr: "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := run(t, t.Context(), execrt.New(execrt.Config{}), tt.in)
			if err == nil {
				t.Fatalf("Handle = %v, want an error", out)
			}
			if got := loom.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tt.permanent)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.wantExit != 0 {
				var exit *execrt.ExitError
				if !errors.As(err, &exit) || exit.Code != tt.wantExit {
					t.Errorf("error %v: want *ExitError with code %d", err, tt.wantExit)
				}
			}
		})
	}
}

func TestHandleTimeout(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, _, err := run(t, t.Context(), execrt.New(execrt.Config{}), loom.Values{"command": []string{"sleep", "30"}, "timeout": 0.1})
	if !errors.Is(err, loom.ErrTimeout) {
		t.Fatalf("error = %v, want one matching loom.ErrTimeout", err)
	}
	if loom.IsPermanent(err) {
		t.Errorf("a timeout must be retryable: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to time out", d)
	}
}

// TestCancelKillsProcessGroup starts a shell whose background child prints
// its pid, cancels the task, and checks that the child is gone too: once
// when the group stops on SIGTERM, once when it ignores SIGTERM and needs
// the SIGKILL after the grace period.
func TestCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
	}{
		{name: "stops on SIGTERM", script: "sleep 30 & echo $!; wait"},
		{name: "ignores SIGTERM", script: `trap "" TERM; sleep 30 & echo $!; wait; wait`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := execrt.New(execrt.Config{KillGrace: 200 * time.Millisecond})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			log := newAttemptLog()
			type result struct {
				out loom.Values
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := h.Handle(loom.ContextWithLogWriter(ctx, log), loom.Values{"command": []string{"sh", "-c", tt.script}})
				done <- result{out, err}
			}()
			pid, err := strconv.Atoi(log.firstLine(t))
			if err != nil {
				t.Fatalf("child pid: %v", err)
			}
			if !alive(pid) {
				t.Fatalf("child %d not running before cancel", pid)
			}
			cancel()
			var res result
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Handle did not return within 10s of cancel")
			}
			if !errors.Is(res.err, context.Canceled) {
				t.Errorf("error = %v, want context.Canceled", res.err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("child %d still running 5s after Handle returned", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// alive reports whether pid runs (a zombie waiting for a reaper does not).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesised command name.
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestNoLogWriter(t *testing.T) {
	t.Parallel()
	out, err := execrt.New(execrt.Config{}).Handle(t.Context(), loom.Values{"command": []string{"echo", "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if out["stdout"] != "hi\n" {
		t.Errorf("stdout = %q", out["stdout"])
	}
}

// streamLog records what each stream of an attempt's log receives, as
// the engine's attempt log keeps them.
type streamLog struct {
	mu     sync.Mutex
	stream string
	chunks *[]string
}

func (l *streamLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.chunks = append(*l.chunks, l.stream+":"+string(p))
	return len(p), nil
}

func (l *streamLog) Stream(name string) io.Writer {
	return &streamLog{stream: name, chunks: l.chunks}
}

// TestStderrOnItsStream checks that a command's stderr reaches the
// attempt's log as stderr and its stdout as stdout.
func TestStderrOnItsStream(t *testing.T) {
	t.Parallel()
	var chunks []string
	log := &streamLog{stream: loom.LogStdout, chunks: &chunks}
	h := execrt.New(execrt.Config{})
	out, err := h.Handle(loom.ContextWithLogWriter(context.Background(), log),
		loom.Values{"command": []string{"sh", "-c", "echo to-out; echo to-err >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if out["stdout"] != "to-out\n" {
		t.Errorf("output %v", out)
	}
	slices.Sort(chunks)
	if want := []string{"stderr:to-err\n", "stdout:to-out\n"}; !slices.Equal(chunks, want) {
		t.Errorf("log %q, want %q", chunks, want)
	}
}
