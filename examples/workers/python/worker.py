#!/usr/bin/env python3
"""A loom worker in Python, over the HTTP worker protocol, with only the
standard library.

It claims tasks of the queues a loom server leaves to HTTP workers
(loom server --http-queue QUEUE), runs the handler registered for each
task's type, heartbeats the lease of every task it runs, appends the
handler's log lines to the task's log, and reports the result. Every call
about a task carries the task's lease token; the server answers 409 when
the attempt is no longer this worker's (its lease lapsed, say while this
process was paused, and the task was handed to another worker), and then
nothing this worker says about it is recorded.

    python3 worker.py --url http://127.0.0.1:7070 --queue py --concurrency 4

The token of a `loom tokens create --role worker` goes in --token or
$LOOM_TOKEN. SIGINT or SIGTERM stop claiming, let running tasks finish and
exit. See docs/worker-protocol.md for the protocol.
"""

import argparse
import datetime
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

HANDLERS = {}


def handler(task_type):
    """Registers a function as the handler of task_type. It is called as
    fn(input, log) with the task's input (a dict) and a log(line) function,
    and returns the output (a dict). Raising PermanentError fails the task
    for good; any other exception fails the attempt, retried as the task's
    max_attempts allows."""

    def register(fn):
        HANDLERS[task_type] = fn
        return fn

    return register


class PermanentError(Exception):
    """A failure no retry can help."""


class StaleLease(Exception):
    """The server answered 409: the attempt is no longer this worker's."""


class Client:
    """Calls the server's /api/v1/workers routes."""

    def __init__(self, url, token):
        self.base = url.rstrip("/") + "/api/v1/workers"
        self.token = token

    def call(self, path, body, timeout=30):
        data = json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method="POST")
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            if e.code == 409:
                raise StaleLease(detail) from None
            raise RuntimeError("POST %s: HTTP %d: %s" % (path, e.code, detail)) from None


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def say(*args):
    print(*args, file=sys.stderr, flush=True)


class Worker:
    def __init__(self, client, worker_id, queues, concurrency, wait_ms):
        self.client = client
        self.worker_id = worker_id
        self.queues = queues
        self.concurrency = concurrency
        self.wait_ms = wait_ms
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.running = {}  # task id -> lease token
        self.lease_ms = 30000

    def run(self):
        beat = threading.Thread(target=self.heartbeat, daemon=True)
        beat.start()
        threads = []
        while not self.stopping.is_set():
            with self.lock:
                free = self.concurrency - len(self.running)
            if free <= 0:
                time.sleep(0.05)
                continue
            try:
                answer = self.client.call(
                    "/claim",
                    {
                        "worker_id": self.worker_id,
                        "hostname": socket.gethostname(),
                        "queues": self.queues,
                        "max": free,
                        "wait_ms": self.wait_ms,
                    },
                    timeout=self.wait_ms / 1000 + 30,
                )
            except Exception as e:  # the server is away: try again soon
                if not self.stopping.is_set():
                    say("claim failed:", e)
                    time.sleep(1)
                continue
            self.lease_ms = answer.get("lease_ms") or self.lease_ms
            for task in answer["tasks"]:
                with self.lock:
                    self.running[task["id"]] = task["lease"]
                t = threading.Thread(target=self.run_task, args=(task,))
                t.start()
                threads.append(t)
            threads = [t for t in threads if t.is_alive()]
        for t in threads:
            t.join()
        say("stopped")

    def heartbeat(self):
        """Extends the lease of every running task a few times per lease."""
        last = time.monotonic()
        while True:
            # A third of the lease, as the latest claim said it lasts.
            time.sleep(0.05)
            if time.monotonic() - last < self.lease_ms / 3000:
                continue
            last = time.monotonic()
            with self.lock:
                leases = list(self.running.items())
            for task_id, lease in leases:
                try:
                    self.client.call("/tasks/%s/heartbeat" % task_id, {"lease": lease})
                except StaleLease as e:
                    say("task %s: lease lost (409): %s" % (task_id, e))
                except Exception as e:
                    say("task %s: heartbeat failed: %s" % (task_id, e))

    def run_task(self, task):
        task_id, lease = task["id"], task["lease"]
        attempt = task["attempt"]

        def log(line):
            try:
                self.client.call("/tasks/%s/logs" % task_id, {"lease": lease, "data": line + "\n"})
            except StaleLease:
                pass  # the attempt is no longer ours; the result will say so

        started = now()
        path, body = "/complete", {"lease": lease, "started": started}
        try:
            fn = HANDLERS.get(task["type"])
            if fn is None:
                raise PermanentError("no handler for task type %r in this worker" % task["type"])
            output = fn(task.get("input") or {}, log)
            body.update(output=output or {}, msg="done by %s" % self.worker_id)
        except Exception as e:
            path = "/fail"
            body.update(error="%s: %s" % (type(e).__name__, e), permanent=isinstance(e, PermanentError))
        body["ended"] = now()
        try:
            answer = self.client.call("/tasks/%s%s" % (task_id, path), body)
            say("task %s attempt %d: %s recorded, status %s" % (task_id, attempt, path[1:], answer["status"]))
        except StaleLease as e:
            # Paused or cut off past the lease: the task was handed to
            # another worker, and this late result is refused.
            say("task %s attempt %d: result refused (409): %s" % (task_id, attempt, e))
        except Exception as e:
            say("task %s attempt %d: result not delivered: %s" % (task_id, attempt, e))
        finally:
            with self.lock:
                self.running.pop(task_id, None)


# Example handlers.


@handler("py.add")
def add(inp, log):
    total = sum(inp.get("numbers", []))
    log("adding %d numbers" % len(inp.get("numbers", [])))
    return {"sum": total}


@handler("py.sleep")
def sleep(inp, log):
    log("sleeping %s s" % inp.get("seconds", 1))
    time.sleep(float(inp.get("seconds", 1)))
    return {"slept": inp.get("seconds", 1), "pid": os.getpid()}


@handler("py.fail")
def fail(inp, log):
    raise PermanentError(inp.get("reason", "failing on purpose"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=os.environ.get("LOOM_URL", "http://127.0.0.1:7070"), help="the loom server")
    p.add_argument("--token", default=os.environ.get("LOOM_TOKEN", ""), help="an API token of role worker")
    p.add_argument("--queue", action="append", help="queue to serve (repeatable; default py)")
    p.add_argument("--concurrency", type=int, default=4, help="tasks run at once")
    p.add_argument("--worker-id", default="%s-py-%d" % (socket.gethostname(), os.getpid()))
    p.add_argument("--wait-ms", type=int, default=20000, help="how long a claim waits for work")
    args = p.parse_args()
    w = Worker(Client(args.url, args.token), args.worker_id, args.queue or ["py"], args.concurrency, args.wait_ms)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: w.stopping.set())
    say("python worker %s started on %s, queues %s" % (args.worker_id, args.url, ",".join(w.queues)))
    w.run()


if __name__ == "__main__":
    main()
