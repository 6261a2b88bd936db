"""What a throttled, failing or broken AWS endpoint sends, in each protocol's format.

SDKs decide whether to retry, and how long to back off, from the HTTP status
and the error code they parse, and each protocol puts the code somewhere else.
An injected fault is only a fair test of govctl's retry logic if it is exactly
what the real service sends:

| fault | JSON 1.1 (Config, Organizations) | REST-JSON (Lambda) | query (STS, IAM) |
| --- | --- | --- | --- |
| throttle | 400 `ThrottlingException` | 429 `TooManyRequestsException` | 400 `Throttling` |
| server error | 500 `InternalFailure` | 500 `ServiceException` | 500 `InternalFailure` |
| unavailable | 503 `ServiceUnavailable` | 503 `ServiceUnavailable` | 503 `ServiceUnavailable` |

JSON 1.1 carries the code in the body's `__type`; REST-JSON in the
`x-amzn-ErrorType` header, with Lambda's body (`Type`, `message`/`Message`,
`Reason`, as in botocore's Lambda model and Lambda's own throttling answers);
query in an XML `ErrorResponse` in the service's namespace. A dropped
connection sends the real status and headers, then half the body, then resets.
"""

from __future__ import annotations

import json
import socket
import struct
from http import HTTPStatus
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import xmltodict
from botocore.exceptions import UnknownServiceError
from moto.core.utils import get_service_model

from .aws_request import JSON, QUERY, AwsRequest

THROTTLE = "throttle"
INTERNAL_ERROR = "internal_error"
UNAVAILABLE = "unavailable"

RATE_EXCEEDED = "Rate exceeded"
INTERNAL_MESSAGE = "The request processing has failed because of an unknown error, exception or failure."
UNAVAILABLE_MESSAGE = "The request has failed due to a temporary failure of the server."
LAMBDA_INTERNAL_MESSAGE = "The AWS Lambda service encountered an internal error."
JSON_11 = "application/x-amz-json-1.1"

# (status, code) by fault, for JSON 1.1 and query; REST-JSON also has a body per fault.
_JSON_ERRORS = {
    THROTTLE: (400, "ThrottlingException", RATE_EXCEEDED),
    INTERNAL_ERROR: (500, "InternalFailure", INTERNAL_MESSAGE),
    UNAVAILABLE: (503, "ServiceUnavailable", UNAVAILABLE_MESSAGE),
}
_QUERY_ERRORS = {
    THROTTLE: (400, "Throttling", RATE_EXCEEDED),
    INTERNAL_ERROR: (500, "InternalFailure", INTERNAL_MESSAGE),
    UNAVAILABLE: (503, "ServiceUnavailable", UNAVAILABLE_MESSAGE),
}
_REST_JSON_ERRORS: dict[str, tuple[int, str, dict[str, str]]] = {
    THROTTLE: (
        429,
        "TooManyRequestsException",
        {"Type": "User", "message": RATE_EXCEEDED, "Reason": "CallerRateLimitExceeded"},
    ),
    INTERNAL_ERROR: (500, "ServiceException", {"Type": "Service", "Message": LAMBDA_INTERNAL_MESSAGE}),
    UNAVAILABLE: (503, "ServiceUnavailable", {"Type": "Service", "Message": UNAVAILABLE_MESSAGE}),
}


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def error_answer(fault: str, request: AwsRequest) -> ErrorAnswer:
    """The answer of `request`'s service for THROTTLE, INTERNAL_ERROR or UNAVAILABLE."""
    request_id = str(uuid4())
    if request.protocol == JSON:
        return _json_error(fault, request, request_id)
    if request.protocol == QUERY:
        return _query_error(fault, request, request_id)
    return _rest_json_error(fault, request_id)


def _json_error(fault: str, request: AwsRequest, request_id: str) -> ErrorAnswer:
    status, code, message = _JSON_ERRORS[fault]
    content_type = request.headers.get("Content-Type") or ""
    if not content_type.startswith("application/x-amz-json-"):
        content_type = JSON_11
    body = json.dumps({"__type": code, "message": message}).encode()
    return ErrorAnswer(status, [("Content-Type", content_type), ("x-amzn-RequestId", request_id)], body)


def _rest_json_error(fault: str, request_id: str) -> ErrorAnswer:
    status, code, body = _REST_JSON_ERRORS[fault]
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", code),
        ("x-amzn-RequestId", request_id),
    ]
    return ErrorAnswer(status, headers, json.dumps(body).encode())


def _query_error(fault: str, request: AwsRequest, request_id: str) -> ErrorAnswer:
    status, code, message = _QUERY_ERRORS[fault]
    error = {"Type": "Sender" if status < 500 else "Receiver", "Code": code, "Message": message}
    document: dict[str, Any] = {"Error": error, "RequestId": request_id}
    namespace = _xml_namespace(request.service)
    if namespace:
        document = {"@xmlns": namespace, **document}
    body = xmltodict.unparse({"ErrorResponse": document}).encode()
    return ErrorAnswer(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body)


def _xml_namespace(service: str) -> str | None:
    try:
        return get_service_model(service).metadata.get("xmlNamespace")
    except UnknownServiceError:
        return None


def dropped(app: Callable[..., Any], environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    """A WSGI body: moto's real answer, cut off after half its body, then a broken connection.

    The status line and headers (with the full Content-Length) go out, then half
    the body; then the socket is shut down both ways (the client reads an early
    end of stream, and werkzeug finds no next request on it) and the iteration
    raises ConnectionAbortedError, which werkzeug's server treats as a dropped
    connection: it logs nothing, closes the socket and keeps serving. SO_LINGER 0
    makes that close send a reset. A response without a body is dropped before
    anything is sent.
    """
    status, headers, body = _complete_answer(app, environ)
    if body:
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        yield body[: len(body) // 2]
    _break(environ["werkzeug.socket"])
    raise ConnectionAbortedError("govctl emulator: injected dropped connection")


def _complete_answer(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    answer: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answer.update(status=status, headers=list(headers))
        return written.append

    chunks = app(environ, start_response)
    try:
        written.extend(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], b"".join(written)


def _break(connection: socket.socket) -> None:
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.shutdown(socket.SHUT_RDWR)
