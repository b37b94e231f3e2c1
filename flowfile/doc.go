// Package flowfile reads flows declared in YAML files, so that a flow of
// commands and HTTP calls needs no Go code, and a flow of registered task
// types needs none beyond the tasks themselves. A file declares one flow:
//
//	name: etl                   # required; the task type the flow runs as
//	description: nightly import # optional, for people
//	inputs: [source]            # the keys a caller passes in
//	timeout: 10m                # optional bound on a whole run
//	schedule: "*/5 * * * *"     # optional cron expression, kept as written
//	steps:
//	  - name: fetch
//	    http: {method: GET, url: "https://example.com/{{.source}}"}
//	    provides: {body: raw}   # step output -> flow key
//	    retry: {max_attempts: 3, initial_delay: 1s, backoff_factor: 2, max_delay: 1m, jitter: 0.1}
//	    timeout: 30s
//	  - name: transform
//	    exec: ["sh", "-c", "echo transformed"]
//	    requires: {payload: raw}  # step input <- flow key
//	    depends_on: [fetch]
//	  - name: each
//	    type: process-item        # a task type the Resolver knows
//	    input: {mode: fast}       # static input, merged under requires
//	    requires: {items: list}
//	    fan_out: {over: items, as: item, parallelism: 4, on_failure: continue}
//
// A step runs exactly one of:
//
//   - exec: a command list, or a mapping {command, env, dir, stdin, timeout}
//     (see package execrt; timeout is seconds or a duration like 30s);
//   - http: a mapping {method, url, headers, body, timeout} (package httprt);
//   - type: a task type, found through the Resolver given to Build, with
//     static input from "input:".
//
// Strings in an exec step's command, env, dir and stdin and in an http
// step's url, header values and body are text/template templates rendered
// at run time against the step's input: {{.name}} is the input name, an
// input missing at run time is an error, and {{json .name}} renders a value
// as JSON. A step's inputs are its requires keys (or, without requires, the
// flow's inputs), its static input keys and its fan-out item; Parse rejects
// templates that use anything else.
//
// A requires entry must name a flow input or a key an earlier step in the
// file provides. Durations are Go durations ("90s", "5m", "1h30m").
// Unknown fields are errors at every level. Every error is an *Error naming
// the file, the line and the step:
//
//	etl.yaml:12: step "transform": requires key "raw2" is not provided by any earlier step or flow input
package flowfile
