"""Secrets Manager versions and rotation (secrets_rotation.py), through boto3 over the wire.

govctl's Tailscale rotation puts a new version under its ClientRequestToken, moves the
staging labels and reads them back; its status reads the rotation schedule. These tests
check the emulator answers as the Secrets Manager API reference says.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import seed
from harness import reset
from test_emulator import error_of

TOKEN = "11111111-2222-4333-8444-555555555555"
OTHER = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


@pytest.fixture
def sm(endpoint: str) -> Any:
    reset(endpoint)
    return seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, seed.FAKE_CREDENTIALS).client("secretsmanager")


@pytest.fixture
def rotation_function(endpoint: str, sm: Any) -> str:
    account = seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, seed.FAKE_CREDENTIALS)
    role = seed.create_lambda_role(account)
    function = account.client("lambda").create_function(
        FunctionName="rotate",
        Runtime="provided.al2023",
        Role=role,
        Handler="bootstrap",
        Code={"ZipFile": seed.tiny_zip("bootstrap", "#!/bin/sh\n")},
    )
    return function["FunctionArn"]


def stages(sm: Any, name: str) -> dict[str, list[str]]:
    return sm.describe_secret(SecretId=name)["VersionIdsToStages"]


def test_a_retried_put_with_the_same_token_and_value_changes_nothing(sm):
    sm.create_secret(Name="s", SecretString="v1")
    sm.put_secret_value(SecretId="s", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    again = sm.put_secret_value(SecretId="s", SecretString="v2", ClientRequestToken=TOKEN,
                                VersionStages=["AWSPENDING"])
    assert again["VersionId"] == TOKEN and again["VersionStages"] == ["AWSPENDING"]
    assert sm.get_secret_value(SecretId="s", VersionId=TOKEN)["SecretString"] == "v2"


def test_a_put_with_a_used_token_and_another_value_is_refused_even_when_pending(sm):
    arn = sm.create_secret(Name="s", SecretString="v1")["ARN"]
    sm.put_secret_value(SecretId="s", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    code, status, message = error_of(sm.put_secret_value, SecretId="s", SecretString="v3",
                                     ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    assert (code, status) == ("ResourceExistsException", 400)
    assert message == (f"You can't use ClientRequestToken {TOKEN} because that value is already in use "
                       f"for a version of secret {arn}.")
    assert sm.get_secret_value(SecretId="s", VersionId=TOKEN)["SecretString"] == "v2"


def test_label_less_versions_are_not_listed_in_version_ids_to_stages(sm):
    first = sm.create_secret(Name="s", SecretString="v1")["VersionId"]
    sm.put_secret_value(SecretId="s", SecretString="v2", ClientRequestToken=TOKEN)
    sm.put_secret_value(SecretId="s", SecretString="v3", ClientRequestToken=OTHER)
    assert stages(sm, "s") == {TOKEN: ["AWSPREVIOUS"], OTHER: ["AWSCURRENT"]}
    assert first not in sm.list_secrets()["SecretList"][0]["SecretVersionsToStages"]
    assert sm.get_secret_value(SecretId="s", VersionId=first)["SecretString"] == "v1", "still readable"


def test_rotate_secret_records_the_schedule_and_leaves_a_placeholder_pending(sm, rotation_function):
    current = sm.create_secret(Name="s", SecretString="v1")["VersionId"]
    answer = sm.rotate_secret(SecretId="s", RotationLambdaARN=rotation_function, ClientRequestToken=TOKEN,
                              RotationRules={"AutomaticallyAfterDays": 60})
    assert answer["VersionId"] == TOKEN
    described = sm.describe_secret(SecretId="s")
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == rotation_function
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 60
    days = (described["NextRotationDate"] - described["CreatedDate"]).total_seconds() / 86400
    assert 59.9 < days < 60.1
    assert "LastRotatedDate" not in described or described["LastRotatedDate"] is None
    assert described["VersionIdsToStages"] == {current: ["AWSCURRENT"], TOKEN: ["AWSPENDING"]}
    code, _, _ = error_of(sm.get_secret_value, SecretId="s", VersionId=TOKEN)
    assert code == "ResourceNotFoundException", "the placeholder has no value"

    # The rotation function would fill the placeholder with the same token.
    sm.put_secret_value(SecretId="s", SecretString="v2", ClientRequestToken=TOKEN, VersionStages=["AWSPENDING"])
    assert sm.get_secret_value(SecretId="s", VersionId=TOKEN)["SecretString"] == "v2"


def test_rotate_secret_refuses_while_a_previous_rotation_is_pending(sm, rotation_function):
    sm.create_secret(Name="s", SecretString="v1")
    sm.rotate_secret(SecretId="s", RotationLambdaARN=rotation_function, ClientRequestToken=TOKEN)
    code, status, message = error_of(sm.rotate_secret, SecretId="s", ClientRequestToken=OTHER)
    assert (code, status) == ("InvalidRequestException", 400)
    assert message == "A previous rotation isn't complete. That rotation will be reattempted."


def test_rotate_secret_without_rotating_now_only_records_the_configuration(sm, rotation_function):
    current = sm.create_secret(Name="s", SecretString="v1")["VersionId"]
    sm.rotate_secret(SecretId="s", RotationLambdaARN=rotation_function, RotateImmediately=False,
                     RotationRules={"AutomaticallyAfterDays": 30})
    assert stages(sm, "s") == {current: ["AWSCURRENT"]}
    assert sm.describe_secret(SecretId="s")["RotationEnabled"] is True


def test_rotate_secret_needs_an_existing_function(sm):
    sm.create_secret(Name="s", SecretString="v1")
    code, _, _ = error_of(sm.rotate_secret, SecretId="s")
    assert code == "InvalidRequestException"
    missing = f"arn:aws:lambda:us-east-1:{seed.MANAGEMENT_ACCOUNT}:function:nope"
    code, status, _ = error_of(sm.rotate_secret, SecretId="s", RotationLambdaARN=missing)
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_the_four_step_protocol_ends_with_the_new_version_current_and_the_old_previous(sm):
    old = sm.create_secret(Name="s", SecretString=json.dumps({"key": "old"}))["VersionId"]
    sm.put_secret_value(SecretId="s", SecretString=json.dumps({"key": "new"}), ClientRequestToken=TOKEN,
                        VersionStages=["AWSPENDING"])
    sm.update_secret_version_stage(SecretId="s", VersionStage="AWSCURRENT", MoveToVersionId=TOKEN,
                                   RemoveFromVersionId=old)
    sm.update_secret_version_stage(SecretId="s", VersionStage="AWSPENDING", RemoveFromVersionId=TOKEN)
    assert stages(sm, "s") == {old: ["AWSPREVIOUS"], TOKEN: ["AWSCURRENT"]}
