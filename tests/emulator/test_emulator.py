"""Fidelity tests of the emulator's extensions, driven through boto3 over the wire.

Each behaviour is checked against what the AWS API references say (response
shapes, error codes and HTTP statuses, paging, limits), since govctl's own tests
only prove something if the emulator answers the way AWS does. A server is
started once per session; each test class starts from a reset, freshly seeded
emulator.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

import seed
from harness import HERE, reset, start_server

LAMBDA_QUERY = "resourceType = 'AWS::Lambda::Function'"


# --- fixtures and helpers ---------------------------------------------------


@pytest.fixture(scope="class")
def world(endpoint: str) -> dict[str, Any]:
    """A freshly seeded `test` scenario, shared by the tests of one class."""
    reset(endpoint)
    return seed.seed(endpoint, seed.build_test_scenario())


@pytest.fixture(scope="class")
def management(endpoint: str) -> seed.Account:
    return seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, seed.FAKE_CREDENTIALS)


def member(management: seed.Account, world: dict[str, Any], name: str) -> seed.Account:
    return management.assume(world["accounts"][name])


def select(account: seed.Account, expression: str, aggregator: str = "org-aggregator",
           region: str = seed.HOME_REGION, **kwargs: Any) -> dict[str, Any]:
    return account.client("config", region).select_aggregate_resource_config(
        Expression=expression, ConfigurationAggregatorName=aggregator, **kwargs
    )


def rows(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert all(isinstance(result, str) for result in response["Results"])
    return [json.loads(result) for result in response["Results"]]


def names(response: dict[str, Any]) -> set[str]:
    return {row["configuration"]["functionName"] for row in rows(response)}


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def layer_version(world: dict[str, Any], name: str, version: int, region: str = seed.HOME_REGION) -> str:
    return f"{world['layers'][f'{name}@{region}']}:{version}"


def create_function(account: seed.Account, name: str, layers: list[str], region: str = seed.HOME_REGION,
                    **extra: Any) -> dict[str, Any]:
    lam = account.client("lambda", region)
    role = account.client("iam").get_role(RoleName="govctl-demo-lambda")["Role"]["Arn"]
    return lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler",
        Code={"ZipFile": seed.tiny_zip("index.py", "")}, Layers=layers, **extra,
    )


# --- the server process -----------------------------------------------------


class TestServerProcess:
    def test_ready_line_then_quiet_stdout_and_clean_sigterm(self) -> None:
        process, url = start_server()
        assert url.startswith("http://127.0.0.1:")
        seed.Account(url, seed.MANAGEMENT_ACCOUNT, seed.FAKE_CREDENTIALS).client("sts").get_caller_identity()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout is not None
        assert process.stdout.read() == b""  # no line per request

    def test_exits_when_stdin_closes(self) -> None:
        process, _ = start_server("--exit-on-stdin-eof")
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=10) == 0


# --- A. SelectAggregateResourceConfig -----------------------------------------


class TestAggregateQuerySources:
    def test_organization_aggregator_sees_every_function_of_every_member_and_region(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        response = select(
            management, f"SELECT accountId, awsRegion, configuration.functionName WHERE {LAMBDA_QUERY}"
        )
        found = {
            (row["accountId"], row["awsRegion"], row["configuration"]["functionName"])
            for row in rows(response)
        }
        expected = {(f["account_id"], f["region"], f["function_name"]) for f in world["functions"]}
        assert found == expected
        assert len(found) == 10
        assert "NextToken" not in response

    def test_account_aggregator_covers_only_its_accounts_and_regions(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        response = select(
            management, f"SELECT accountId, awsRegion, resourceId WHERE {LAMBDA_QUERY}",
            aggregator="accounts-aggregator",
        )
        assert rows(response) == [
            {"accountId": world["accounts"]["workload-dev"], "awsRegion": "eu-west-1", "resourceId": "dev-eu"}
        ]

    def test_organization_scope_follows_membership(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        organizations = management.client("organizations")
        organizations.remove_account_from_organization(AccountId=world["accounts"]["workload-dev"])
        response = select(management, f"SELECT accountId WHERE {LAMBDA_QUERY}")
        assert world["accounts"]["workload-dev"] not in {row["accountId"] for row in rows(response)}
        assert len(response["Results"]) == 7

    def test_unknown_aggregator(self, world: dict[str, Any], management: seed.Account) -> None:
        code, status, message = error_of(
            select, management, f"SELECT resourceId WHERE {LAMBDA_QUERY}", aggregator="nope"
        )
        assert (code, status) == ("NoSuchConfigurationAggregatorException", 400)
        assert "configuration aggregator does not exist" in message

    def test_aggregator_belongs_to_its_region(self, world: dict[str, Any], management: seed.Account) -> None:
        code, status, _ = error_of(select, management, "SELECT resourceId", region="eu-west-1")
        assert (code, status) == ("NoSuchConfigurationAggregatorException", 400)

    def test_aggregator_belongs_to_its_account(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        prod = member(management, world, "workload-prod")
        code, _, _ = error_of(select, prod, "SELECT resourceId")
        assert code == "NoSuchConfigurationAggregatorException"

    def test_unknown_aggregator_error_is_a_json_body(self, world: dict[str, Any], endpoint: str) -> None:
        request = urllib.request.Request(
            endpoint,
            method="POST",
            data=json.dumps({"Expression": "SELECT resourceId", "ConfigurationAggregatorName": "nope"}).encode(),
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "StarlingDoveService.SelectAggregateResourceConfig",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/config/aws4_request, "
                "SignedHeaders=host, Signature=0",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 400
        body = json.loads(caught.value.read())
        assert body["__type"] == "NoSuchConfigurationAggregatorException"
        assert body["message"]


class TestAggregateQueryLanguage:
    def test_configuration_item_of_a_lambda_function(self, world: dict[str, Any], management: seed.Account) -> None:
        fields = (
            "accountId, awsRegion, resourceId, resourceName, resourceType, arn, tags, "
            "configuration.functionName, configuration.functionArn, configuration.runtime, "
            "configuration.handler, configuration.role, configuration.memorySize, configuration.timeout, "
            "configuration.lastModified, configuration.revisionId, configuration.layers"
        )
        response = select(
            management, f"SELECT {fields} WHERE {LAMBDA_QUERY} AND resourceId = 'payments'"
        )
        [row] = rows(response)
        prod = member(management, world, "workload-prod")
        function = prod.client("lambda").get_function(FunctionName="payments")["Configuration"]
        assert row == {
            "accountId": world["accounts"]["workload-prod"],
            "awsRegion": "us-east-1",
            "resourceId": "payments",
            "resourceName": "payments",
            "resourceType": "AWS::Lambda::Function",
            "arn": function["FunctionArn"],
            "tags": [],
            "configuration": {
                "functionName": "payments",
                "functionArn": function["FunctionArn"],
                "runtime": "nodejs20.x",
                "handler": "index.handler",
                "role": function["Role"],
                "memorySize": 128,
                "timeout": 3,
                "lastModified": function["LastModified"],
                "revisionId": function["RevisionId"],
                "layers": [
                    {"arn": layer["Arn"], "codeSize": layer["CodeSize"]} for layer in function["Layers"]
                ],
            },
        }
        assert [layer["arn"] for layer in row["configuration"]["layers"]] == [
            layer_version(world, "shared-utils", 3), layer_version(world, "otel-extension", 1)
        ]
        assert response["QueryInfo"] == {
            "SelectFields": [{"Name": name.strip()} for name in fields.split(",")]
        }

    def test_projection_through_an_array_keeps_nesting_and_order(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        response = select(
            management, f"SELECT configuration.layers.arn WHERE {LAMBDA_QUERY} AND resourceName = 'reporting'"
        )
        assert rows(response) == [{"configuration": {"layers": [
            {"arn": layer_version(world, "otel-extension", 1)},
            {"arn": layer_version(world, "shared-utils", 2)},
        ]}}]

    def test_function_without_layers_has_an_empty_layer_list(self, world: dict[str, Any], management: seed.Account) -> None:
        response = select(management, f"SELECT configuration.layers WHERE {LAMBDA_QUERY} AND resourceId = 'no-layers'")
        assert rows(response) == [{"configuration": {"layers": []}}]

    def test_missing_fields_are_omitted(self, world: dict[str, Any], management: seed.Account) -> None:
        response = select(
            management, f"SELECT resourceId, configuration.noSuchField WHERE {LAMBDA_QUERY} AND resourceId = 'dev-api'"
        )
        assert rows(response) == [{"resourceId": "dev-api"}]

    def test_condition_through_an_array_matches_any_element(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        response = select(
            management,
            f"SELECT configuration.functionName WHERE {LAMBDA_QUERY} "
            f"AND configuration.layers.arn = '{layer_version(world, 'shared-utils', 2)}'",
        )
        assert names(response) == {"reporting", "dev-worker"}

    def test_in_and_and(self, world: dict[str, Any], management: seed.Account) -> None:
        response = select(
            management,
            f"SELECT configuration.functionName WHERE {LAMBDA_QUERY} AND configuration.layers.arn IN "
            f"('{layer_version(world, 'shared-utils', 1)}', '{layer_version(world, 'shared-utils', 1, 'eu-west-1')}',"
            f" '{layer_version(world, 'otel-extension', 2)}') AND awsRegion = 'us-east-1'",
        )
        assert names(response) == {"orders-api", "dev-worker"}

    def test_keywords_are_case_insensitive(self, world: dict[str, Any], management: seed.Account) -> None:
        response = select(
            management,
            "select configuration.functionName where resourceType = 'AWS::Lambda::Function' "
            "and accountId in ('123456789012')",
        )
        assert names(response) == {"mgmt-ops"}

    def test_tags_are_a_list_of_key_value_pairs(self, world: dict[str, Any], management: seed.Account) -> None:
        response = select(
            management,
            f"SELECT resourceId, tags WHERE {LAMBDA_QUERY} AND tags.key = 'aws:cloudformation:stack-name'",
        )
        [row] = rows(response)
        assert row["resourceId"] == "orders-api"
        assert {"key": "aws:cloudformation:stack-name", "value": "orders-stack"}.items() <= row["tags"][0].items()

    def test_other_resource_types_have_no_rows(self, world: dict[str, Any], management: seed.Account) -> None:
        response = select(management, "SELECT resourceId WHERE resourceType = 'AWS::S3::Bucket'")
        assert response["Results"] == []

    def test_quoted_literal_with_doubled_quote(self, world: dict[str, Any], management: seed.Account) -> None:
        create_function(management, "quoted", [], Description="Bob's function")
        response = select(
            management,
            f"SELECT configuration.description WHERE {LAMBDA_QUERY} AND configuration.description = 'Bob''s function'",
        )
        assert rows(response) == [{"configuration": {"description": "Bob's function"}}]

    @pytest.mark.parametrize(
        "expression",
        [
            "SELECT * WHERE resourceType = 'AWS::Lambda::Function'",
            "SELECT resourceId FROM resources",
            "SELECT resourceId WHERE configuration.description = 'Bob's function'",
            "SELECT resourceId WHERE resourceId = 'unterminated",
            "SELECT resourceId WHERE resourceId != 'x'",
            "SELECT resourceId WHERE resourceId = 'a' OR resourceId = 'b'",
            "SELECT resourceId WHERE resourceId LIKE 'a%'",
            "SELECT resourceId WHERE configuration.memorySize = 128",
            "SELECT COUNT(*) WHERE resourceType = 'AWS::Lambda::Function'",
            "SELECT resourceId WHERE resourceId IN ()",
            "SELECT resourceId WHERE",
            "resourceId WHERE resourceType = 'AWS::Lambda::Function'",
            "SELECT resourceId, WHERE resourceType = 'AWS::Lambda::Function'",
            "SELECT resourceId WHERE resourceType = \"AWS::Lambda::Function\"",
        ],
    )
    def test_anything_else_is_an_invalid_expression(
        self, world: dict[str, Any], management: seed.Account, expression: str
    ) -> None:
        code, status, message = error_of(select, management, expression)
        assert (code, status) == ("InvalidExpressionException", 400)
        assert message

    def test_expression_length_limit(self, world: dict[str, Any], management: seed.Account) -> None:
        base = f"SELECT resourceId WHERE {LAMBDA_QUERY}"
        assert select(management, base.ljust(4096))["Results"]
        code, status, _ = error_of(select, management, base.ljust(4097))
        assert (code, status) == ("InvalidExpressionException", 400)


PAGED_FUNCTIONS = 230


@pytest.fixture(scope="class")
def many(endpoint: str, management: seed.Account) -> None:
    """PAGED_FUNCTIONS functions in the management account and an aggregator over it."""
    reset(endpoint)
    management.client("iam").create_role(
        RoleName="govctl-demo-lambda", AssumeRolePolicyDocument=json.dumps(seed.LAMBDA_TRUST_POLICY)
    )
    for index in range(PAGED_FUNCTIONS):
        create_function(management, f"fn-{index:03d}", [])
    management.client("config").put_configuration_aggregator(
        ConfigurationAggregatorName="self",
        AccountAggregationSources=[{"AccountIds": [seed.MANAGEMENT_ACCOUNT], "AllAwsRegions": True}],
    )


class TestAggregateQueryPaging:
    def pages(self, account: seed.Account, expression: str, **kwargs: Any) -> list[list[str]]:
        pages, token = [], None
        while True:
            response = select(account, expression, aggregator="self",
                              **kwargs, **({"NextToken": token} if token else {}))
            pages.append([row["resourceId"] for row in rows(response)])
            token = response.get("NextToken")
            if not token:
                return pages

    def test_default_page_is_100_and_pages_continue_exactly(self, many: None, management: seed.Account) -> None:
        pages = self.pages(management, f"SELECT resourceId WHERE {LAMBDA_QUERY}")
        assert [len(page) for page in pages] == [100, 100, 30]
        everything = [name for page in pages for name in page]
        assert sorted(everything) == [f"fn-{index:03d}" for index in range(PAGED_FUNCTIONS)]

    def test_limit_sets_the_page_size_and_order_is_stable(self, many: None, management: seed.Account) -> None:
        expression = f"SELECT resourceId WHERE {LAMBDA_QUERY}"
        pages = self.pages(management, expression, Limit=64)
        assert [len(page) for page in pages] == [64, 64, 64, 38]
        assert pages == self.pages(management, expression, Limit=64)
        assert [name for page in pages for name in page] == [
            name for page in self.pages(management, expression) for name in page
        ]

    def test_limit_over_100_is_refused(self, many: None, management: seed.Account) -> None:
        code, status, message = error_of(select, management, "SELECT resourceId", aggregator="self", Limit=101)
        assert (code, status) == ("InvalidLimitException", 400)
        assert "100" in message
        assert len(select(management, "SELECT resourceId", aggregator="self", Limit=100)["Results"]) == 100

    def test_next_token_is_bound_to_its_expression(self, many: None, management: seed.Account) -> None:
        token = select(management, "SELECT resourceId", aggregator="self")["NextToken"]
        for expression, next_token in [("SELECT resourceName", token), ("SELECT resourceId", "garbage")]:
            code, status, _ = error_of(
                select, management, expression, aggregator="self", NextToken=next_token
            )
            assert (code, status) == ("InvalidNextTokenException", 400)


# --- B. cross-account layers --------------------------------------------------


class TestCrossAccountLayers:
    def test_seeded_functions_use_layers_of_the_shared_account_in_order(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        prod = member(management, world, "workload-prod").client("lambda")
        layers = prod.get_function(FunctionName="payments")["Configuration"]["Layers"]
        assert [layer["Arn"] for layer in layers] == [
            layer_version(world, "shared-utils", 3), layer_version(world, "otel-extension", 1)
        ]
        assert all(layer["CodeSize"] > 0 for layer in layers)

    def test_a_same_named_local_layer_is_not_used_instead(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        prod = member(management, world, "workload-prod")
        prod.client("lambda").publish_layer_version(
            LayerName="shared-utils", Content={"ZipFile": seed.tiny_zip("x.py", "")}
        )
        created = create_function(prod, "uses-shared", [layer_version(world, "shared-utils", 3)])
        assert [layer["Arn"] for layer in created["Layers"]] == [layer_version(world, "shared-utils", 3)]

    def test_unshared_layer_of_another_account_is_denied(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        shared = member(management, world, "shared-layers")
        private = shared.client("lambda").publish_layer_version(
            LayerName="private-lib", Content={"ZipFile": seed.tiny_zip("x.py", "")}
        )["LayerVersionArn"]
        prod = member(management, world, "workload-prod")
        code, status, message = error_of(create_function, prod, "uses-private", [private])
        assert (code, status) == ("AccessDeniedException", 403)
        assert message == (
            f"User: arn:aws:sts::{prod.id}:assumed-role/OrganizationAccountAccessRole/govctl-emulator-seed "
            f"is not authorized to perform: lambda:GetLayerVersion on resource: {private} "
            "because no resource-based policy allows the lambda:GetLayerVersion action"
        )

    def test_organization_share_excludes_accounts_outside_the_organization(
        self, world: dict[str, Any], endpoint: str
    ) -> None:
        vendor = seed.Account(endpoint, seed.VENDOR_ACCOUNT, seed.FAKE_CREDENTIALS, seed.VENDOR_ACCOUNT)
        vendor.client("iam").create_role(
            RoleName="govctl-demo-lambda", AssumeRolePolicyDocument=json.dumps(seed.LAMBDA_TRUST_POLICY)
        )
        code, status, _ = error_of(create_function, vendor, "outsider", [layer_version(world, "shared-utils", 1)])
        assert (code, status) == ("AccessDeniedException", 403)

    def test_public_layer_is_usable_from_any_account(self, world: dict[str, Any], management: seed.Account) -> None:
        created = create_function(management, "uses-vendor", [layer_version(world, "vendor-agent", 2)])
        assert created["Layers"][0]["Arn"].startswith("arn:aws:lambda:us-east-1:999999999999:layer:vendor-agent:2")

    @pytest.mark.parametrize(
        "make_arn, code, status",
        [
            (lambda w: layer_version(w, "shared-utils", 99), "ResourceNotFoundException", 404),
            (lambda w: layer_version(w, "shared-utils", 1, "eu-west-1"), "ResourceNotFoundException", 404),
            (lambda w: w["layers"]["shared-utils@us-east-1"], "ValidationException", 400),
        ],
        ids=["unknown-version", "other-region", "no-version"],
    )
    def test_unusable_layer_arns(self, world: dict[str, Any], management: seed.Account,
                                 make_arn: Any, code: str, status: int) -> None:
        prod = member(management, world, "workload-prod")
        assert error_of(create_function, prod, "broken", [make_arn(world)])[:2] == (code, status)

    def test_update_function_configuration_swaps_a_cross_account_layer(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        prod = member(management, world, "workload-prod").client("lambda")
        before = prod.get_function_configuration(FunctionName="reporting")
        updated = prod.update_function_configuration(
            FunctionName="reporting",
            Layers=[layer_version(world, "otel-extension", 2), layer_version(world, "shared-utils", 2)],
            RevisionId=before["RevisionId"],
        )
        assert [layer["Arn"] for layer in updated["Layers"]] == [
            layer_version(world, "otel-extension", 2), layer_version(world, "shared-utils", 2)
        ]
        response = select(management, f"SELECT configuration.layers.arn WHERE {LAMBDA_QUERY} AND resourceId = 'reporting'")
        assert rows(response)[0]["configuration"]["layers"][0]["arn"] == layer_version(world, "otel-extension", 2)

    def test_get_layer_version_across_accounts(self, world: dict[str, Any], management: seed.Account) -> None:
        prod = member(management, world, "workload-prod").client("lambda")
        arn = layer_version(world, "shared-utils", 2)
        assert prod.get_layer_version_by_arn(Arn=arn)["LayerVersionArn"] == arn
        by_name = prod.get_layer_version(LayerName=world["layers"]["shared-utils@us-east-1"], VersionNumber=2)
        assert by_name["LayerVersionArn"] == arn

    def test_list_layer_versions_by_arn_only_in_the_owner_account(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        layer_arn = world["layers"]["shared-utils@us-east-1"]
        shared = member(management, world, "shared-layers").client("lambda")
        versions = shared.list_layer_versions(LayerName=layer_arn)["LayerVersions"]
        assert [version["Version"] for version in versions] == [3, 2, 1]
        prod = member(management, world, "workload-prod").client("lambda")
        code, status, message = error_of(prod.list_layer_versions, LayerName=layer_arn)
        assert (code, status) == ("AccessDeniedException", 403)
        assert "lambda:ListLayerVersions" in message


class TestRevisionId:
    def test_revision_changes_with_each_update_and_guards_updates(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        dev = member(management, world, "workload-dev").client("lambda")
        first = dev.get_function(FunctionName="dev-api")["Configuration"]["RevisionId"]
        second = dev.update_function_configuration(FunctionName="dev-api", Timeout=10, RevisionId=first)["RevisionId"]
        assert second != first
        assert dev.get_function_configuration(FunctionName="dev-api")["RevisionId"] == second
        code, status, message = error_of(
            dev.update_function_configuration, FunctionName="dev-api", Timeout=20, RevisionId=first
        )
        assert (code, status) == ("PreconditionFailedException", 412)
        assert "does not match the latest Revision Id" in message
        assert dev.get_function_configuration(FunctionName="dev-api")["Timeout"] == 10


# --- C. STS AssumeRole ----------------------------------------------------------


class TestAssumeRole:
    def test_assumed_credentials_act_in_the_member_account(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        prod = member(management, world, "workload-prod")
        identity = prod.client("sts").get_caller_identity()
        assert identity["Account"] == world["accounts"]["workload-prod"]
        assert identity["Arn"].endswith(":assumed-role/OrganizationAccountAccessRole/govctl-emulator-seed")
        prod_functions = {f["FunctionName"] for f in prod.client("lambda").list_functions()["Functions"]}
        assert {"orders-api", "payments", "reporting", "no-layers", "vendor-fn"} <= prod_functions
        management_functions = {f["FunctionName"] for f in management.client("lambda").list_functions()["Functions"]}
        assert "orders-api" not in management_functions

    def test_created_accounts_have_the_organization_access_role(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        for name in ("shared-layers", "workload-prod", "workload-dev"):
            iam = member(management, world, name).client("iam")
            role = iam.get_role(RoleName="OrganizationAccountAccessRole")["Role"]
            assert role["Arn"] == f"arn:aws:iam::{world['accounts'][name]}:role/OrganizationAccountAccessRole"

    def test_role_missing_in_target_account_is_denied(self, world: dict[str, Any], management: seed.Account) -> None:
        sts = management.client("sts")
        for role_arn in (
            f"arn:aws:iam::{seed.VENDOR_ACCOUNT}:role/OrganizationAccountAccessRole",
            f"arn:aws:iam::{world['accounts']['workload-dev']}:role/NoSuchRole",
        ):
            code, status, message = error_of(sts.assume_role, RoleArn=role_arn, RoleSessionName="govctl")
            assert (code, status) == ("AccessDenied", 403)
            assert message == (
                f"User: arn:aws:sts::{seed.MANAGEMENT_ACCOUNT}:user/moto is not authorized to perform: "
                f"sts:AssumeRole on resource: {role_arn}"
            )

    def test_denial_is_an_sts_query_xml_error(self, world: dict[str, Any], endpoint: str) -> None:
        request = urllib.request.Request(
            endpoint,
            method="POST",
            data=(
                "Action=AssumeRole&Version=2011-06-15&RoleSessionName=govctl&RoleArn="
                f"arn:aws:iam::{seed.VENDOR_ACCOUNT}:role/OrganizationAccountAccessRole"
            ).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/sts/aws4_request, "
                "SignedHeaders=host, Signature=0",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 403
        body = caught.value.read().decode()
        assert '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>' in body
        assert "<Code>AccessDenied</Code>" in body

    def test_the_vendor_account_gets_no_role_and_becomes_assumable_once_it_has_one(
        self, world: dict[str, Any], endpoint: str, management: seed.Account
    ) -> None:
        vendor_iam = seed.Account(endpoint, seed.VENDOR_ACCOUNT, seed.FAKE_CREDENTIALS, seed.VENDOR_ACCOUNT).client("iam")
        assert "OrganizationAccountAccessRole" not in {r["RoleName"] for r in vendor_iam.list_roles()["Roles"]}
        vendor_iam.create_role(RoleName="audit", AssumeRolePolicyDocument=json.dumps(seed.LAMBDA_TRUST_POLICY))
        credentials = management.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{seed.VENDOR_ACCOUNT}:role/audit", RoleSessionName="govctl"
        )["Credentials"]
        assert credentials["AccessKeyId"]


# --- D. IAM policies of IAM users ---------------------------------------------------


def as_user(endpoint: str, world: dict[str, Any], name: str) -> seed.Account:
    user = world["users"][name]
    return seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, {
        "aws_access_key_id": user["access_key_id"],
        "aws_secret_access_key": user["secret_access_key"],
    })


class TestUserPolicies:
    def test_a_denied_action_answers_access_denied_in_the_protocols_format(
        self, world: dict[str, Any], endpoint: str
    ) -> None:
        config = as_user(endpoint, world, "no-config-reader").client("config")
        code, status, _ = error_of(
            config.select_aggregate_resource_config,
            Expression="SELECT accountId WHERE resourceType = 'AWS::Lambda::Function'",
            ConfigurationAggregatorName="org-aggregator",
        )
        assert (code, status) == ("AccessDeniedException", 400)

        organizations = as_user(endpoint, world, "no-org-reader").client("organizations")
        code, _, _ = error_of(organizations.list_accounts)
        assert code == "AccessDeniedException"

    def test_what_the_policy_allows_still_works(self, world: dict[str, Any], endpoint: str) -> None:
        user = as_user(endpoint, world, "no-org-reader")
        identity = user.client("sts").get_caller_identity()
        assert identity["Arn"] == f"arn:aws:iam::{seed.MANAGEMENT_ACCOUNT}:user/no-org-reader"
        response = user.client("config").select_aggregate_resource_config(
            Expression="SELECT accountId WHERE resourceType = 'AWS::Lambda::Function'",
            ConfigurationAggregatorName="org-aggregator",
        )
        assert response["Results"]

    def test_other_credentials_are_not_restricted(self, world: dict[str, Any], management: seed.Account) -> None:
        assert management.client("organizations").list_accounts()["Accounts"]

    def test_actions_are_named_by_their_iam_prefix_not_the_signing_name(
        self, endpoint: str, management: seed.Account, tmp_path: Any
    ) -> None:
        """CloudWatch signs as `monitoring` and the tagging API as `tagging`; IAM says
        `cloudwatch:` and `tag:`."""
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData", "tag:GetResources"],
             "Resource": "*"},
        ]}))
        keys = seed.create_policy_user(management, "prefix-reader", policy)
        user = seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, {
            "aws_access_key_id": keys["access_key_id"],
            "aws_secret_access_key": keys["secret_access_key"],
        })
        now = datetime.now(timezone.utc)
        user.client("cloudwatch").get_metric_data(
            MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
                "Namespace": "AWS/AOSS", "MetricName": "IndexingOCU"}, "Period": 60, "Stat": "Maximum"}}],
            StartTime=now - timedelta(hours=1), EndTime=now)
        user.client("resourcegroupstaggingapi").get_resources()
        code, _, message = error_of(user.client("cloudwatch").list_metrics)
        assert code in ("AccessDenied", "AccessDeniedException"), (code, message)
        assert "cloudwatch:ListMetrics" in message


# --- seeding, reset ---------------------------------------------------------------


class TestSeed:
    def test_test_scenario_manifest(self, world: dict[str, Any]) -> None:
        assert world["scenario"] == "test"
        assert world["management_account"] == "123456789012"
        assert set(world["accounts"]) == {"shared-layers", "workload-prod", "workload-dev", "vendor"}
        assert world["accounts"]["vendor"] == "999999999999"
        assert world["aggregators"] == ["org-aggregator", "accounts-aggregator"]
        assert set(world["layers"]) == {
            "shared-utils@us-east-1", "otel-extension@us-east-1", "shared-utils@eu-west-1",
            "mgmt-tools@us-east-1", "vendor-agent@us-east-1",
        }
        by_name = {f["function_name"]: f for f in world["functions"]}
        assert by_name["dev-worker"]["layers"] == [
            layer_version(world, "shared-utils", 2), layer_version(world, "otel-extension", 2)
        ]
        assert by_name["vendor-fn"]["layers"] == [layer_version(world, "vendor-agent", 1)]
        assert by_name["eu-orders"]["layers"] == [layer_version(world, "shared-utils", 1, "eu-west-1")]
        assert by_name["mgmt-ops"]["account_id"] == "123456789012"

    def test_organization_shape(self, world: dict[str, Any], management: seed.Account) -> None:
        organizations = management.client("organizations")
        units = world["organizational_units"]
        children = organizations.list_organizational_units_for_parent(ParentId=units["Workloads"])
        assert {ou["Name"] for ou in children["OrganizationalUnits"]} == {"Prod", "Dev"}
        for name, path in (("shared-layers", "Shared"), ("workload-prod", "Workloads/Prod"), ("workload-dev", "Workloads/Dev")):
            parents = organizations.list_parents(ChildId=world["accounts"][name])["Parents"]
            assert parents == [{"Id": units[path], "Type": "ORGANIZATIONAL_UNIT"}]

    def test_reset_then_demo_seed_from_the_command_line(self, world: dict[str, Any], endpoint: str,
                                                         management: seed.Account) -> None:
        reset(endpoint)
        with pytest.raises(ClientError):
            select(management, "SELECT resourceId")
        output = subprocess.run(
            [sys.executable, str(HERE / "seed.py"), "--endpoint", endpoint, "--scenario", "demo"],
            check=True, capture_output=True, text=True,
        ).stdout
        demo = json.loads(output)
        assert demo["scenario"] == "demo"
        assert len(demo["functions"]) >= 30
        response = select(management, f"SELECT accountId, resourceId WHERE {LAMBDA_QUERY}")
        assert sorted((row["accountId"], row["resourceId"]) for row in rows(response)) == sorted(
            (function["account_id"], function["function_name"]) for function in demo["functions"]
        )
