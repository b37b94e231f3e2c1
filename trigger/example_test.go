package trigger_test

import (
	"fmt"

	"github.com/loomhq/loom/trigger"
)

func Example() {
	f := trigger.MustCompile(`type == "order.created" && data.total > 100 && data.tags contains "vip"`)
	m := trigger.Mapping{"order_id": "data.order.id", "email": "data.customer.email"}

	ev := trigger.Event{Type: "order.created", Data: map[string]any{
		"total":    250.0,
		"tags":     []any{"vip"},
		"order":    map[string]any{"id": "o-17"},
		"customer": map[string]any{"email": "ann@example.com"},
	}}
	ok, err := f.Match(ev)
	fmt.Println(ok, err)
	input, err := m.Apply(ev)
	fmt.Println(input, err)

	_, err = trigger.Compile(`data.total => 100`)
	fmt.Println(err)
	// Output:
	// true <nil>
	// map[email:ann@example.com order_id:o-17] <nil>
	// trigger filter: column 12: unexpected character '=' (use == to compare)
}
