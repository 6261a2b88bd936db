"""Lambda function `RevisionId`, which moto does not keep.

govctl reads a function, then calls UpdateFunctionConfiguration with the
`RevisionId` it read, so that a function changed in between is not overwritten.
Lambda returns `RevisionId` in every function configuration, gives the function
a new one whenever its code or configuration changes, and refuses an update
whose `RevisionId` is not the current one:

    PreconditionFailedException (412): The Revision Id provided does not match
    the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the
    latest Revision Id
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from uuid import uuid4

from moto.awslambda.exceptions import PreconditionFailedException
from moto.awslambda.models import LambdaBackend, LambdaFunction

STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


def install() -> None:
    original_init = LambdaFunction.__init__
    original_get_configuration = LambdaFunction.get_configuration

    @functools.wraps(original_init)
    def __init__(self: LambdaFunction, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.revision_id = str(uuid4())

    @functools.wraps(original_get_configuration)
    def get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**original_get_configuration(self, *args, **kwargs), "RevisionId": self.revision_id}

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    for name in ("update_function_configuration", "update_function_code"):
        setattr(LambdaBackend, name, _revised(getattr(LambdaBackend, name)))


def _revised(update: Callable[..., dict[str, Any] | None]) -> Callable[..., dict[str, Any] | None]:
    """Check the caller's RevisionId before an update and issue a new one after it."""

    @functools.wraps(update)
    def wrapper(
        self: LambdaBackend, function_name: str, qualifier: str | None, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        function = self.get_function(function_name, qualifier)
        expected = body.get("RevisionId")
        if expected is not None and expected != function.revision_id:
            raise PreconditionFailedException(STALE_REVISION)
        result = update(self, function_name, qualifier, body)
        if body.get("DryRun"):
            return result
        function.revision_id = str(uuid4())
        return result and {**result, "RevisionId": function.revision_id}

    return wrapper
