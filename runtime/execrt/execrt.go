// Package execrt is the exec runtime: the built-in task type "exec", which
// runs a command as a task. Its input names the command and how to run it:
//
//	{"command": ["prog", "arg", ...], "env": {"K": "V"}, "dir": "/work",
//	 "stdin": "text fed to the command", "timeout": 30}
//
// The command runs directly (no shell: wrap it in ["sh", "-c", "..."] for
// one), in its own process group, with the parent's environment plus env.
// Its stdout and stderr, interleaved as written, are the attempt's log,
// each on its own stream (loom.LogStream). Its output is {"exit_code": 0, "stdout": "..."}, stdout
// cut to its last Config.MaxOutput bytes.
//
// A command tells how far it has got with a line on stdout of the form
//
//	::progress DONE/TOTAL message
//	::progress DONE message
//
// (DONE and TOTAL whole numbers, TOTAL left out when unknown, the message
// optional): the engine keeps it as the task's progress, as if the handler
// had called loom.ReportProgress. Such lines stay in the log and the
// output like any other; a malformed one is only output.
//
// Exit code 0 completes the task; any other exit code fails the attempt with
// an *ExitError, which the task's retry policy may retry. Input the handler
// cannot run (no command, unknown keys, wrong types, a program that does not
// exist or cannot be executed) fails with a loom.Permanent error: trying
// again would not help. When the task's context is cancelled or the input's
// timeout passes, the whole process group gets SIGTERM, then SIGKILL after
// Config.KillGrace, so that no grandchild outlives the task.
package execrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/internal/strict"
)

// TypeName is the task type this runtime is registered under, so a task or
// flow step of type "exec" runs a command on any worker that has it (a
// loom server or worker only with --allow-exec or --allow-exec-command).
const TypeName = "exec"

// Defaults for Config's zero values.
const (
	// DefaultMaxOutput is how much of a command's stdout its output keeps:
	// enough for a result, small enough to store with every task.
	DefaultMaxOutput = 64 << 10
	// DefaultKillGrace is how long a cancelled command has to exit after
	// SIGTERM before its process group is killed.
	DefaultKillGrace = 5 * time.Second
)

// Config configures a Handler. Zero values mean the defaults stated on each
// field.
type Config struct {
	// MaxOutput is how many trailing bytes of stdout are returned as the
	// "stdout" output; earlier bytes are only in the log. Default
	// DefaultMaxOutput (64 KiB).
	MaxOutput int
	// KillGrace is how long a cancelled or timed-out command may take to
	// exit after SIGTERM before its process group gets SIGKILL. Default
	// DefaultKillGrace (5 seconds).
	KillGrace time.Duration
	// Allow, when set, is the only commands the handler runs: any other
	// fails permanently, wrapping ErrNotAllowed. Default: any command.
	Allow *Allowlist
}

// withDefaults is the one place Config's defaults are filled in.
func (c Config) withDefaults() Config {
	if c.MaxOutput <= 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.KillGrace <= 0 {
		c.KillGrace = DefaultKillGrace
	}
	return c
}

// Handler runs the command its input names; see the package documentation
// for the input, the output and how failures are classified. It is safe for
// concurrent use: each call runs its own process.
type Handler struct {
	cfg Config
}

var _ loom.Handler = (*Handler)(nil)

// New returns a Handler configured by cfg.
func New(cfg Config) *Handler {
	return &Handler{cfg: cfg.withDefaults()}
}

// Input is the input of an exec task, for Go code that builds one (see
// Values) and for validating one (see ParseInput).
type Input struct {
	// Command is the program and its arguments. Required. A program without
	// a slash is looked up in $PATH.
	Command []string `json:"command"`
	// Env holds variables set on top of the parent's environment,
	// replacing variables of the same name.
	Env map[string]string `json:"env,omitempty"`
	// Dir is the working directory. Default: the worker's.
	Dir string `json:"dir,omitempty"`
	// Stdin, when set, is written to the command's standard input.
	// Default: empty input.
	Stdin *string `json:"stdin,omitempty"`
	// Timeout bounds the command, in seconds; zero means no bound beyond
	// the task's own timeout.
	Timeout float64 `json:"timeout,omitempty"`
}

// ParseInput decodes and checks an exec task's input. Unknown keys and
// wrong types are errors, so that a misspelt "evn" fails loudly.
func ParseInput(v loom.Values) (Input, error) {
	var in Input
	if err := strict.Decode(v, &in); err != nil {
		return Input{}, err
	}
	return in, in.validate()
}

