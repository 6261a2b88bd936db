"""A local stand-in for the part of Tailscale's API that govctl uses.

    .venv/bin/python tests/tailscale/server.py --port 0 [--exit-on-stdin-eof]
    # prints exactly one line: TAILSCALE_FAKE_READY http://127.0.0.1:<port>

Tailscale's service cannot be reached from the machines govctl is tested on, so
this server answers the calls govctl makes, with the request and response shapes,
status codes and error bodies of Tailscale's API reference (the v2 OpenAPI
document and api.md) and, where the reference says nothing, of what Tailscale is
reported to answer (each such place says "unverified" in README.md):

    POST   /api/v2/oauth/token                      client credentials grant
    GET    /api/v2/tailnet/{tailnet}/keys           active auth keys of the tailnet
    POST   /api/v2/tailnet/{tailnet}/keys           create an auth key (the key is returned once)
    GET    /api/v2/tailnet/{tailnet}/keys/{keyId}   one key, without its secret part
    DELETE /api/v2/tailnet/{tailnet}/keys/{keyId}   revoke a key

Every error is JSON `{"message": ...}`. Access tokens last one hour and carry the
scopes of their OAuth client; keys made with them belong to the tailnet and must
carry tags the client owns. The tailnet `-` is the token's own tailnet.

Tests steer the server through control endpoints under /_control/ (README.md):
OAuth clients, expiring every token, revoking a client, seeding keys with any
dates, injected failures (5xx, 429, lost answers, delays) and the request log.
Nothing here ever writes a key, a client secret or a token to stdout or stderr.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

READY_PREFIX = "TAILSCALE_FAKE_READY"
DEFAULT_TAILNET = "example.com"
TOKEN_SECONDS = 3600
MAX_EXPIRY_SECONDS = 90 * 86400
DESCRIPTION = re.compile(r"^[A-Za-z0-9 _-]{0,50}$")

# Messages Tailscale is reported to send (see README.md for the sources).
TOKEN_INVALID = "API token invalid"
NOT_ENOUGH_PERMISSIONS = "calling actor does not have enough permissions to perform this function"
# The bodies of the reference's shared error responses (components/responses).
STATUS_MESSAGES = {
    400: "bad request",
    403: "forbidden",
    404: "not found",
    409: "conflict",
    429: "too many requests",
    500: "internal server error",
    501: "not implemented",
    502: "bad gateway",
    503: "service unavailable",
    504: "request took too long to process, please try again later",
}

ENDPOINTS = ("token", "list_keys", "create_key", "get_key", "delete_key")
WRITE_SCOPE = "auth_keys"
READ_SCOPE = "auth_keys:read"


class ApiError(Exception):
    def __init__(self, status: int, message: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "error")


class ControlError(ValueError):
    """A control request the server refuses (400)."""


def now() -> float:
    return time.time()


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise ControlError(f"{what} must be an RFC 3339 time such as 2026-01-02T03:04:05Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise ControlError(f"{what} must be an RFC 3339 time such as 2026-01-02T03:04:05Z") from None


def random_id(prefix: str = "k") -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(10)) + "CNTRL"


def random_secret() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(32))


@dataclass
class Client:
    client_id: str
    secret: str
    scopes: list[str]
    tags: list[str]
    tailnet: str
    revoked: bool = False


@dataclass
class Token:
    client_id: str
    scopes: list[str]
    expires_at: float


@dataclass
class Key:
    id: str
    key: str
    tailnet: str
    created: float
    expires: float
    reusable: bool
    ephemeral: bool
    preauthorized: bool
    tags: list[str]
    description: str
    revoked: float | None = None

    def invalid(self) -> bool:
        return self.revoked is not None or self.expires <= now()

    def public(self) -> dict[str, Any]:
        """The key as GET answers it: no secret part; `revoked` and `invalid` when they apply."""
        answer: dict[str, Any] = {
            "id": self.id,
            "keyType": "auth",
            "created": rfc3339(self.created),
            "expires": rfc3339(self.expires),
            "capabilities": {
                "devices": {
                    "create": {
                        "reusable": self.reusable,
                        "ephemeral": self.ephemeral,
                        "preauthorized": self.preauthorized,
                        "tags": list(self.tags),
                    }
                }
            },
            "description": self.description,
        }
        if self.revoked is not None:
            answer["revoked"] = rfc3339(self.revoked)
        if self.invalid():
            answer["invalid"] = True
        return answer


@dataclass
class Fault:
    endpoint: str  # one of ENDPOINTS or "*"
    status: int
    times: int = 1  # 0: every matching request
    after: int = 0  # let this many matching requests through first
    apply: bool = False  # do the work, then answer the error (the answer is lost)
    delay_ms: int = 0
    message: str | None = None
    matched: int = 0
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "status": self.status,
            "times": self.times,
            "after": self.after,
            "apply": self.apply,
            "delay_ms": self.delay_ms,
            "message": self.message,
            "matched": self.matched,
            "fired": self.fired,
        }


@dataclass
class State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.clients.clear()
        self.tokens.clear()
        self.keys.clear()
        self.faults.clear()
        self.requests.clear()


STATE = State()


# --------------------------------------------------------------------------- the API


def granted(scopes: list[str], wanted: str) -> bool:
    """Whether `scopes` grant `wanted`: `all` grants everything, `x` grants `x:read`."""
    for scope in scopes:
        if scope == "all" or scope == wanted:
            return True
        if scope == "all:read" and wanted.endswith(":read"):
            return True
        if wanted.endswith(":read") and scope == wanted[: -len(":read")]:
            return True
    return False


def issue_token(form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
    if form.get("grant_type") != "client_credentials":
        raise ApiError(400, "unsupported grant_type: only client_credentials is supported")
    client_id, client_secret = basic if basic else (form.get("client_id", ""), form.get("client_secret", ""))
    client = STATE.clients.get(client_id)
    if client is None or client.revoked or not secrets.compare_digest(client.secret, client_secret):
        raise ApiError(401, TOKEN_INVALID)
    scopes = form.get("scope", "").split() or list(client.scopes)
    refused = [scope for scope in scopes if not granted(client.scopes, scope)]
    if refused:
        raise ApiError(403, f'OAuth client cannot grant scopes "{" ".join(refused)}"')
    token = f"tskey-api-{random_id()}-{random_secret()}"
    STATE.tokens[token] = Token(client.client_id, scopes, now() + TOKEN_SECONDS)
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS, "scope": " ".join(scopes)}


def authorize(headers: Any, tailnet: str, scope: str) -> Client:
    """The client behind the request's token, allowed `scope` on `tailnet`."""
    token = bearer(headers.get("Authorization", ""))
    entry = STATE.tokens.get(token) if token else None
    client = STATE.clients.get(entry.client_id) if entry else None
    if entry is None or client is None or client.revoked or entry.expires_at <= now():
        raise ApiError(401, TOKEN_INVALID)
    if tailnet not in ("-", client.tailnet):
        raise ApiError(404, "tailnet not found")
    if not granted(entry.scopes, scope):
        raise ApiError(403, NOT_ENOUGH_PERMISSIONS)
    return client


