package trigger_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/trigger"
)

func TestMappingApply(t *testing.T) {
	t.Parallel()
	ev := order(t)
	m := trigger.Mapping{
		"kind":     "type",
		"amount":   "data.amount",
		"email":    "data.user.email",
		"first":    "data.items[0].sku",
		"second":   `data["items"][1]`,
		"odd":      `data["odd key"]`,
		"tags":     "data.tags",
		"note":     "data.note",
		"everyone": "data.user",
	}
	require.NoError(t, m.Validate())
	got, err := m.Apply(ev)
	require.NoError(t, err)
	require.Equal(t, loom.Values{
		"kind":     "order.created",
		"amount":   250.5,
		"email":    "ann@example.com",
		"first":    "A-1",
		"second":   map[string]any{"sku": "B-2", "qty": float64(1)},
		"odd":      "yes",
		"tags":     []any{"vip", "repeat"},
		"note":     nil,
		"everyone": map[string]any{"email": "ann@example.com", "name": "Ann"},
	}, got)

	// The input is a copy: changing it leaves the event alone.
	got["tags"].([]any)[0] = "changed"
	got["everyone"].(map[string]any)["name"] = "Bob"
	require.Equal(t, "vip", ev.Data["tags"].([]any)[0])
	require.Equal(t, "Ann", ev.Data["user"].(map[string]any)["name"])
}

func TestMappingMissingPath(t *testing.T) {
	t.Parallel()
	ev := order(t)
	tests := []struct {
		path, want string
	}{
		{"data.order.id", `mapping "id": event has no value at path data.order.id (no data.order)`},
		{"data.user.phone", `(no data.user.phone)`},
		{"data.items[5].sku", `(no data.items[5])`},
		{"data.amount.cents", `(no data.amount.cents)`},
		{`data["no such"]`, `(no data["no such"])`},
	}
	for _, tt := range tests {
		_, err := trigger.Mapping{"id": tt.path}.Apply(ev)
		require.Error(t, err, tt.path)
		require.True(t, errors.Is(err, trigger.ErrMissingPath))
		require.Contains(t, err.Error(), tt.want)
	}
}

func TestMappingValidate(t *testing.T) {
	t.Parallel()
	err := trigger.Mapping{"a": "data.x", "b": "data.", "c": "order.id", "d": "data.x == 1"}.Validate()
	require.Error(t, err)
	for _, want := range []string{`mapping "b": path "data.": column 6`, `mapping "c": path "order.id": column 1: unknown name "order"`, `mapping "d"`} {
		require.Contains(t, err.Error(), want)
	}
	require.NotContains(t, err.Error(), `mapping "a"`)
	_, err = trigger.Mapping{"b": "data."}.Apply(order(t))
	require.Error(t, err)
}
