"""A stand-in for the Lambda Runtime API, to run the rotation function's real binary.

    .venv/bin/python tests/tailscale/lambda_runtime.py --events EVENTS.json
    # prints: LAMBDA_RUNTIME_READY 127.0.0.1:<port>   (the value for AWS_LAMBDA_RUNTIME_API)
    # then, once every event is answered: LAMBDA_RUNTIME_DONE [{"request_id", "ok", "body"}, ...]

Lambda hands a custom runtime (`provided.al2023`) its invocations over HTTP: the runtime
asks `GET /2018-06-01/runtime/invocation/next` and answers
`POST /2018-06-01/runtime/invocation/<request id>/response` or `.../error`. This server
hands out the events of EVENTS.json one after the other, as Secrets Manager would invoke
the function for each rotation step, and exits after the last answer, so a test can run
`govctl-tailscale-rotation` itself. It logs nothing but those two lines (the answers
hold step results and error messages, never a key).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime/"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:govctl-tailscale-rotation"


class Runtime:
    def __init__(self, events: list[Any]):
        self.events = events
        self.next = 0
        self.answers: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.done = threading.Event()


def handler(runtime: Runtime) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            if self.path != PREFIX + "invocation/next":
                return self.reply(404, {"errorMessage": "unknown path"})
            with runtime.lock:
                index = runtime.next
                runtime.next += 1
            if index >= len(runtime.events):
                runtime.done.wait(30)  # as Lambda does, hold the runtime until it is frozen
                return self.reply(500, {"errorMessage": "no more invocations"})
            body = json.dumps(runtime.events[index]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", f"request-{index}")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
            self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-00000000-{index:024d}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = self.path[len(PREFIX):].split("/")
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                with runtime.lock:
                    runtime.answers.append(
                        {"request_id": parts[1], "ok": parts[2] == "response", "body": raw.decode("utf-8", "replace")}
                    )
                    if len(runtime.answers) == len(runtime.events):
                        runtime.done.set()
                return self.reply(202, {"status": "OK"})
            if parts[:2] == ["init", "error"]:
                with runtime.lock:
                    runtime.answers.append({"request_id": "init", "ok": False, "body": raw.decode()})
                runtime.done.set()
                return self.reply(202, {"status": "OK"})
            return self.reply(404, {"errorMessage": "unknown path"})

        def reply(self, status: int, answer: Any) -> None:
            body = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", required=True, help="JSON file with the list of events to hand out")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for every answer")
    args = parser.parse_args(argv)
    with open(args.events) as file:
        runtime = Runtime(json.load(file))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(runtime))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"LAMBDA_RUNTIME_READY 127.0.0.1:{server.server_port}", flush=True)
    finished = runtime.done.wait(args.timeout)
    with runtime.lock:
        answers = list(runtime.answers)
    print(f"LAMBDA_RUNTIME_DONE {json.dumps(answers)}", flush=True)
    server.shutdown()
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
