"""Local AWS emulator for govctl: moto's server plus the extensions in govctl_emulator.

    .venv/bin/python tests/emulator/server.py [--host 127.0.0.1] [--port 0] [--exit-on-stdin-eof]

Binds (port 0: a free port), then prints exactly one line to stdout,
`GOVCTL_EMULATOR_READY http://<host>:<port>`, and serves until SIGTERM or
SIGINT, or, with --exit-on-stdin-eof, until its standard input closes: the Rust
tests spawn it with a pipe they never write to, so it goes away with them even
when they are killed. Requests are not logged; errors go to stderr.

Besides the AWS APIs and moto's /moto-api/, the same port serves the control
endpoints under /_govctl/ (fault injection, request statistics, bulk creation
of Lambda functions; see README.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import govctl_emulator  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

READY_PREFIX = "GOVCTL_EMULATOR_READY"


class QuietRequestHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No line per request."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="exit when standard input reaches end of file",
    )
    return parser.parse_args(argv)


def watch_stdin(stop: threading.Event) -> None:
    """Set `stop` when standard input reaches EOF (the spawning process went away)."""
    while sys.stdin.buffer.read(4096):
        pass
    stop.set()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    govctl_emulator.install()

    app = govctl_emulator.wsgi_app(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=QuietRequestHandler
    )
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs (e.g. SQS) from it

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.exit_on_stdin_eof:
        threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()

    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"{READY_PREFIX} http://{host}:{port}", flush=True)

    stop.wait()
    server.shutdown()
    serving.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
