package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/trigger"
)

// widest is the largest counted repetition of a class a pattern may hold.
func widest(t testing.TB) string {
	t.Helper()
	for n := trigger.MaxRegexpInsts; n > 0; n-- {
		p := fmt.Sprintf("[a-z]{%d}x", n)
		if _, err := trigger.Compile(`data.s matches "` + p + `"`); err == nil {
			return p
		}
	}
	t.Fatal("no repetition compiles")
	return ""
}

func TestMatchesPatternLimits(t *testing.T) {
	t.Parallel()
	// The pattern that costs 24 CPU-seconds on a megabyte is refused,
	// saying why.
	_, err := trigger.Compile(`data.s matches "[a-z]{1000}x"`)
	var se *trigger.SyntaxError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, 16, se.Column)
	require.Contains(t, se.Msg, "compiles to 1003 instructions, over the limit of 128")
	require.Contains(t, se.Msg, "counted repetition")

	_, err = trigger.Compile(`data.s matches "` + strings.Repeat("a", trigger.MaxRegexpLength+1) + `"`)
	require.ErrorContains(t, err, "513 bytes long, over the limit of 512")

	// Everyday patterns fit.
	for _, p := range []string{
		`^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$`,
		`^v[0-9]+\\.[0-9]+\\.[0-9]+(-rc[0-9]+)?$`,
		`(?i)^(error|fatal|panic):`,
		`@example\\.com$`,
	} {
		_, err := trigger.Compile(`data.s matches "` + p + `"`)
		require.NoError(t, err, p)
	}
	require.Len(t, widest(t), len("[a-z]{125}x"))
}

func TestMatchesInputLimit(t *testing.T) {
	t.Parallel()
	f := trigger.MustCompile(`data.s matches "^a+$"`)
	ok, err := f.Match(trigger.Event{Data: map[string]any{"s": strings.Repeat("a", trigger.MaxMatchInput)}})
	require.NoError(t, err)
	require.True(t, ok, "a string of the limit is matched")
	ok, err = f.Match(trigger.Event{Data: map[string]any{"s": strings.Repeat("a", trigger.MaxMatchInput+1)}})
	require.NoError(t, err)
	require.False(t, ok, "a longer string matches nothing")
}

func TestMatchesBudget(t *testing.T) {
	t.Parallel()
	p := widest(t)
	long := strings.Repeat("ab", trigger.MaxMatchInput/2)
	ev := trigger.Event{Data: map[string]any{"a": long, "b": long, "short": "abc"}}

	// One largest pattern on one longest string fits the budget.
	ok, err := trigger.MustCompile(`data.a matches "` + p + `"`).Match(ev)
	require.NoError(t, err)
	require.False(t, ok)

	// A second one does not: the evaluation stops before running it.
	f := trigger.MustCompile(`data.a matches "` + p + `" || data.b matches "` + p + `"`)
	ok, err = f.Match(ev)
	require.False(t, ok)
	require.ErrorIs(t, err, trigger.ErrBudget)
	var se *trigger.SyntaxError
	require.True(t, errors.As(err, &se))
	require.Equal(t, strings.LastIndex(f.String(), "matches")+1, se.Column, "the column of the second matches")

	// Short strings leave plenty.
	ok, err = trigger.MustCompile(`data.short matches "` + p + `" || data.short matches "b"`).Match(ev)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestMatchContextStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := trigger.MustCompile(`data.s matches "a"`).MatchContext(ctx, trigger.Event{Data: map[string]any{"s": "a"}})
	require.ErrorIs(t, err, context.Canceled)
	// A filter without matches has nothing long to stop.
	ok, err := trigger.MustCompile(`data.s == "a"`).MatchContext(ctx, trigger.Event{Data: map[string]any{"s": "a"}})
	require.NoError(t, err)
	require.True(t, ok)
}

// worstFilter is the costliest filter that compiles: as many of the
// largest patterns as fit in MaxFilterLength, each over its own string,
// and an event of a megabyte of such strings, none matching.
func worstFilter(b testing.TB) (*trigger.Filter, trigger.Event) {
	p := widest(b)
	data := map[string]any{}
	var parts []string
	for i := 0; ; i++ {
		part := fmt.Sprintf(`data.s%d matches "%s"`, i, p)
		if len(strings.Join(append(parts, part), " || ")) > trigger.MaxFilterLength {
			break
		}
		parts = append(parts, part)
		data[fmt.Sprintf("s%d", i)] = strings.Repeat("ab", trigger.MaxMatchInput/2)
	}
	for i := len(parts); i < 16; i++ { // fill the event to 1 MB
		data[fmt.Sprintf("s%d", i)] = strings.Repeat("ab", trigger.MaxMatchInput/2)
	}
	return trigger.MustCompile(strings.Join(parts, " || ")), trigger.Event{Type: "t", Data: data}
}

// BenchmarkWorstFilter measures the most one event can cost: the budget
// stops the evaluation after one largest pattern against one longest
// string (about 8 Mi steps of Go's regexp engine, some 0.1 s on a laptop),
// where unbounded it would be tens of CPU-seconds.
func BenchmarkWorstFilter(b *testing.B) {
	f, ev := worstFilter(b)
	for b.Loop() {
		_, err := f.Match(ev)
		if !errors.Is(err, trigger.ErrBudget) {
			b.Fatalf("want ErrBudget, got %v", err)
		}
	}
}
