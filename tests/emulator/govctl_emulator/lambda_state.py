"""Read access to moto's Lambda backends, and a counter of changes to their functions.

Readers that derive something expensive from every function (the aggregate
query's rows, config_select.py) keep it while `generation()` stays the same:
install() makes each LambdaBackend call that can change what a function looks
like, and moto's reset, advance the counter once the call has finished.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction, lambda_backends
from moto.core.base_backend import BackendDict
from moto.core.models import default_user_config

# Every LambdaBackend call that creates, deletes or alters a $LATEST function.
CHANGING_CALLS = (
    "create_function",
    "delete_function",
    "update_function_configuration",
    "update_function_code",
    "tag_resource",
    "untag_resource",
    "reset",
)

_changes = itertools.count(1)
_generation = 0


def latest_functions(account_id: str, regions: Iterable[str] | None) -> Iterator[LambdaFunction]:
    """The $LATEST functions of an account in the given regions (None: every region)."""
    account_backends = dict.get(_backends(), account_id)
    if account_backends is None:
        return
    wanted = None if regions is None else set(regions)
    for region, backend in sorted(dict.items(account_backends)):
        if wanted is None or region in wanted:
            yield from backend.list_functions()


def generation() -> int:
    """A number that changes whenever any Lambda function may have changed."""
    return _generation


def install() -> None:
    """Must run after the other extensions' wrappers of these calls (lambda_revisions)."""
    for name in CHANGING_CALLS:
        setattr(LambdaBackend, name, _counting_changes(getattr(LambdaBackend, name)))


def _counting_changes(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _generation
        try:
            return call(*args, **kwargs)
        finally:
            _generation = next(_changes)

    return wrapper


def _backends() -> BackendDict[LambdaBackend]:
    # Mirrors moto.awslambda.utils.get_backend, which picks the docker-less
    # backend when moto's config says so.
    if default_user_config.get("lambda", {}).get("use_docker", True) is False:
        from moto.awslambda_simple.models import lambda_simple_backends

        return lambda_simple_backends  # type: ignore[return-value]
    return lambda_backends
