"""`POST /_govctl/bulk-functions`: create many Lambda functions in one request.

The scale scenario needs 20,000 functions (100,000 to measure govctl's memory),
far too slow to create one CreateFunction call at a time. This endpoint hands
each spec to moto's `LambdaBackend.create_function`, the very call CreateFunction
reaches, so the functions are real moto functions (ListFunctions, GetFunction,
ListTags, the aggregate query) and pass the same checks: the role must exist in
the account, and layer ARNs resolve in their owner's account and region with
its permission (lambda_layers.py). What the wire adds is skipped: signing,
routing, JSON parsing per call, a fresh zip per function (all share one).

Body: a JSON list of `{"account_id", "region", "name", "runtime", "role",
"layers": [layer version ARNs], "tags": {...}}` (`layers`, `tags` optional).
Answer: `{"created": N}`. Specs are created in order; the first one moto refuses
stops the request with a 400 `{"message", "code", "index", "created"}` (the
functions before it stay).
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from typing import Any

from moto.awslambda.exceptions import FunctionAlreadyExists
from moto.awslambda.utils import get_backend, make_function_arn
from moto.core.exceptions import JsonRESTError

from .control import ControlError
from .lambda_layers import LayerPermissionMissing

REQUIRED = {"account_id": str, "region": str, "name": str, "runtime": str, "role": str}
OPTIONAL = {"layers": list, "tags": dict}
ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
HANDLER = "index.handler"


def _handler_zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return base64.b64encode(buffer.getvalue()).decode()


CODE = _handler_zip()


def create_functions(document: Any) -> dict[str, int]:
    specs = _validated(document)
    for index, spec in enumerate(specs):
        try:
            _create(spec)
        except JsonRESTError as error:
            raise _refused(index, error.error_type, error.message) from None
        except LayerPermissionMissing as missing:
            message = f"account {spec['account_id']} may not use {missing.resource} ({missing.action})"
            raise _refused(index, "AccessDeniedException", message) from None
    return {"created": len(specs)}


def _create(spec: dict[str, Any]) -> None:
    backend = get_backend(spec["account_id"], spec["region"])
    # By ARN: asking by name answers a missing function with an exception that
    # renders itself as XML, which took half the time of a bulk request.
    arn = make_function_arn(spec["region"], spec["account_id"], spec["name"])
    if backend.get_function_by_arn(arn) is not None:
        raise FunctionAlreadyExists(spec["name"])
    backend.create_function(
        {
            "FunctionName": spec["name"],
            "Runtime": spec["runtime"],
            "Role": spec["role"],
            "Handler": HANDLER,
            "Code": {"ZipFile": CODE},
            "Layers": spec.get("layers", []),
            "Tags": spec.get("tags", {}),
        }
    )


def _refused(index: int, code: str, message: str) -> ControlError:
    return ControlError(f"spec {index}: {code}: {message}", code=code, index=index, created=index)


def _validated(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, list):
        raise ControlError("the body must be a JSON list of function specs")
    for index, spec in enumerate(document):
        problem = _problem(spec)
        if problem:
            raise ControlError(f"spec {index}: {problem}", index=index, created=0)
    return document


def _problem(spec: Any) -> str | None:
    if not isinstance(spec, dict):
        return "must be an object"
    unknown = sorted(set(spec) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        return f"unknown keys {unknown}"
    for key, kind in REQUIRED.items():
        if not isinstance(spec.get(key), kind) or not spec[key]:
            return f"{key} must be a non-empty string"
    for key, kind in OPTIONAL.items():
        if key in spec and not isinstance(spec[key], kind):
            return f"{key} must be a {kind.__name__}"
    if not ACCOUNT_ID.match(spec["account_id"]):
        return "account_id must be 12 digits"
    if not REGION.match(spec["region"]):
        return "region is not a region name"
    return None
