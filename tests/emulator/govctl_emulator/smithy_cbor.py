"""CloudWatch over Smithy RPC v2 CBOR, the protocol of the current AWS SDKs, answered by moto.

The AWS SDK for Rust's CloudWatch client (aws-sdk-cloudwatch 1.100 and later; govctl uses
1.140) and botocore 1.43 both speak `smithy.protocols#rpcv2Cbor`: `POST
/service/GraniteServiceVersion20100801/operation/<Operation>` with `Smithy-Protocol:
rpc-v2-cbor`, `Content-Type: application/cbor` and a CBOR map as the body. moto 5.2.5 serves
CloudWatch only over the query and JSON 1.0 protocols and answers that path with 404 (which
the Rust SDK reports as "unexpected type 0x3c ... expected map": the HTML of the 404 page).

Rather than pin an old SDK, this WSGI middleware translates each such request into the JSON
1.0 request moto understands (`POST /`, `X-Amz-Target: GraniteServiceVersion20100801.<Op>`,
`Content-Type: application/x-amz-json-1.0`), lets moto's own CloudWatch answer it from its
state (so every operation moto has works, and `/moto-api/reset` clears what was put), and
translates the answer back, guided by the operation's shapes in botocore's model:

- timestamps: CBOR tag 1 (epoch seconds, integer or double) in both directions; a request
  may also send tag 1 over a float, which becomes JSON epoch seconds;
- blobs: CBOR byte strings (base64 strings in JSON);
- float and double members are sent as 64-bit floats, integers in their smallest form,
  `null` members left out (the spec's rules);
- success is HTTP 200 with the output map; errors keep moto's status and become a CBOR map
  with `__type` set to the error's absolute shape ID (`com.amazonaws.cloudwatch#
  InvalidParameterValueException`) and `message`. CloudWatch is `awsQueryCompatible`, so
  the `x-amzn-query-error: <query code>;Sender|Receiver` header carries the query-protocol
  error code too, which is what the SDKs report as the code;
- every answer carries `Smithy-Protocol: rpc-v2-cbor`; successful and error bodies are
  `application/cbor`. A request with `X-Amz-Target` (which the spec says servers must
  reject) or without the `Smithy-Protocol` header answers 400 `SerializationException`.

The middleware sits in front of the fault injector, so faults and statistics see the
translated request (`monitoring:GetMetricData`) and a throttle comes back as a CBOR error.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import cbor2
from botocore.model import OperationModel, Shape
from botocore.session import get_session

PATH = re.compile(r"^(?:/.*)?/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")
PROTOCOL = "rpc-v2-cbor"
CBOR = "application/cbor"

# serviceName path segment (the model's target prefix) -> (botocore name, Smithy namespace)
SERVICES = {"GraniteServiceVersion20100801": ("cloudwatch", "com.amazonaws.cloudwatch")}


class SmithyRpcV2Cbor:
    """WSGI middleware: rpcv2Cbor requests of SERVICES in, moto's JSON 1.0 answers out."""

    def __init__(self, app: Callable[..., Any]):
        self._app = app
        self._models: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = PATH.match(environ.get("PATH_INFO", ""))
        if match is None or match["service"] not in SERVICES or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        service, namespace = SERVICES[match["service"]]
        model = self._model(service)
        if environ.get("HTTP_X_AMZ_TARGET") or environ.get("HTTP_X_AMZN_TARGET"):
            return _error(start_response, 400, namespace, "SerializationException",
                          "rpcv2Cbor requests must not carry X-Amz-Target")
        if (environ.get("HTTP_SMITHY_PROTOCOL") or "").lower() != PROTOCOL:
            return _error(start_response, 400, namespace, "SerializationException",
                          f"the Smithy-Protocol header must be {PROTOCOL}")
        try:
            operation = model.operation_model(match["operation"])
        except Exception:  # botocore raises OperationNotFoundError
            return _error(start_response, 404, namespace, "UnknownOperationException",
                          f"unknown operation {match['operation']}")

        try:
            document = _decode_request(environ)
        except (ValueError, cbor2.CBORDecodeError) as error:
            return _error(start_response, 400, namespace, "SerializationException",
                          f"the body is not CBOR: {error}")
        params = _to_json(operation.input_shape, document) if operation.input_shape else {}
        body = json.dumps(params or {}).encode()
        inner = {
            **environ,
            "PATH_INFO": "/",
            "RAW_URI": "/",
            "REQUEST_URI": "/",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AMZ_TARGET": f"{match['service']}.{operation.name}",
            "wsgi.input": io.BytesIO(body),
        }
        inner.pop("HTTP_SMITHY_PROTOCOL", None)
        status, headers, answer = _call(self._app, inner)
        code = int(status.split()[0])
        if code == 200:
            output = json.loads(answer or b"{}") if answer.strip() else {}
            value = _to_cbor(operation.output_shape, output) if operation.output_shape else None
            payload = b"" if value is None else cbor2.dumps(value)
            return _respond(start_response, status, headers, payload, bool(payload))
        return self._translate_error(start_response, status, headers, answer, model, namespace)

    def _model(self, service: str) -> Any:
        if service not in self._models:
            self._models[service] = get_session().get_service_model(service)
        return self._models[service]

    def _translate_error(self, start_response: Callable[..., Any], status: str,
                         headers: list[tuple[str, str]], answer: bytes, model: Any,
                         namespace: str) -> Iterable[bytes]:
        try:
            document = json.loads(answer)
        except ValueError:
            document = {"message": answer.decode("utf-8", "replace")}
        raw = str(document.get("__type") or document.get("code") or "InternalFailure")
        name = raw.rsplit("#", 1)[-1].split(":", 1)[0]
        shape, query_code, sender = _error_shape(model, name)
        message = document.get("message") or document.get("Message") or ""
        body = {"__type": f"{namespace}#{shape}", "message": message}
        code = int(status.split()[0])
        if sender is None:
            sender = code < 500
        fault = "Sender" if sender else "Receiver"
        extra = [("x-amzn-query-error", f"{query_code};{fault}")]
        return _respond(start_response, status, headers + extra, cbor2.dumps(body), True)


