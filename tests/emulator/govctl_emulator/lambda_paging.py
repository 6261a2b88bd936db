"""Lambda `ListFunctions` in pages, as Lambda sends it.

moto answers ListFunctions with every function at once and ignores `MaxItems`
and `Marker`, so a client that never follows `NextMarker` passes against moto
and misses functions against AWS, where a page holds at most 50 functions
("even if you set the number higher", says the API reference). Here pages hold
`MaxItems` functions, at most and by default 50, in function name order (then
version, with `FunctionVersion=ALL`), and `NextMarker` continues after the
last one, so a function deleted between pages does not shift the rest. An
unreadable `Marker` answers `InvalidParameterValueException` (400).
"""

from __future__ import annotations

import base64
import bisect
import json
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaFunction
from moto.awslambda.responses import LambdaResponse

MAX_PAGE_SIZE = 50


def install() -> None:
    LambdaResponse.list_functions = _list_functions  # type: ignore[method-assign]


def _list_functions(self: LambdaResponse) -> str:
    version = self.querystring.get("FunctionVersion", [None])[0]
    functions = sorted(self.backend.list_functions(version), key=_order)
    start = _start(functions, self.querystring.get("Marker", [None])[0])
    size = min(int(self.querystring.get("MaxItems", [MAX_PAGE_SIZE])[0]), MAX_PAGE_SIZE)
    page = functions[start : start + size]
    result: dict[str, Any] = {"Functions": [function.get_configuration() for function in page]}
    if start + size < len(functions):
        result["NextMarker"] = _marker(_order(page[-1]))
    return json.dumps(result)


def _order(function: LambdaFunction) -> tuple[str, str]:
    return function.function_name, str(function.version)


def _marker(after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(after).encode()).decode()


def _start(functions: list[LambdaFunction], marker: str | None) -> int:
    """Index of the first function after the one `marker` names."""
    if not marker:
        return 0
    try:
        name, version = json.loads(base64.urlsafe_b64decode(marker.encode()))
    except (ValueError, TypeError):
        raise InvalidParameterValueException(f"Invalid marker: {marker}") from None
    return bisect.bisect_right([_order(function) for function in functions], (str(name), str(version)))
