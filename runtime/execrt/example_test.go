package execrt_test

import (
	"context"
	"fmt"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/execrt"
)

// The exec runtime runs a command and returns its exit code and stdout.
func ExampleHandler_Handle() {
	h := execrt.New(execrt.Config{})
	out, err := h.Handle(context.Background(), loom.Values{
		"command": []string{"sh", "-c", `echo "hello, $WHO"`},
		"env":     map[string]string{"WHO": "loom"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v %q\n", out["exit_code"], out["stdout"])
	// Output: 0 "hello, loom\n"
}