def _error_shape(model: Any, name: str) -> tuple[str, str, bool | None]:
    """(shape name, query error code, sender fault) of the error moto named `name`."""
    for shape_name in model.shape_names:
        shape = model.shape_for(shape_name)
        if not shape.metadata.get("exception"):
            continue
        error = shape.metadata.get("error", {})
        if name in (shape_name, error.get("code")):
            return shape_name, error.get("code", shape_name), error.get("senderFault")
    return name, name, None


def _decode_request(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    if not raw:
        return {}
    document = cbor2.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("the body must be a CBOR map")
    return document


def _to_json(shape: Shape, value: Any) -> Any:
    """A decoded CBOR input value as the JSON 1.0 protocol writes it."""
    if value is None or value is cbor2.undefined:
        return None
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        out = {}
        for key, item in value.items():
            converted = _to_json(members[key], item) if key in members else item
            if converted is not None:
                out[key] = converted
        return out
    if kind == "list" and isinstance(value, list):
        return [_to_json(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _to_json(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, cbor2.CBORTag):
            return value.value
        return value
    if kind == "blob" and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def _to_cbor(shape: Shape, value: Any) -> Any:
    """A JSON 1.0 output value as rpcv2Cbor sends it."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        out = {}
        for key, item in value.items():
            converted = _to_cbor(members[key], item) if key in members else item
            if converted is not None:
                out[key] = converted
        return out
    if kind == "list" and isinstance(value, list):
        return [_to_cbor(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _to_cbor(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, _epoch(value))
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if kind in ("float", "double") and isinstance(value, (int, float)):
        return float(value)
    if kind in ("integer", "long", "short", "byte") and isinstance(value, float):
        return int(value)
    return value


def _epoch(value: Any) -> int | float:
    if isinstance(value, (int, float)):
        return value
    text = str(value).replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = moment.timestamp()
    return int(seconds) if seconds == int(seconds) else seconds


def _call(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = status, headers
        return lambda _: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return captured["status"], list(captured["headers"]), body


def _respond(start_response: Callable[..., Any], status: str, headers: list[tuple[str, str]],
             body: bytes, has_body: bool) -> Iterable[bytes]:
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
    kept.append(("Smithy-Protocol", PROTOCOL))
    if has_body:
        kept.append(("Content-Type", CBOR))
    kept.append(("Content-Length", str(len(body))))
    start_response(status, kept)
    return [body]


def _error(start_response: Callable[..., Any], code: int, namespace: str, name: str,
           message: str) -> Iterable[bytes]:
    reasons = {400: "Bad Request", 404: "Not Found"}
    body = cbor2.dumps({"__type": f"{namespace}#{name}", "message": message})
    return _respond(start_response, f"{code} {reasons.get(code, 'Error')}", [], body, True)
