"""STS AssumeRole refuses a role that does not exist, as AWS does.

moto issues credentials for any role ARN, so a tool that fans out over an
organization would "succeed" in accounts where the role is missing. Real STS
answers (HTTP 403, query-protocol XML error):

    AccessDenied: User: <caller arn> is not authorized to perform: sts:AssumeRole
    on resource: <role arn>

The role must exist in moto's IAM backend of the account named in the ARN.
Accounts made by Organizations CreateAccount get `OrganizationAccountAccessRole`
from moto itself (as AWS creates it), so assuming into member accounts works.
The role's trust policy is not evaluated.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import xmltodict
from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

from . import accounts

ROLE_ARN = re.compile(r"^arn:(?P<partition>aws[a-zA-Z-]*):iam::(?P<account>\d{12}):role/")
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


class AssumeRoleAccessDenied(HTTPException):
    code = 403

    def __init__(self, caller: str, role_arn: str):
        super().__init__()
        message = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        self.description = xmltodict.unparse(
            {
                "ErrorResponse": {
                    "@xmlns": STS_NAMESPACE,
                    "Error": {"Type": "Sender", "Code": "AccessDenied", "Message": message},
                    "RequestId": str(uuid4()),
                }
            }
        )

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml")]


def install() -> None:
    TokenResponse.assume_role = _requiring_existing_role(TokenResponse.assume_role)  # type: ignore[method-assign]


def _requiring_existing_role(assume_role: Callable[[TokenResponse], Any]) -> Callable[[TokenResponse], Any]:
    @functools.wraps(assume_role)
    def wrapper(self: TokenResponse) -> Any:
        role_arn = self._get_param("RoleArn") or ""
        match = ROLE_ARN.match(role_arn)
        if match is not None and not _role_exists(match["account"], match["partition"], role_arn):
            raise AssumeRoleAccessDenied(accounts.caller_arn(self), role_arn)
        return assume_role(self)

    return wrapper


def _role_exists(account_id: str, partition: str, role_arn: str) -> bool:
    account_backends = dict.get(iam_backends, account_id)
    if account_backends is None:
        return False
    return any(role.arn == role_arn for role in account_backends[partition].get_roles())
