package flowfile_test

import (
	"fmt"

	"github.com/loomhq/loom/flowfile"
)

// A mistake in a flow file is reported with the file, the line and the
// step, the way a compiler reports one.
func ExampleParse() {
	_, err := flowfile.Parse("etl.yaml", []byte(`name: etl
inputs: [source]
steps:
  - name: fetch
    http: {url: "https://example.com/{{.source}}"}
    provides: {body: raw}
  - name: transform
    exec: [sh, -c, 'printf "%s" "$PAYLOAD" | wc -c']
    requires: {payload: raw2}
`))
	fmt.Println(err)
	// Output: etl.yaml:9: step "transform": requires key "raw2" is not provided by any earlier step or flow input
}
