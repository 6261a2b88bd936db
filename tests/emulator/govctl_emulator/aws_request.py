"""Which AWS call a raw WSGI request makes, worked out before moto sees it.

The fault injector (faults.py) matches its rules and counts its statistics by
action (`config:SelectAggregateResourceConfig`), account and region, and must
answer a fault in the error format of the request's protocol. All of that has
to come from the request itself, the way moto will work it out afterwards:

- service and region: the SigV4 credential scope of `Authorization`
  (`Credential=AKID/date/REGION/SERVICE/aws4_request`);
- action and protocol: `X-Amz-Target` (JSON 1.1: Config, Organizations), else
  the `Action` form or query parameter (query: STS, IAM), else method and path
  matched by moto's own router for the service (REST-JSON: Lambda);
- account: moto's own resolution (`BaseResponse.get_current_account`), so the
  `x-moto-account-id` header and keys issued by STS count as they do for moto.

Reading the form body consumes `wsgi.input`; the body is buffered and put back
as a fresh stream, so moto still reads all of it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from moto.core.request import Request
from moto.core.responses import BaseResponse
from botocore.exceptions import UnknownServiceError
from moto.core.routing import get_service_router
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import NotFound

JSON = "json"
QUERY = "query"
REST_JSON = "rest-json"
UNKNOWN = "Unknown"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass
class AwsRequest:
    service: str  # signing name from the credential scope, e.g. "config"; "unknown" if unsigned
    region: str  # "" if unsigned
    action: str  # operation name, e.g. "ListFunctions"; "Unknown" if not recognised
    protocol: str  # JSON, QUERY or REST_JSON
    headers: EnvironHeaders = field(repr=False)
    query: dict[str, list[str]] = field(repr=False)

    @property
    def name(self) -> str:
        """The IAM-style action name, e.g. `lambda:ListFunctions`."""
        return f"{self.service}:{self.action}"

    @cached_property
    def account(self) -> str:
        """The account moto will act in for this request."""
        response = BaseResponse()
        response.headers = self.headers
        response.querystring = self.query
        return response.get_current_account()


def identify(environ: dict[str, Any]) -> AwsRequest:
    """Identify the request; buffers the body and puts it back into `environ`."""
    body = _buffer_body(environ)
    headers = EnvironHeaders(environ)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    service, region = _credential_scope(headers.get("Authorization", ""))
    target = headers.get("X-Amz-Target")
    if target:
        return AwsRequest(service, region, target.rsplit(".", 1)[-1], JSON, headers, query)
    form = parse_qs(body.decode("utf-8", "replace")) if _is_form(headers) else {}
    action = (form.get("Action") or query.get("Action") or [None])[0]
    if action:
        return AwsRequest(service, region, action, QUERY, headers, query)
    return AwsRequest(service, region, _rest_action(service, environ, body), REST_JSON, headers, query)


def _buffer_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _credential_scope(authorization: str) -> tuple[str, str]:
    """(service, region) from `Credential=AKID/date/REGION/SERVICE/aws4_request`."""
    for part in authorization.replace(",", " ").split():
        if part.startswith("Credential="):
            scope = part[len("Credential=") :].split("/")
            if len(scope) == 5:
                return scope[3].lower(), scope[2]
    return "unknown", ""


def _is_form(headers: EnvironHeaders) -> bool:
    return (headers.get("Content-Type") or "").startswith(FORM_CONTENT_TYPE)


def _rest_action(service: str, environ: dict[str, Any], body: bytes) -> str:
    """The operation moto's router finds for this method and path (REST protocols)."""
    copy = {**environ, "wsgi.input": io.BytesIO(body)}
    try:
        operation, _ = get_service_router(service).match(Request(copy))
    except (NotFound, UnknownServiceError):
        return UNKNOWN
    return operation.name
