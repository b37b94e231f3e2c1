// Command loom is loom's one binary: the server (API, embedded workers,
// reaper), a client of it (submit, tasks), an in-process flow runner (run)
// and the engine benchmark (bench). Run `loom --help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/loomhq/loom/client"
	"github.com/loomhq/loom/internal/errtext"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := NewMain()
	err := m.ParseFlags(ctx, os.Args[1:])
	if err == nil {
		err = m.Run(ctx)
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	os.Exit(exitCode(m.Stderr, err))
}

// Main is the program: the command line parsed into a command, run, and the
// resources it opened closed. main and the end-to-end tests drive it the
// same way: ParseFlags, Run, Close.
type Main struct {
	// Stdout and Stderr are where output and diagnostics go. Default the
	// process's.
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (LOOM_SERVER). Default os.Getenv.
	Getenv func(string) string

	root    *cobra.Command
	closers []func() error
}

// NewMain returns a Main writing to the process's stdout and stderr.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// ParseFlags builds the command tree for args (without the program name).
// The chosen command's flags are parsed and checked when Run executes it,
// as cobra parses and runs in one step.
func (m *Main) ParseFlags(_ context.Context, args []string) error {
	m.root = m.newRootCommand()
	m.root.SetArgs(args)
	m.root.SetOut(m.Stdout)
	m.root.SetErr(m.Stderr)
	return nil
}

// Run executes the command ParseFlags chose until it ends or ctx is done;
// a long-running command (server) shuts down gracefully when ctx is done.
func (m *Main) Run(ctx context.Context) error {
	if m.root == nil {
		return errors.New("loom: Run before ParseFlags")
	}
	return m.root.ExecuteContext(ctx)
}

// Close releases what Run opened and did not release itself (a store left
// open by a failed start), newest first.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// onClose registers f for Close.
func (m *Main) onClose(f func() error) { m.closers = append(m.closers, f) }

// exitError ends the program with code, its message already shown (a
// submitted task that failed).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError is a command line loom cannot make sense of.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitCode reports err on stderr and returns the exit status: 0 for
// success, 2 for a bad command line, the code of an exitError, else 1.
func exitCode(stderr io.Writer, err error) int {
	var (
		exit  *exitError
		usage *usageError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "loom: %s\nRun 'loom --help' for usage.\n", errtext.Clean(err.Error()))
		return 2
	case client.IsCode(err, "unauthorized"):
		fmt.Fprintf(stderr, "loom: %s\n%s\n", errtext.Clean(err.Error()), tokenHint)
		return 1
	default:
		fmt.Fprintf(stderr, "loom: %s\n", errtext.Clean(err.Error()))
		return 1
	}
}
