"""IAM identity policies are enforced for requests signed with an IAM user's access key.

moto evaluates IAM policies only when enforcement is switched on for the whole server,
which would make every test sign with real IAM users. Here enforcement is per caller:
requests signed with the access key of an IAM user that moto holds (made with
`CreateAccessKey`) are checked against that user's policies by moto's own policy
evaluator, and denied in the error format of each service's protocol, as AWS does. Any
other credentials (the default `testing` keys, assumed-role keys) stay unrestricted, so a
test can show an access-denied path by signing with a restricted user's keys.

Actions are named as IAM names them (`cloudwatch:GetMetricData`, not moto's
`monitoring:GetMetricData`). Resources are not: moto authorizes nearly every request
against the resource `*`, so a statement scoped to ARNs matches nothing here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.iam.models import iam_backends


class JsonAccessDenied(JsonRESTError):
    """`AccessDeniedException` as JSON-protocol services send it."""

    def __init__(self, message: str, status: int):
        super().__init__("AccessDeniedException", message)
        self.code = status

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")]


# moto names the action by the signing name of the credential scope; IAM policies name it
# by the service's action prefix, which differs for a few services.
IAM_PREFIXES = {"monitoring": "cloudwatch", "tagging": "tag"}


def install() -> None:
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _enforcing_for_users(original)  # type: ignore[method-assign]


def _enforcing_for_users(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def wrapper(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not _is_user_access_key(self.get_access_key()):
            return original(self, iam_request_cls, resource)
        request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=self.raw_path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        service, _, action = request._action.partition(":")
        request._action = f"{IAM_PREFIXES.get(service, service)}:{action}"
        try:
            request.check_action_permitted(resource)
        except AccessDeniedError as denied:
            raise _in_protocol_format(self, denied) from None
        return None

    return wrapper


def _in_protocol_format(response: Any, denied: AccessDeniedError) -> Exception:
    """The denial as the service's protocol words it.

    Query services (STS, IAM) answer 403 with an XML `AccessDenied`, which is moto's own
    error. JSON 1.1 services (Config, Organizations: they carry `X-Amz-Target`) answer 400
    `AccessDeniedException`; REST-JSON services (Lambda) answer 403 with that type.
    """
    message = denied.message
    if response.headers.get("X-Amz-Target"):
        return JsonAccessDenied(message, 400)
    if "json" in (response.headers.get("Content-Type") or "") or response.service_name == "lambda":
        return JsonAccessDenied(message, 403)
    return denied


def _is_user_access_key(access_key_id: str | None) -> bool:
    """True when `access_key_id` belongs to an IAM user (not an assumed role) moto holds."""
    if not access_key_id:
        return False
    for account in list(iam_backends.values()):
        for backend in list(account.values()):
            for user in list(backend.users.values()):
                if any(key.access_key_id == access_key_id for key in user.access_keys):
                    return True
    return False
