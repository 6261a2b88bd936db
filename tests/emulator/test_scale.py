"""Tests of the generated `scale` organization, bulk creation and the aggregate query's cache.

The benchmark trusts the scale manifest instead of listing 20,000 functions, so
a small scale run is checked against what ListFunctions and the aggregate query
say. Functions made by `POST /_govctl/bulk-functions` must be ordinary moto
functions, refused for the same reasons CreateFunction refuses them. The
aggregate query keeps its rows between pages, so every change to a function
must show in the next query.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

import seed
from harness import HERE, control, reset

SMALL = seed.ScaleParameters(accounts=5, regions=2, functions=300, seed=11)
LAMBDA_QUERY = "resourceType = 'AWS::Lambda::Function'"
ROW_FIELDS = "accountId, awsRegion, resourceId, configuration.layers, tags"


@pytest.fixture(scope="class")
def scale(endpoint: str) -> dict[str, Any]:
    reset(endpoint)
    return seed.seed_scale(endpoint, SMALL)


@pytest.fixture(scope="class")
def management(endpoint: str) -> seed.Account:
    return seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, seed.FAKE_CREDENTIALS)


def select_all(account: seed.Account, expression: str) -> list[dict[str, Any]]:
    """Every row of an aggregate query, page by page."""
    config = account.client("config")
    found, token = [], None
    while True:
        response = config.select_aggregate_resource_config(
            Expression=expression, ConfigurationAggregatorName="org-aggregator",
            **({"NextToken": token} if token else {}),
        )
        found += [json.loads(result) for result in response["Results"]]
        token = response.get("NextToken")
        if not token:
            return found


def workload_ids(manifest: dict[str, Any]) -> list[str]:
    return [account_id for name, account_id in manifest["accounts"].items() if name.startswith("workload-")]


def layer_uses(manifest: dict[str, Any]) -> list[tuple[str, int]]:
    """(name@region, how many versions behind the newest) for every layer some function uses."""
    uses = []
    for arn, count in manifest["layer_version_usage"].items():
        _, _, _, region, _, _, name, version = arn.split(":")
        newest = manifest["newest_versions"][f"{name}@{region}"]
        uses += [(f"{name}@{region}", newest - int(version))] * count
    return uses


class TestScaleScenario:
    def test_organization_shape_and_counts(self, scale: dict[str, Any], management: seed.Account) -> None:
        assert scale["scenario"] == "scale"
        assert scale["regions"] == ["us-east-1", "eu-west-1"]
        assert len(workload_ids(scale)) == 3
        organization = management.client("organizations").list_accounts()["Accounts"]
        assert len(organization) == 5
        assert {account["Id"] for account in organization} == {
            seed.MANAGEMENT_ACCOUNT, *(id_ for name, id_ in scale["accounts"].items() if name != "vendor")
        }
        counts = scale["counts"]
        assert counts["accounts"] == 5 and counts["workload_accounts"] == 3 and counts["regions"] == 2
        assert counts["functions"] == 300
        assert sum(n for regions in scale["function_counts"].values() for n in regions.values()) == 300
        assert sum(scale["layer_version_usage"].values()) == len(layer_uses(scale))

    def test_layers_in_every_region_and_the_vendor_layer(self, scale: dict[str, Any]) -> None:
        expected = {f"{name}@{region}" for name in seed.SCALE_LAYERS for region in scale["regions"]}
        assert set(scale["layers"]) == expected | {"vendor-agent@us-east-1"}
        for key, newest in scale["newest_versions"].items():
            if not key.startswith("vendor-agent"):
                assert 8 <= newest <= 20
        assert scale["counts"]["layer_versions"] == sum(scale["newest_versions"].values())

    def test_layer_versions_spread_like_a_real_organization(self, scale: dict[str, Any]) -> None:
        lags = Counter(lag for _, lag in layer_uses(scale))
        assert lags[0] + lags[1] > 0.6 * sum(lags.values())  # mostly newest or one behind
        assert lags[0] > lags[1] > lags[2] > 0
        assert max(lags) >= 4  # and a tail of old versions
        counts = scale["counts"]
        assert 0 < counts["functions_with_layers"] < counts["functions"]
        assert 0 < counts["cloudformation_functions"] < counts["functions"]

    def test_outdated_arns_are_the_used_versions_older_than_the_newest(self, scale: dict[str, Any]) -> None:
        expected = set()
        for arn in scale["layer_version_usage"]:
            layer_arn, _, version = arn.rpartition(":")
            key = next(key for key, value in scale["layers"].items() if value == layer_arn)
            if int(version) < scale["newest_versions"][key]:
                expected.add(arn)
        assert set(scale["outdated_layer_version_arns"]) == expected
        assert len(scale["outdated_layer_version_arns"]) == len(expected)

    def test_list_functions_in_each_account_and_region_agrees(
        self, scale: dict[str, Any], management: seed.Account
    ) -> None:
        for account_id in workload_ids(scale):
            member = management.assume(account_id)
            for region in scale["regions"]:
                pages = member.client("lambda", region).get_paginator("list_functions").paginate()
                functions = [function for page in pages for function in page["Functions"]]
                assert len(functions) == scale["function_counts"].get(account_id, {}).get(region, 0)
                assert all(len(function.get("Layers", [])) <= 3 for function in functions)

    def test_the_aggregate_query_agrees(self, scale: dict[str, Any], management: seed.Account) -> None:
        found = select_all(management, f"SELECT {ROW_FIELDS} WHERE {LAMBDA_QUERY}")
        places = Counter((row["accountId"], row["awsRegion"]) for row in found)
        assert places == Counter({
            (account, region): n
            for account, regions in scale["function_counts"].items()
            for region, n in regions.items()
        })
        usage = Counter(layer["arn"] for row in found for layer in row["configuration"]["layers"])
        assert usage == Counter(scale["layer_version_usage"])
        stacks = [row for row in found if any(tag["key"] == seed.CFN_STACK_TAG for tag in row["tags"])]
        assert len(stacks) == scale["counts"]["cloudformation_functions"]

    def test_a_query_per_outdated_arn_finds_its_users(self, scale: dict[str, Any], management: seed.Account) -> None:
        for arn in scale["outdated_layer_version_arns"][:5]:
            found = select_all(
                management, f"SELECT resourceId WHERE {LAMBDA_QUERY} AND configuration.layers.arn = '{arn}'"
            )
            assert len(found) == scale["layer_version_usage"][arn]

    def test_the_same_seed_gives_the_same_organization(
        self, scale: dict[str, Any], endpoint: str, management: seed.Account
    ) -> None:
        before = select_all(management, f"SELECT {ROW_FIELDS} WHERE {LAMBDA_QUERY}")
        reset(endpoint)
        again = seed.seed_scale(endpoint, SMALL)
        assert again == scale  # account IDs too: moto's random generator is seeded
        assert select_all(management, f"SELECT {ROW_FIELDS} WHERE {LAMBDA_QUERY}") == before

    def test_another_seed_gives_another_organization(self) -> None:
        first = seed.build_scale_scenario(SMALL)
        assert seed.build_scale_scenario(SMALL) == first
        assert seed.build_scale_scenario(seed.ScaleParameters(5, 2, 300, seed=12)) != first


class TestScaleCommandLine:
    def run(self, endpoint: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(HERE / "seed.py"), "--endpoint", endpoint, *arguments],
            capture_output=True, text=True,
        )

    def test_scale_options(self, endpoint: str) -> None:
        reset(endpoint)
        result = self.run(endpoint, "--scenario", "scale", "--accounts", "3", "--regions", "1", "--functions", "40")
        assert result.returncode == 0, result.stderr
        manifest = json.loads(result.stdout)
        assert manifest["counts"]["functions"] == 40
        assert manifest["regions"] == ["us-east-1"]
        assert manifest["seed"] == seed.ScaleParameters().seed
        assert "functions" not in manifest

    @pytest.mark.parametrize("arguments", [
        ("--scenario", "test", "--functions", "10"),
        ("--scenario", "scale", "--accounts", "2"),
        ("--scenario", "scale", "--regions", "9"),
    ])
    def test_refused_options(self, endpoint: str, arguments: tuple[str, ...]) -> None:
        result = self.run(endpoint, *arguments)
        assert result.returncode == 2
        assert "error:" in result.stderr


# --- POST /_govctl/bulk-functions ---------------------------------------------------


def spec(scale: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    account_id = workload_ids(scale)[0]
    return {
        "account_id": account_id,
        "region": "us-east-1",
        "name": name,
        "runtime": "python3.12",
        "role": f"arn:aws:iam::{account_id}:role/govctl-demo-lambda",
        "layers": [f"{scale['layers']['shared-utils@us-east-1']}:1"],
        "tags": {"team": "bulk"},
        **changes,
    }


class TestBulkFunctions:
    def test_bulk_functions_are_ordinary_functions(self, scale: dict[str, Any], endpoint: str,
                                                     management: seed.Account) -> None:
        status, answer = control(endpoint, "POST", "bulk-functions", [spec(scale, "bulk-a"), spec(scale, "bulk-b")])
        assert (status, answer) == (200, {"created": 2})
        lam = management.assume(workload_ids(scale)[0]).client("lambda")
        function = lam.get_function(FunctionName="bulk-a")
        assert [layer["Arn"] for layer in function["Configuration"]["Layers"]] == spec(scale, "x")["layers"]
        assert function["Configuration"]["RevisionId"]
        assert lam.list_tags(Resource=function["Configuration"]["FunctionArn"])["Tags"] == {"team": "bulk"}
        assert {"bulk-a", "bulk-b"} <= {f["FunctionName"] for f in lam.list_functions()["Functions"]}
        found = select_all(management, f"SELECT resourceId WHERE {LAMBDA_QUERY} AND resourceId = 'bulk-b'")
        assert found == [{"resourceId": "bulk-b"}]

    @pytest.mark.parametrize("change, code", [
        (lambda s: {"role": f"arn:aws:iam::{workload_ids(s)[0]}:role/missing"}, "InvalidParameterValueException"),
        (lambda s: {"layers": [f"{s['layers']['shared-utils@us-east-1']}:99"]}, "ResourceNotFoundException"),
        (lambda s: {"layers": ["not-an-arn"]}, "ValidationException"),
        (lambda s: {"name": "first"}, "ResourceConflictException"),
    ], ids=["missing-role", "unknown-layer-version", "malformed-layer", "name-in-use"])
    def test_moto_refuses_what_create_function_refuses_and_keeps_what_came_before(
        self, scale: dict[str, Any], endpoint: str, management: seed.Account, change: Any, code: str
    ) -> None:
        lam = management.assume(workload_ids(scale)[0]).client("lambda")
        for name in ("first", "bad"):
            try:
                lam.delete_function(FunctionName=name)
            except ClientError:
                pass
        status, answer = control(endpoint, "POST", "bulk-functions",
                                 [spec(scale, "first"), {**spec(scale, "bad"), **change(scale)}])
        assert status == 400
        assert (answer["code"], answer["index"], answer["created"]) == (code, 1, 1)
        assert lam.get_function(FunctionName="first")

    def test_an_unshared_layer_is_denied(self, scale: dict[str, Any], endpoint: str,
                                         management: seed.Account) -> None:
        shared = management.assume(scale["accounts"]["shared-layers"]).client("lambda")
        private = shared.publish_layer_version(
            LayerName="private-lib", Content={"ZipFile": seed.tiny_zip("x.py", "")}
        )["LayerVersionArn"]
        status, answer = control(endpoint, "POST", "bulk-functions", [spec(scale, "private", layers=[private])])
        assert status == 400
        assert answer["code"] == "AccessDeniedException"

    @pytest.mark.parametrize("document", [
        {"name": "x"},
        [{"name": "x"}],
        [{"account_id": "12", "region": "us-east-1", "name": "x", "runtime": "python3.12", "role": "r"}],
        [{"account_id": "123456789012", "region": "nowhere", "name": "x", "runtime": "python3.12", "role": "r"}],
        [{"account_id": "123456789012", "region": "us-east-1", "name": "x", "runtime": "python3.12", "role": "r",
          "layers": "arn"}],
        [{"account_id": "123456789012", "region": "us-east-1", "name": "x", "runtime": "python3.12", "role": "r",
          "memory": 128}],
    ])
    def test_malformed_specs_create_nothing(self, scale: dict[str, Any], endpoint: str, document: Any,
                                            management: seed.Account) -> None:
        status, answer = control(endpoint, "POST", "bulk-functions", document)
        assert status == 400
        assert answer["message"] and answer.get("created", 0) == 0
        assert "x" not in {f["FunctionName"] for f in management.client("lambda").list_functions()["Functions"]}


# --- the aggregate query's row cache follows every change ------------------------------


class TestQueryCacheFollowsChanges:
    def rows(self, management: seed.Account, name: str) -> list[dict[str, Any]]:
        return select_all(
            management, f"SELECT resourceId, tags, configuration.layers WHERE {LAMBDA_QUERY} AND resourceId = '{name}'"
        )

    def test_tags_updates_deletion_and_creation_show_at_once(
        self, scale: dict[str, Any], endpoint: str, management: seed.Account
    ) -> None:
        control(endpoint, "POST", "bulk-functions", [spec(scale, "cached", layers=[], tags={})])
        lam = management.assume(workload_ids(scale)[0]).client("lambda")
        arn = lam.get_function(FunctionName="cached")["Configuration"]["FunctionArn"]
        assert self.rows(management, "cached") == [{"resourceId": "cached", "tags": [],
                                                    "configuration": {"layers": []}}]

        lam.tag_resource(Resource=arn, Tags={"owner": "me"})
        assert [tag["key"] for tag in self.rows(management, "cached")[0]["tags"]] == ["owner"]
        lam.untag_resource(Resource=arn, TagKeys=["owner"])
        assert self.rows(management, "cached")[0]["tags"] == []

        layer = f"{scale['layers']['otel-extension@us-east-1']}:2"
        lam.update_function_configuration(FunctionName="cached", Layers=[layer])
        assert self.rows(management, "cached")[0]["configuration"]["layers"][0]["arn"] == layer

        lam.delete_function(FunctionName="cached")
        assert self.rows(management, "cached") == []
        with pytest.raises(ClientError):
            lam.get_function(FunctionName="cached")

    def test_pages_of_an_unchanged_query_come_from_one_snapshot(
        self, scale: dict[str, Any], management: seed.Account
    ) -> None:
        expression = f"SELECT accountId, awsRegion, resourceId WHERE {LAMBDA_QUERY}"
        first = select_all(management, expression)
        assert first == select_all(management, expression)
        assert first == sorted(first, key=lambda row: (row["accountId"], row["awsRegion"], row["resourceId"]))


# --- ListFunctions pages -----------------------------------------------------------------


@pytest.fixture(scope="class")
def lam(scale: dict[str, Any], endpoint: str, management: seed.Account) -> Any:
    """A Lambda client for a region holding only functions fn-000 to fn-119 (made in reverse)."""
    names = [f"fn-{index:03d}" for index in range(120)]
    specs = [{**spec(scale, name), "region": "ap-northeast-1", "layers": []} for name in reversed(names)]
    assert control(endpoint, "POST", "bulk-functions", specs)[0] == 200
    return management.assume(workload_ids(scale)[0]).client("lambda", "ap-northeast-1")


class TestListFunctionsPages:
    def test_pages_hold_at_most_50_functions_in_name_order(self, lam: Any) -> None:
        first = lam.list_functions()
        assert [f["FunctionName"] for f in first["Functions"]] == [f"fn-{index:03d}" for index in range(50)]
        assert first["NextMarker"]
        assert len(lam.list_functions(MaxItems=500)["Functions"]) == 50
        pages = list(lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 7}))
        assert [len(page["Functions"]) for page in pages] == [7] * 17 + [1]
        assert "NextMarker" not in pages[-1]

    def test_a_marker_continues_after_its_function_even_if_it_is_deleted(self, lam: Any) -> None:
        first = lam.list_functions(MaxItems=10)
        lam.delete_function(FunctionName="fn-009")
        second = lam.list_functions(MaxItems=10, Marker=first["NextMarker"])
        assert second["Functions"][0]["FunctionName"] == "fn-010"

    def test_an_unreadable_marker_is_refused(self, lam: Any) -> None:
        with pytest.raises(ClientError) as caught:
            lam.list_functions(Marker="not a marker")
        assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
