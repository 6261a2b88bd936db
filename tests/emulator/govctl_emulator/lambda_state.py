"""Read access to moto's Lambda backends without creating empty ones on the way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from moto.awslambda.models import LambdaBackend, LambdaFunction, lambda_backends
from moto.core.base_backend import BackendDict
from moto.core.models import default_user_config


def latest_functions(account_id: str, regions: Iterable[str] | None) -> Iterator[LambdaFunction]:
    """The $LATEST functions of an account in the given regions (None: every region)."""
    account_backends = dict.get(_backends(), account_id)
    if account_backends is None:
        return
    wanted = None if regions is None else set(regions)
    for region, backend in sorted(dict.items(account_backends)):
        if wanted is None or region in wanted:
            yield from backend.list_functions()


def _backends() -> BackendDict[LambdaBackend]:
    # Mirrors moto.awslambda.utils.get_backend, which picks the docker-less
    # backend when moto's config says so.
    if default_user_config.get("lambda", {}).get("use_docker", True) is False:
        from moto.awslambda_simple.models import lambda_simple_backends

        return lambda_simple_backends  # type: ignore[return-value]
    return lambda_backends