func (in Input) validate() error {
	if len(in.Command) == 0 || in.Command[0] == "" {
		return errors.New(`input "command": a non-empty list starting with the program is required`)
	}
	for i, arg := range in.Command {
		if strings.IndexByte(arg, 0) >= 0 {
			return fmt.Errorf(`input "command": argument %d contains a NUL byte`, i)
		}
	}
	for k, v := range in.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf(`input "env": invalid variable name %q`, k)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf(`input "env": variable %q contains a NUL byte`, k)
		}
	}
	if in.Timeout < 0 || math.IsNaN(in.Timeout) || in.Timeout > math.MaxInt64/float64(time.Second) {
		return fmt.Errorf(`input "timeout": %v is not a number of seconds >= 0`, in.Timeout)
	}
	return nil
}

// Values returns in as the loom.Values a task of type exec takes.
func (in Input) Values() loom.Values {
	raw, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("execrt: encoding Input: %v", err)) // cannot happen: every field encodes
	}
	var v loom.Values
	if err := json.Unmarshal(raw, &v); err != nil {
		panic(fmt.Sprintf("execrt: decoding Input: %v", err))
	}
	return v
}

// ExitError is the error of a command that exited with a non-zero code. It
// is not permanent: a retry policy retries it like any other failure.
type ExitError struct {
	// Code is the command's exit code.
	Code int
}

// Error reads like os/exec's, "exit status 3", so logs look familiar.
func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Handle runs the command described by v and waits for it.
func (h *Handler) Handle(ctx context.Context, v loom.Values) (loom.Values, error) {
	in, err := ParseInput(v)
	if err != nil {
		return nil, loom.Permanent(fmt.Errorf("exec: %w", err))
	}
	if h.cfg.Allow != nil {
		if err := h.cfg.Allow.Check(in); err != nil {
			return nil, loom.Permanent(fmt.Errorf("exec: %w", err))
		}
	}
	prog := in.Command[0]

	runCtx := ctx
	if in.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, time.Duration(in.Timeout*float64(time.Second)))
		defer cancel()
	}

	cmd := exec.CommandContext(runCtx, prog, in.Command[1:]...)
	if cmd.Err != nil {
		return nil, startError(prog, cmd.Err)
	}
	cmd.Env = environ(in.Env)
	cmd.Dir = in.Dir
	if in.Stdin != nil {
		cmd.Stdin = strings.NewReader(*in.Stdin)
	}
	out := &capture{tail: tailBuffer{max: h.cfg.MaxOutput}, lines: progressLines{ctx: ctx}}
	cmd.Stdout = streamWriter{c: out, log: loom.LogStream(ctx, loom.LogStdout), keep: true}
	cmd.Stderr = streamWriter{c: out, log: loom.LogStream(ctx, loom.LogStderr)}
	grp := &group{grace: h.cfg.KillGrace}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return grp.terminate(cmd.Process.Pid) }
	// Once the process has exited or been signalled, give its pipes this
	// long before closing them: a background grandchild holding stdout must
	// not hold the task forever.
	cmd.WaitDelay = h.cfg.KillGrace + time.Second

	if err := cmd.Start(); err != nil {
		return nil, startError(prog, err)
	}
	waitErr := cmd.Wait()
	stopped := grp.done(cmd.Process.Pid)

	var exitErr *exec.ExitError
	switch {
	case stopped && ctx.Err() != nil:
		return nil, fmt.Errorf("exec %q: %w", prog, ctx.Err())
	case stopped:
		return nil, fmt.Errorf("exec %q: timed out after %gs: %w", prog, in.Timeout, loom.ErrTimeout)
	case waitErr == nil, errors.Is(waitErr, exec.ErrWaitDelay):
		// ErrWaitDelay means the command itself succeeded but something it
		// started kept its output open; the command's result stands.
		return loom.Values{"exit_code": 0, "stdout": out.stdout()}, nil
	case errors.As(waitErr, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return nil, fmt.Errorf("exec %q: killed by signal %s", prog, ws.Signal())
		}
		return nil, fmt.Errorf("exec %q: %w", prog, &ExitError{Code: exitErr.ExitCode()})
	default:
		return nil, fmt.Errorf("exec %q: %w", prog, waitErr)
	}
}