def bearer(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user, _, _ = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


def create_key(client: Client, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid request body: expected a JSON object")
    key_type = body.get("keyType", "auth")
    if key_type != "auth":
        raise ApiError(400, f"keyType {key_type!r} is not supported here")
    capabilities = body.get("capabilities")
    devices = capabilities.get("devices") if isinstance(capabilities, dict) else None
    if not isinstance(devices, dict):
        raise ApiError(400, "capabilities.devices is required")
    create = devices.get("create", {})
    if not isinstance(create, dict):
        raise ApiError(400, "capabilities.devices.create must be an object")
    tags = create.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ApiError(400, "capabilities.devices.create.tags must be a list of strings")
    if not tags:
        raise ApiError(400, "auth keys created by an OAuth client must have tags")
    refused = [tag for tag in tags if tag not in client.tags]
    if refused:
        raise ApiError(400, f"requested tags [{', '.join(refused)}] are invalid or not permitted")
    expiry = body.get("expirySeconds") or MAX_EXPIRY_SECONDS
    if not isinstance(expiry, int) or isinstance(expiry, bool) or not 0 < expiry <= MAX_EXPIRY_SECONDS:
        raise ApiError(400, f"expirySeconds must be between 1 and {MAX_EXPIRY_SECONDS}")
    description = body.get("description", "")
    if not isinstance(description, str) or not DESCRIPTION.match(description):
        raise ApiError(400, "description must be at most 50 letters, digits, spaces, hyphens or underscores")
    flags = {}
    for flag in ("reusable", "ephemeral", "preauthorized"):
        value = create.get(flag, False)
        if not isinstance(value, bool):
            raise ApiError(400, f"capabilities.devices.create.{flag} must be a boolean")
        flags[flag] = value
    key = mint(client.tailnet, now(), now() + expiry, tags, description, **flags)
    return {**key.public(), "key": key.key}


def mint(tailnet: str, created: float, expires: float, tags: list[str], description: str, **flags: bool) -> Key:
    key_id = random_id()
    key = Key(
        id=key_id,
        key=f"tskey-auth-{key_id}-{random_secret()}",
        tailnet=tailnet,
        created=created,
        expires=expires,
        reusable=flags.get("reusable", False),
        ephemeral=flags.get("ephemeral", False),
        preauthorized=flags.get("preauthorized", False),
        tags=list(tags),
        description=description,
    )
    STATE.keys[key_id] = key
    return key


def find_key(client: Client, key_id: str) -> Key:
    key = STATE.keys.get(key_id)
    if key is None or key.tailnet != client.tailnet:
        raise ApiError(404, "key not found")
    return key


# --------------------------------------------------------------------------- control


def control(method: str, path: str, body: Any) -> Any:
    parts = [part for part in path.split("/") if part][1:]  # after "_control"
    route = (method, "/".join(parts[:1]))
    if route == ("POST", "reset"):
        STATE.reset()
        return {"reset": True}
    if route == ("POST", "clients") and len(parts) == 1:
        return new_client(body or {})
    if route == ("DELETE", "clients") and len(parts) == 2:
        client = STATE.clients.get(parts[1])
        if client is None:
            raise ControlError(f"no client {parts[1]}")
        client.revoked = True
        return {"client_id": client.client_id, "revoked": True}
    if route == ("POST", "tokens") and parts[1:] == ["expire"]:
        for token in STATE.tokens.values():
            token.expires_at = min(token.expires_at, now() - 1)
        return {"expired": len(STATE.tokens)}
    if route == ("POST", "keys") and len(parts) == 1:
        return seed_key(body or {})
    if route == ("POST", "keys") and len(parts) == 3 and parts[2] == "revoke":
        key = STATE.keys.get(parts[1])
        if key is None:
            raise ControlError(f"no key {parts[1]}")
        key.revoked = key.revoked or now()
        return key.public()
    if route == ("GET", "keys"):
        return {"keys": [{**key.public(), "key": key.key, "tailnet": key.tailnet} for key in STATE.keys.values()]}
    if route == ("POST", "faults"):
        STATE.faults = [parse_fault(rule, index) for index, rule in enumerate((body or {}).get("rules", []))]
        return {"rules": [fault.to_json() for fault in STATE.faults]}
    if route == ("GET", "faults"):
        return {"rules": [fault.to_json() for fault in STATE.faults]}
    if route == ("DELETE", "faults"):
        STATE.faults.clear()
        return {"rules": []}
    if route == ("GET", "requests"):
        return {"requests": list(STATE.requests)}
    if route == ("DELETE", "requests"):
        STATE.requests.clear()
        return {"requests": []}
    raise ApiError(404, f"no control endpoint {method} {path}")


def new_client(body: dict[str, Any]) -> dict[str, Any]:
    scopes = body.get("scopes", [WRITE_SCOPE])
    tags = body.get("tags", [])
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ControlError("scopes must be a non-empty list of strings")
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.startswith("tag:") for t in tags):
        raise ControlError("tags must be a list of tag:<name> strings")
    client_id = body.get("client_id") or random_id()
    client = Client(
        client_id=client_id,
        secret=f"tskey-client-{client_id}-{random_secret()}",
        scopes=scopes,
        tags=tags,
        tailnet=body.get("tailnet", DEFAULT_TAILNET),
    )
    STATE.clients[client_id] = client
    return {"client_id": client.client_id, "client_secret": client.secret, "tailnet": client.tailnet}


def seed_key(body: dict[str, Any]) -> dict[str, Any]:
    """A key made outside the API (as by hand in the admin console), with any dates."""
    created = parse_time(body["created"], "created") if "created" in body else now()
    expires = parse_time(body["expires"], "expires") if "expires" in body else created + MAX_EXPIRY_SECONDS
    key = mint(
        body.get("tailnet", DEFAULT_TAILNET),
        created,
        expires,
        body.get("tags", []),
        body.get("description", ""),
        reusable=bool(body.get("reusable", False)),
        ephemeral=bool(body.get("ephemeral", False)),
        preauthorized=bool(body.get("preauthorized", False)),
    )
    if body.get("revoked"):
        key.revoked = now()
    return {**key.public(), "key": key.key}


def parse_fault(rule: Any, index: int) -> Fault:
    where = f"rules[{index}]"
    if not isinstance(rule, dict):
        raise ControlError(f"{where} must be an object")
    allowed = {"endpoint", "status", "times", "after", "apply", "delay_ms", "message"}
    unknown = sorted(set(rule) - allowed)
    if unknown:
        raise ControlError(f"{where} has unknown keys {unknown}; allowed: {sorted(allowed)}")
    endpoint = rule.get("endpoint", "*")
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise ControlError(f"{where}.endpoint must be one of {list(ENDPOINTS)} or *")
    status = rule.get("status", 0)
    if not isinstance(status, int) or not (status == 0 or 400 <= status <= 599):
        raise ControlError(f"{where}.status must be an HTTP error status, or 0 for a delay only")
    return Fault(
        endpoint=endpoint,
        status=status,
        times=int(rule.get("times", 1)),
        after=int(rule.get("after", 0)),
        apply=bool(rule.get("apply", False)),
        delay_ms=int(rule.get("delay_ms", 0)),
        message=rule.get("message"),
    )


def fault_for(endpoint: str) -> Fault | None:
    """The first rule that fires for this request, counted (the lock is held)."""
    for fault in STATE.faults:
        if fault.endpoint not in ("*", endpoint):
            continue
        if fault.times and fault.fired >= fault.times:
            continue
        fault.matched += 1
        if fault.matched <= fault.after:
            return None
        fault.fired += 1
        return fault
    return None


# --------------------------------------------------------------------------- HTTP


KEYS = re.compile(r"^/api/v2/tailnet/(?P<tailnet>[^/]+)/keys(?:/(?P<key>[^/]+))?/?$")


class Handler(BaseHTTPRequestHandler):
    server_version = "tailscale-fake"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        """No line per request: paths hold nothing secret, but stderr stays for errors."""

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_DELETE(self) -> None:
        self.handle_any("DELETE")

    def do_PUT(self) -> None:
        self.handle_any("PUT")

    def handle_any(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/_control/"):
            self.answer_control(method, url.path, raw)
            return
        endpoint, action = self.route(method, url.path)
        with STATE.lock:
            fault = fault_for(endpoint) if endpoint else None
        if fault and fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)
        status, answer = 200, None
        try:
            if fault and fault.status and not fault.apply:
                raise ApiError(fault.status, fault.message)
            with STATE.lock:
                status, answer = action(raw)
            if fault and fault.status:
                raise ApiError(fault.status, fault.message)
        except ApiError as error:
            status, answer = error.status, {"message": error.message}
        with STATE.lock:
            STATE.requests.append({"method": method, "path": url.path, "endpoint": endpoint, "status": status})
        self.send_json(status, answer)

    def route(self, method: str, path: str) -> tuple[str | None, Any]:
        if path == "/api/v2/oauth/token":
            if method != "POST":
                return None, lambda _: fail(405, "method not allowed")
            return "token", lambda raw: (200, issue_token(self.form(raw), self.basic()))
        match = KEYS.match(path)
        if not match:
            return None, lambda _: fail(404)
        tailnet, key_id = match["tailnet"], match["key"]
        if key_id is None and method == "GET":
            return "list_keys", lambda _: (200, self.list_keys(tailnet))
        if key_id is None and method == "POST":
            return "create_key", lambda raw: (200, create_key(authorize(self.headers, tailnet, WRITE_SCOPE), self.json(raw)))
        if key_id is not None and method == "GET":
            return "get_key", lambda _: (200, find_key(authorize(self.headers, tailnet, READ_SCOPE), key_id).public())
        if key_id is not None and method == "DELETE":
            return "delete_key", lambda _: self.delete_key(tailnet, key_id)
        return None, lambda _: fail(405, "method not allowed")

    def list_keys(self, tailnet: str) -> dict[str, Any]:
        client = authorize(self.headers, tailnet, READ_SCOPE)
        keys = [key.public() for key in STATE.keys.values() if key.tailnet == client.tailnet and not key.invalid()]
        return {"keys": keys}

    def delete_key(self, tailnet: str, key_id: str) -> tuple[int, Any]:
        key = find_key(authorize(self.headers, tailnet, WRITE_SCOPE), key_id)
        key.revoked = key.revoked or now()
        return 200, None

    def form(self, raw: bytes) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(raw.decode("utf-8", "replace")).items()}

    def basic(self) -> tuple[str, str] | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def json(self, raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "invalid JSON body") from None

    def answer_control(self, method: str, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw.strip() else None
            with STATE.lock:
                answer = control(method, path, body)
            self.send_json(200, answer)
        except (ControlError, ValueError, KeyError) as error:
            self.send_json(400, {"message": str(error)})
        except ApiError as error:
            self.send_json(error.status, {"message": error.message})

    def send_json(self, status: int, answer: Any) -> None:
        body = b"" if answer is None else json.dumps(answer).encode()
        try:
            self.send_response(status)
            if answer is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a test killed it): the work is done all the same


def fail(status: int, message: str | None = None) -> tuple[int, Any]:
    raise ApiError(status, message)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when standard input closes")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    stop = threading.Event()
    if args.exit_on_stdin_eof:

        def watch() -> None:
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=watch, daemon=True).start()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    print(f"{READY_PREFIX} http://{args.host}:{server.server_port}", flush=True)
    try:
        stop.wait() if args.exit_on_stdin_eof else serving.join()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
