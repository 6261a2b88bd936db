"""Lambda layers owned by another account, resolved the way Lambda does.

moto resolves every layer ARN by layer name in the *caller's* account, so a
function cannot use a layer published centrally (the normal case in an
organization), and an ARN naming another account silently matches a same-named
local layer. Here a layer version ARN is resolved in its owner's account and
region, and a layer of another account is usable only when its layer version
policy (AddLayerVersionPermission, which moto stores) grants
`lambda:GetLayerVersion` to the caller's account, to `*`, or to `*` within the
caller's organization. Denials name the caller as AWS does:

    AccessDeniedException (403): User: <caller arn> is not authorized to perform:
    lambda:GetLayerVersion on resource: <layer version arn> because no
    resource-based policy allows the lambda:GetLayerVersion action

Calls covered: CreateFunction and UpdateFunctionConfiguration (`Layers`),
GetLayerVersion and GetLayerVersionByArn (which moto lacks), and
ListLayerVersions, which also accepts a layer ARN and is never allowed across
accounts (a layer version policy can only grant GetLayerVersion).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import (
    LambdaClientError,
    UnknownLayerVersionException,
    ValidationException,
)
from moto.awslambda.models import LambdaFunction, LayerVersion
from moto.awslambda.responses import LambdaResponse
from moto.awslambda.utils import get_backend

from . import accounts

LAYER_VERSION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":layer:(?P<name>[a-zA-Z0-9_-]+):(?P<version>[0-9]+)$"
)
LAYER_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":layer:(?P<name>[a-zA-Z0-9_-]+)$"
)
_LAYERS_CONSTRAINT = (
    "Member must satisfy constraint: [Member must have length less than or equal to 140, "
    "Member must have length greater than or equal to 1, Member must satisfy regular "
    "expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+, "
    "Member must not be null]"
)


class LayerPermissionMissing(Exception):
    """Raised by model code, turned into AccessDeniedException where the caller is known."""

    def __init__(self, action: str, resource: str):
        super().__init__(f"{action} on {resource}")
        self.action = action
        self.resource = resource


class AccessDeniedException(LambdaClientError):
    code = 403

    def __init__(self, caller: str, action: str, resource: str):
        super().__init__(
            "AccessDeniedException",
            f"User: {caller} is not authorized to perform: {action} on resource: {resource} "
            f"because no resource-based policy allows the {action} action",
        )


def resolve_layer_version(caller_account: str, region: str, arn: str) -> LayerVersion | None:
    """The layer version `arn` names, as seen from `caller_account` in `region`.

    None when it does not exist there (a layer must be in the function's region);
    LayerPermissionMissing when it belongs to another account that has not shared it.
    """
    match = LAYER_VERSION_ARN.match(arn)
    if match is None or match["region"] != region:
        return None
    owner = match["account"]
    layer_version = get_backend(owner, region).layers_versions_by_arn(arn)
    if layer_version is None:
        return None
    if owner != caller_account and not _shared_with(layer_version, caller_account):
        raise LayerPermissionMissing("lambda:GetLayerVersion", arn)
    return layer_version


def install() -> None:
    LambdaFunction._get_layers_data = _get_layers_data  # type: ignore[method-assign]
    for name in ("create_function", "update_function_configuration"):
        setattr(LambdaResponse, name, _naming_the_caller(getattr(LambdaResponse, name)))
    LambdaResponse.get_layer_version = _naming_the_caller(  # type: ignore[method-assign]
        _get_layer_version(LambdaResponse.get_layer_version)
    )
    LambdaResponse.get_layer_version_by_arn = _naming_the_caller(_get_layer_version_by_arn)  # type: ignore[attr-defined]
    LambdaResponse.list_layer_versions = _naming_the_caller(_list_layer_versions)  # type: ignore[method-assign]


def _get_layers_data(self: LambdaFunction, arns: list[str]) -> list[dict[str, Any]]:
    """Replacement for LambdaFunction._get_layers_data (CreateFunction, UpdateFunctionConfiguration)."""
    for arn in arns:
        if not isinstance(arn, str) or LAYER_VERSION_ARN.match(arn) is None:
            raise ValidationException(str(arns), "layers", _LAYERS_CONSTRAINT)
    layer_versions = [resolve_layer_version(self.account_id, self.region, arn) for arn in arns]
    if not all(layer_versions):
        raise UnknownLayerVersionException(arns)
    return [{"Arn": lv.arn, "CodeSize": lv.code_size} for lv in layer_versions if lv]


def _get_layer_version(original: Callable[[LambdaResponse], str]) -> Callable[[LambdaResponse], str]:
    """GetLayerVersion with a layer ARN of another account resolves it there."""

    @functools.wraps(original)
    def get_layer_version(self: LambdaResponse) -> str:
        layer = LAYER_ARN.match(unquote(self.path.split("/")[-3]))
        if layer is None or layer["account"] == self.current_account:
            return original(self)
        arn = f"{layer.group()}:{self.path.split('/')[-1]}"
        return _layer_version_response(self, arn)

    return get_layer_version


def _get_layer_version_by_arn(self: LambdaResponse) -> str:
    return _layer_version_response(self, self._get_param("Arn"))


def _layer_version_response(response: LambdaResponse, arn: str) -> str:
    layer_version = resolve_layer_version(response.current_account, response.region, arn)
    if layer_version is None:
        raise UnknownLayerVersionException([arn])
    return json.dumps(layer_version.get_layer_version())


def _list_layer_versions(self: LambdaResponse) -> str:
    """ListLayerVersions by layer name or ARN; another account's layers are never listed."""
    name = unquote(self.path.rsplit("/", 2)[-2])
    layer = LAYER_ARN.match(name)
    if layer is not None:
        if layer["account"] != self.current_account:
            raise LayerPermissionMissing("lambda:ListLayerVersions", layer.group())
        name = layer["name"]
    versions = sorted(
        self.backend.list_layer_versions(name), key=lambda lv: lv.version, reverse=True
    )
    return json.dumps({"LayerVersions": [lv.get_layer_version() for lv in versions]})


def _naming_the_caller(method: Callable[[LambdaResponse], Any]) -> Callable[[LambdaResponse], Any]:
    @functools.wraps(method)
    def wrapper(self: LambdaResponse) -> Any:
        try:
            return method(self)
        except LayerPermissionMissing as missing:
            raise AccessDeniedException(
                accounts.caller_arn(self), missing.action, missing.resource
            ) from None

    return wrapper


def _shared_with(layer_version: LayerVersion, account_id: str) -> bool:
    return any(_grants(statement, account_id) for statement in layer_version.policy.statements)


def _grants(statement: dict[str, Any], account_id: str) -> bool:
    if statement.get("Effect", "Allow") != "Allow":
        return False
    if statement.get("Action") not in ("lambda:GetLayerVersion", "lambda:*"):
        return False
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("AWS")
    if principal == "*":
        organization_id = statement.get("OrganizationId")
        if organization_id is None:
            return True
        organization = accounts.organization_of(account_id)
        return organization is not None and organization.id == organization_id
    return principal in (account_id, f"arn:aws:iam::{account_id}:root")
