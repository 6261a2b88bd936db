"""Secrets Manager versions and rotation as AWS keeps them, where moto does not.

govctl rotates secrets with Secrets Manager's four-step protocol and reads their
state back, so three of moto's shortcuts would let a broken rotation pass:

- `PutSecretValue` with the `ClientRequestToken` of a version that already holds
  a value: AWS succeeds only if the value is the same (a retried call) and
  otherwise answers `ResourceExistsException` ("You can't use ClientRequestToken
  <token> because that value is already in use for a version of secret <arn>.").
  moto overwrites the value when the version is labelled AWSPENDING. A version
  without a value (the placeholder RotateSecret makes) may still be filled.
- `DescribeSecret` and `ListSecrets` list in `VersionIdsToStages` only versions
  that have staging labels; moto lists every version, also label-less ones.
- `RotateSecret`: AWS records the rotation function and schedule, then starts a
  rotation: it makes the AWSPENDING version (no value yet) named by the token and
  invokes the function. `LastRotatedDate` changes only when a rotation succeeds.
  moto either runs the function in Docker or, without a function, promotes a
  version with no value to AWSCURRENT, and sets `LastRotatedDate` at once.
  Here: the function must exist in Lambda (same account and region,
  `ResourceNotFoundException` otherwise); a secret whose AWSPENDING label is on
  a version other than AWSCURRENT answers `InvalidRequestException` ("A previous
  rotation isn't complete. That rotation will be reattempted."); the schedule
  (`AutomaticallyAfterDays`) sets `NextRotationDate`; with `RotateImmediately`
  (the default) the AWSPENDING placeholder is made and left there, because the
  emulator runs no rotation functions: the rotation looks as if its function
  had failed, which is what a stuck rotation looks like in AWS.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

from moto.awslambda.utils import get_backend as lambda_backend
from moto.secretsmanager.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceExistsException,
    ResourceNotFoundException,
    SecretNotFoundException,
)
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

PREVIOUS_ROTATION = "A previous rotation isn't complete. That rotation will be reattempted."


def install() -> None:
    SecretsManagerBackend.put_secret_value = _refusing_reused_tokens(  # type: ignore[method-assign]
        SecretsManagerBackend.put_secret_value
    )
    SecretsManagerBackend.rotate_secret = rotate_secret  # type: ignore[method-assign]
    FakeSecret._form_version_ids_to_stages = _labelled_versions  # type: ignore[method-assign]


def _refusing_reused_tokens(put: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(put)
    def wrapper(self: SecretsManagerBackend, secret_id: str, secret_string: str, secret_binary: str,
                client_request_token: str, version_stages: list[str]) -> str:
        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        version = secret.versions.get(client_request_token) if secret and client_request_token else None
        if version is not None and _has_value(version):
            same = version.get("secret_string") == secret_string and version.get("secret_binary") == secret_binary
            if not same:
                raise ResourceExistsException(
                    f"You can't use ClientRequestToken {client_request_token} because that value is "
                    f"already in use for a version of secret {secret.arn}."
                )
            # A retried call: AWS answers with the version as it is, labels unchanged.
            return secret.to_short_dict(include_version_stages=True, version_id=client_request_token)
        return put(self, secret_id, secret_string, secret_binary, client_request_token, version_stages)

    return wrapper


def _has_value(version: dict[str, Any]) -> bool:
    return "secret_string" in version or "secret_binary" in version


def _labelled_versions(self: FakeSecret) -> dict[str, list[str]]:
    return {version_id: list(v["version_stages"]) for version_id, v in self.versions.items() if v["version_stages"]}


def rotate_secret(
    self: SecretsManagerBackend,
    secret_id: str,
    client_request_token: str | None = None,
    rotation_lambda_arn: str | None = None,
    rotation_rules: dict[str, Any] | None = None,
    rotate_immediately: bool = True,
) -> str:
    if not self._is_valid_identifier(secret_id):
        raise SecretNotFoundException()
    secret = self.secrets[secret_id]
    if secret.is_deleted():
        raise InvalidRequestException(
            "You tried to perform the operation on a secret that's currently marked deleted."
        )
    function_arn = rotation_lambda_arn or secret.rotation_lambda_arn
    if not function_arn:
        raise InvalidRequestException("No Lambda rotation function ARN is associated with this secret.")
    try:
        lambda_backend(self.account_id, self.region_name).get_function(function_arn)
    except Exception:
        raise ResourceNotFoundException(f"Resource not found for ARN '{function_arn}'.") from None
    days = (rotation_rules or {}).get("AutomaticallyAfterDays")
    if days is not None and not (isinstance(days, int) and 1 <= days <= 1000):
        raise InvalidParameterException("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
    for version_id, version in secret.versions.items():
        stages = version["version_stages"]
        if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
            raise InvalidRequestException(PREVIOUS_ROTATION)

    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.rotation_lambda_arn = function_arn
    if days is not None:
        secret.auto_rotate_after_days = days
    if secret.auto_rotate_after_days:
        secret.next_rotation_date = int(time.time()) + secret.auto_rotate_after_days * 86400

    token = client_request_token or str(uuid4())
    if rotate_immediately and secret.versions:
        if not 32 <= len(token) <= 64:
            raise InvalidParameterException("ClientRequestToken must be 32-64 characters long.")
        if token not in secret.versions:
            for version in secret.versions.values():
                if "AWSPENDING" in version["version_stages"]:
                    version["version_stages"].remove("AWSPENDING")
            secret.versions[token] = {
                "createdate": int(time.time()),
                "version_id": token,
                "version_stages": ["AWSPENDING"],
            }
    answer = json.loads(secret.to_short_dict())
    if rotate_immediately:
        answer["VersionId"] = token
    return json.dumps(answer)
