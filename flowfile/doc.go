// Package flowfile reads flows declared in YAML files, so that a flow of
// commands and HTTP calls needs no Go code, and a flow of registered task
// types needs none beyond the tasks themselves. A file declares one flow:
//
//	name: etl                   # required; the task type the flow runs as
//	description: nightly import # optional, for people
//	inputs: [source]            # the keys a caller passes in
//	timeout: 10m                # optional bound on a whole run
//	schedule:                   # optional: one schedule, or a list of them
//	  cron: "30 2 * * *"        # 5 or 6 fields, @daily, @every 10m...
//	  timezone: Europe/Berlin   # IANA zone; default UTC
//	  overlap: skip             # skip (default), queue or allow
//	  catchup: run_all          # or {mode: run_all, limit: 5}; default run_once
//	  jitter: 30s               # delay each run by up to this
//	  grace: 1m                 # how late a run still counts as on time
//	  input: {source: nightly}  # every flow input, for each run
//	allow_exec: ["echo ..."]    # optional: commands submitted exec tasks may run
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
//	  - name: boxed
//	    docker: {image: "alpine:3", command: [sh, -c, "cat > /loom/output.json"], pull: never}
//	    requires: {payload: raw}  # reaches the container as {"payload": ...}
//	    provides: {output: parsed}
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
//   - docker: a mapping {image, command, env, workdir, mounts, cpus,
//     memory, network, user, pull, timeout} (package dockerrt), run by the
//     Resolver's "docker" type, which a server or worker has only with
//     --allow-docker: Build fails with ErrNoDocker otherwise. What the step
//     receives reaches the container as JSON on stdin, in $LOOM_INPUT and
//     in /loom/input.json; its outputs are stdout, exit_code and output,
//     the JSON the command wrote to /loom/output.json, else the last line
//     of stdout when that is JSON. mounts ("/host:/ctr" or "/host:/ctr:ro")
//     bind only what the server allows (--allow-docker-mount), network is
//     "none" unless --allow-docker-network, and pull is never (default),
//     missing or always;
//   - type: a task type, found through the Resolver given to Build, with
//     static input from "input:".
//
// Strings in an exec step's command, env, dir and stdin, in an http step's
// url, header values and body, and in a docker step's image, command, env,
// workdir and user are text/template templates rendered
// at run time against the step's input: {{.name}} is the input name, an
// input missing at run time is an error, and {{json .name}} renders a value
// as JSON. A step's inputs are its requires keys (or, without requires, the
// flow's inputs), its static input keys and its fan-out item; Parse rejects
// templates that use anything else.
//
// A schedule may also be a cron expression alone (for a flow without
// inputs). Its name defaults to the flow's name, or "<flow>-<n>" when the
// file lists several; give name: to choose one. `loom server --flows`
// creates each schedule on start, or updates its definition on a later
// start while keeping its cursor and last run (and whether it was paused),
// so that a restart neither repeats nor loses a run; `loom run` ignores
// schedules. The cron expression and time zone are checked here, and the
// error names the flow:
//
//	etl.yaml:9: flow "etl": schedule.cron: invalid schedule expression "61 * * * *": ...
//
// allow_exec lists command patterns in the form of package execrt's
// Allowlist (and of `loom server --allow-exec-command`): words where "*"
// matches any characters and "?" one, and a last word "..." any further
// arguments. It concerns tasks submitted on their own, not the file's
// steps: `loom server --flows` and `loom worker --flows` admit and run a
// submitted exec task whose command matches a pattern of any of their flow
// files or of --allow-exec-command (with --allow-exec, any command runs);
// `loom run` ignores it. Each pattern is checked here, on its line:
//
//	tools.yaml:4: allow_exec: "...": a pattern needs the program's name
//
// A requires entry must name a flow input or a key an earlier step in the
// file provides. A provides entry must name an output the step has: an
// exec step outputs stdout and exit_code, an http step status, headers and
// body, a docker step stdout, exit_code and output, a fan-out step results, errors and failed; a type step's outputs
// are its task's own and are not checked. Durations are Go durations ("90s", "5m", "1h30m").
// Unknown fields are errors at every level. Every error is an *Error naming
// the file, the line and the step:
//
//	etl.yaml:12: step "transform": requires key "raw2" is not provided by any earlier step or flow input
package flowfile
