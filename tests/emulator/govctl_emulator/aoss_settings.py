"""OpenSearch Serverless account settings: the OCU capacity limits moto lacks.

`govctl ocu status` reads and `govctl ocu set-limits` changes the maximum indexing and
search OCUs of each account and region (`GetAccountSettings`, `UpdateAccountSettings`,
JSON 1.0 with `X-Amz-Target: OpenSearchServerless.<Action>`). moto 5.2.5 models
collections and security policies but has neither action, so they are added to its
response class here and kept on its OpenSearch Serverless backend of the account and
region (so `/moto-api/reset` clears them).

Shapes as in the API reference: both actions answer `{"accountSettingsDetail":
{"capacityLimits": {"maxIndexingCapacityInOCU": n, "maxSearchCapacityInOCU": n}}}`; a
member that was never set is left out (an account that never set limits answers
`{"accountSettingsDetail": {"capacityLimits": {}}}`). `UpdateAccountSettings` changes only
the members it is given. A value below 2 (the documented minimum) or not an integer answers
`ValidationException` (HTTP 400) with the usual validation message. Not emulated: the
account's quota ceiling (`ServiceQuotaExceededException`), which AWS raises over time.
"""

from __future__ import annotations

import json
from typing import Any

from moto.opensearchserverless.exceptions import ValidationException
from moto.opensearchserverless.responses import OpenSearchServiceServerlessResponse

MINIMUM_OCU = 2
KEYS = ("maxIndexingCapacityInOCU", "maxSearchCapacityInOCU")


def install() -> None:
    OpenSearchServiceServerlessResponse.get_account_settings = _get_account_settings  # type: ignore[attr-defined]
    OpenSearchServiceServerlessResponse.update_account_settings = _update_account_settings  # type: ignore[attr-defined]


def capacity_limits(backend: Any) -> dict[str, int]:
    """The limits stored on a moto OpenSearch Serverless backend (created empty)."""
    if not hasattr(backend, "govctl_capacity_limits"):
        backend.govctl_capacity_limits = {}
    return backend.govctl_capacity_limits


def _answer(limits: dict[str, int]) -> str:
    return json.dumps({"accountSettingsDetail": {"capacityLimits": dict(limits)}})


def _get_account_settings(self: OpenSearchServiceServerlessResponse) -> str:
    return _answer(capacity_limits(self.opensearchserverless_backend))


def _update_account_settings(self: OpenSearchServiceServerlessResponse) -> str:
    params = json.loads(self.body or "{}")
    requested = params.get("capacityLimits") or {}
    for key in KEYS:
        if key in requested:
            _check(key, requested[key])
    limits = capacity_limits(self.opensearchserverless_backend)
    limits.update({key: requested[key] for key in KEYS if key in requested})
    return _answer(limits)


def _check(key: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'capacityLimits.{key}' failed to "
            "satisfy constraint: Member must be an integer"
        )
    if value < MINIMUM_OCU:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'capacityLimits.{key}' failed to "
            f"satisfy constraint: Member must have value greater than or equal to {MINIMUM_OCU}"
        )