// startError classifies an error starting prog: a program that is missing
// or cannot be executed, or a missing directory, is permanent; anything else
// (out of processes, out of memory) may pass and is retried.
func startError(prog string, err error) error {
	err = fmt.Errorf("exec %q: cannot start: %w", prog, err)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) ||
		errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.ENOTDIR) {
		return loom.Permanent(err)
	}
	return err
}

// environ returns the parent's environment with env set on top, in a
// stable order.
func environ(env map[string]string) []string {
	out := os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k]) // os/exec keeps the last of duplicate names
	}
	return out
}

// group signals a command's process group: SIGTERM when the task is
// cancelled, SIGKILL once the grace period has passed.
type group struct {
	grace time.Duration
	mu    sync.Mutex
	kill  *time.Timer // armed by terminate: the group was told to stop
}

// terminate is the command's Cancel: it asks the whole group to stop and
// arms the SIGKILL.
func (g *group) terminate(pgid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.kill == nil {
		g.kill = time.AfterFunc(g.grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return fmt.Errorf("signalling process group %d: %w", pgid, err)
	}
	return nil
}

// done runs once the command was reaped and reports whether it had been
// told to stop. If so it kills what is left of the group at once, so that a
// child ignoring SIGTERM does not outlive the task.
func (g *group) done(pgid int) (stopped bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.kill == nil {
		return false
	}
	g.kill.Stop()
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // ESRCH: the group is already gone
	return true
}

// capture receives a command's stdout and stderr: both go to the attempt's
// log, each on its own stream, in the order they arrive, and stdout's tail
// is kept for the output.
type capture struct {
	mu    sync.Mutex
	tail  tailBuffer
	lines progressLines
}

func (c *capture) stdout() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tail.String()
}

// streamWriter is one of a command's two streams into a capture.
type streamWriter struct {
	c    *capture
	log  io.Writer
	keep bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	// The log is best effort: a log that cannot be written must not fail
	// (or SIGPIPE) the command.
	_, _ = w.log.Write(p)
	if w.keep {
		w.c.tail.Write(p)
		w.c.lines.Write(p)
	}
	return len(p), nil
}

// ProgressPrefix begins a stdout line that reports progress.
const ProgressPrefix = "::progress "

// maxProgressLine bounds the line a progress report may be: a longer line
// is output, not progress, and is not held in memory to find out.
const maxProgressLine = 512

// progressLines splits stdout into lines and reports those that are
// progress reports to loom.ReportProgress.
type progressLines struct {
	ctx  context.Context
	line []byte
	// skip is set while the rest of a line too long to be a report goes by.
	skip bool
}

func (l *progressLines) Write(p []byte) {
	for len(p) > 0 {
		i := slices.Index(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !l.skip {
			if len(l.line)+len(chunk) > maxProgressLine {
				l.skip, l.line = true, l.line[:0]
			} else {
				l.line = append(l.line, chunk...)
			}
		}
		if i < 0 {
			return
		}
		if !l.skip {
			if done, total, msg, ok := ParseProgressLine(string(l.line)); ok {
				loom.ReportProgress(l.ctx, done, total, msg)
			}
		}
		l.line, l.skip = l.line[:0], false
		p = p[i+1:]
	}
}

// ParseProgressLine reads a stdout line of the form "::progress DONE/TOTAL
// message" or "::progress DONE message" (see the package documentation);
// ok is false when line is not one.
func ParseProgressLine(line string) (done, total int64, msg string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimRight(line, "\r"), ProgressPrefix)
	if !found {
		return 0, 0, "", false
	}
	rest = strings.TrimLeft(rest, " ")
	count, msg, _ := strings.Cut(rest, " ")
	ds, ts, hasTotal := strings.Cut(count, "/")
	done, err := strconv.ParseInt(ds, 10, 64)
	if err != nil || done < 0 {
		return 0, 0, "", false
	}
	if hasTotal {
		if total, err = strconv.ParseInt(ts, 10, 64); err != nil || total < 0 {
			return 0, 0, "", false
		}
	}
	return done, total, strings.TrimSpace(msg), true
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) {
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.cut = true
		return
	}
	t.buf = append(t.buf, p...)
	// Compact only once twice the limit is held, so that many small writes
	// cost amortised O(1) each.
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
}

// String returns the kept bytes, starting at a whole UTF-8 character when
// the beginning was cut.
func (t *tailBuffer) String() string {
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
		t.cut = true
	}
	if t.cut {
		for i := 0; i < 3 && len(b) > 0 && b[0]&0xC0 == 0x80; i++ {
			b = b[1:]
		}
	}
	return string(b)
}
