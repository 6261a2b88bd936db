"""Control endpoints under `/_govctl/`, on the emulator's own port.

Tests and the benchmark steer the emulator (faults, statistics, bulk seeding)
with plain JSON over HTTP, beside the AWS APIs. These requests are answered
here, in front of the fault injector, so they are never delayed, failed or
counted. Each route is a handler that takes the request's JSON document (None
without a body) and returns the JSON answer (200); a ControlError becomes a 400
with `{"message": ..., **details}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

PREFIX = "/_govctl/"

Handler = Callable[[Any], Any]


class ControlError(ValueError):
    """A request the endpoint refuses (HTTP 400); `details` are added to the answer."""

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.details = details


class ControlEndpoints:
    """WSGI middleware: `routes` maps (method, path) to a handler; anything else goes to `app`."""

    def __init__(self, app: Callable[..., Any], routes: dict[tuple[str, str], Handler]):
        self._app = app
        self._routes = routes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return self._app(environ, start_response)
        status, answer = self._answer(environ["REQUEST_METHOD"], path, environ)
        body = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _answer(self, method: str, path: str, environ: dict[str, Any]) -> tuple[str, Any]:
        handler = self._routes.get((method, path))
        if handler is None:
            allowed = sorted(m for m, p in self._routes if p == path)
            if allowed:
                return "405 Method Not Allowed", {"message": f"{method} {path}: use {', '.join(allowed)}"}
            return "404 Not Found", {"message": f"no control endpoint {path}"}
        try:
            return "200 OK", handler(_json_body(environ))
        except ControlError as error:
            return "400 Bad Request", {"message": str(error), **error.details}


def _json_body(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as error:
        raise ControlError(f"the body is not JSON: {error}") from None
