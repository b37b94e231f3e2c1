package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/client"
	"github.com/spf13/cobra"
)

// globals are the flags every client command shares.
type globals struct {
	server string
	json   bool
	// token is the API token to send; "" reads $LOOM_TOKEN (through
	// getenv), so that the token never shows as a flag default.
	token  string
	getenv func(string) string
}

func (m *Main) newRootCommand() *cobra.Command {
	g := &globals{getenv: m.Getenv}
	root := &cobra.Command{
		Use:   "loom",
		Short: "Durable tasks and flows: a server, its client, a flow runner",
		Long: `loom runs tasks and flows of tasks durably. Start a server with
'loom server', submit tasks to it with 'loom submit', and inspect them with
'loom tasks'. 'loom run' runs one flow file to completion without a server.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentVersion().String(),
	}
	root.SetVersionTemplate("loom {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	serverURL := client.DefaultBaseURL
	if env := m.Getenv("LOOM_SERVER"); env != "" {
		serverURL = env
	}
	root.PersistentFlags().StringVar(&g.server, "server", serverURL, "URL of the loom server (env LOOM_SERVER)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print raw JSON instead of text")
	root.PersistentFlags().StringVar(&g.token, "token", "", "API token to send (default $LOOM_TOKEN)")
	root.AddCommand(
		m.newServerCommand(),
		m.newSubmitCommand(g),
		m.newTasksCommand(g),
		m.newRunCommand(),
		m.newBenchCommand(),
		m.newWorkerCommand(),
		m.newWorkersCommand(g),
		m.newBackupCommand(),
		m.newPruneCommand(),
	)
	root.AddCommand(m.newSchedulesCommand(g), m.newTriggersCommand(g), m.newNotifiersCommand(g), m.newChecksCommand(g), m.newAlertsCommand(g), m.newEventCommand(g), m.newSignalCommand(g), m.newTokensCommand(g), m.newVersionCommand(g))
	return root
}

// exactArgs is cobra.ExactArgs whose error is a usageError.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// rangeArgs is cobra.RangeArgs whose error is a usageError.
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(lo, hi)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// inputArg picks the input given either as the optional positional
// argument after the first or with --input, not both.
func inputArg(args []string, flag string) (loom.Values, error) {
	if len(args) > 1 {
		if flag != "" {
			return nil, &usageError{fmt.Errorf("give the input as an argument or with --input, not both")}
		}
		if strings.TrimSpace(args[1]) == "" {
			return nil, nil
		}
		in, err := decodeInput(args[1])
		if err != nil {
			return nil, &usageError{fmt.Errorf("the input argument must be a JSON object, like '{\"name\": \"world\"}': %w", err)}
		}
		return in, nil
	}
	return parseInput(flag)
}

// parseInput reads a --input flag: a JSON object, or empty for none.
func parseInput(s string) (loom.Values, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	v, err := decodeInput(s)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--input must be a JSON object, like '{\"name\": \"world\"}': %w", err)}
	}
	return v, nil
}

// errNotObject is decodeInput's answer to JSON that is not one object.
var errNotObject = errors.New("not a single JSON object")

// decodeInput reads s as one JSON object, keeping numbers as written.
func decodeInput(s string) (loom.Values, error) {
	var v loom.Values
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() || v == nil {
		return nil, errNotObject
	}
	return v, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print JSON: %w", err)
	}
	return nil
}

// compactJSON renders v on one line for tables and summaries.
func compactJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
