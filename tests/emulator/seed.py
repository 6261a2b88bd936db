"""Seed the emulator with an organization whose functions use shared Lambda layers.

    .venv/bin/python tests/emulator/seed.py --endpoint http://127.0.0.1:PORT --scenario test|demo|tailscale
    .venv/bin/python tests/emulator/seed.py --endpoint ... --scenario scale \
        [--accounts 50] [--regions 4] [--functions 20000] [--seed 7]
    .venv/bin/python tests/emulator/seed.py --endpoint ... --scenario cost
    .venv/bin/python tests/emulator/seed.py --endpoint ... --scenario ocu
    .venv/bin/python tests/emulator/seed.py --endpoint ... --scenario sweep

Everything goes through boto3 over the wire, as a client would: the management
account (moto's default, 123456789012) creates the organization and its
accounts, then acts inside each member account through
`sts:AssumeRole` on `OrganizationAccountAccessRole`. The third-party account
999999999999 is outside the organization and has no such role; the seed acts
there with moto's `x-moto-account-id` request header instead.

Prints one JSON manifest on stdout (account IDs, layer ARNs, functions) for the
tests and the demo to assert on. `test` is small and exact; `demo` is larger.

`cost` makes a small organization without Lambda and seeds the Cost Explorer table
of its payer (govctl_emulator/cost_explorer.py) in months relative to today.

`ocu` seeds OpenSearch Serverless capacity limits, collections, OCU metrics and
User Notifications (configurations, hubs, notification events) for `govctl ocu`.

`sweep` is the `test` organization plus OCU limits and usage and a Cost Explorer
table on its accounts: something for every area of `govctl sweep` to find.

`scale` generates an organization of any size for the benchmark, the same for
the same --seed (moto's own random generator is seeded too, so even account IDs
repeat). Its functions are too many to create one call at a time: they go
through the emulator's `POST /_govctl/bulk-functions` in batches, and its
manifest gives counts, layer versions and usage instead of every function.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

HOME_REGION = "us-east-1"
MANAGEMENT_ACCOUNT = "123456789012"
VENDOR_ACCOUNT = "999999999999"
MEMBER_ROLE = "OrganizationAccountAccessRole"
LAYER_RUNTIME = "python3.12"
CFN_STACK_TAG = "aws:cloudformation:stack-name"
LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
CONFIG_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "config.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


# --- scenario descriptions -------------------------------------------------


@dataclass(frozen=True)
class MemberAccount:
    name: str
    ou_path: str  # e.g. "Workloads/Prod"


@dataclass(frozen=True)
class Layer:
    account: str  # "management", "vendor" or a member account name
    region: str
    name: str
    versions: int
    # "organization": any account of the caller's organization; "public": everyone.
    shared_with: str


@dataclass(frozen=True)
class Function:
    account: str
    region: str
    name: str
    layers: tuple[tuple[str, int], ...]  # (layer name, version) in the function's region
    runtime: str = "python3.12"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    ous: tuple[str, ...]  # paths, parents before children
    accounts: tuple[MemberAccount, ...]
    layers: tuple[Layer, ...]
    functions: tuple[Function, ...]


def build_test_scenario() -> Scenario:
    eu = "eu-west-1"
    us = HOME_REGION
    return Scenario(
        name="test",
        ous=("Shared", "Workloads", "Workloads/Prod", "Workloads/Dev"),
        accounts=(
            MemberAccount("shared-layers", "Shared"),
            MemberAccount("workload-prod", "Workloads/Prod"),
            MemberAccount("workload-dev", "Workloads/Dev"),
        ),
        layers=(
            Layer("shared-layers", us, "shared-utils", 3, "organization"),
            Layer("shared-layers", us, "otel-extension", 2, "organization"),
            Layer("shared-layers", eu, "shared-utils", 2, "organization"),
            Layer("management", us, "mgmt-tools", 2, "organization"),
            Layer("vendor", us, "vendor-agent", 2, "public"),
        ),
        functions=(
            Function(
                "workload-prod", us, "orders-api", (("shared-utils", 1),),
                tags={CFN_STACK_TAG: "orders-stack"},
            ),
            Function(
                "workload-prod", us, "payments", (("shared-utils", 3), ("otel-extension", 1)),
                runtime="nodejs20.x",
            ),
            Function("workload-prod", us, "reporting", (("otel-extension", 1), ("shared-utils", 2))),
            Function("workload-prod", us, "no-layers", ()),
            Function("workload-prod", us, "vendor-fn", (("vendor-agent", 1),)),
            Function("workload-prod", eu, "eu-orders", (("shared-utils", 1),)),
            Function("workload-dev", us, "dev-api", (("shared-utils", 3),)),
            Function("workload-dev", us, "dev-worker", (("shared-utils", 2), ("otel-extension", 2))),
            Function("workload-dev", eu, "dev-eu", (("shared-utils", 2),)),
            Function("management", us, "mgmt-ops", (("mgmt-tools", 1),)),
        ),
    )


DEMO_REGIONS = (HOME_REGION, "eu-west-1")
DEMO_WORKLOADS = ("workload-prod", "workload-staging", "workload-dev")
DEMO_SERVICES = ("orders-api", "payments", "inventory", "notifications", "reporting", "search")
DEMO_RUNTIMES = ("python3.12", "nodejs20.x", "python3.11")
# Layer lists that functions cycle through: current, outdated, mixed, none.
DEMO_LAYER_PLANS: tuple[tuple[tuple[str, int], ...], ...] = (
    (("shared-utils", 5),),
    (("shared-utils", 3), ("otel-extension", 3)),
    (),
    (("otel-extension", 2), ("shared-utils", 5)),
    (("shared-utils", 4),),
    (("shared-utils", 5), ("otel-extension", 3), ("vendor-agent", 2)),
    (("shared-utils", 1), ("otel-extension", 1)),
    (("otel-extension", 3),),
    (("vendor-agent", 1), ("shared-utils", 5)),
    (("shared-utils", 2), ("otel-extension", 3), ("vendor-agent", 1)),
)


def build_demo_scenario() -> Scenario:
    layers = [
        Layer("shared-layers", region, name, versions, "organization")
        for region in DEMO_REGIONS
        for name, versions in (("shared-utils", 5), ("otel-extension", 3))
    ]
    layers += [
        Layer("management", HOME_REGION, "mgmt-tools", 2, "organization"),
        Layer("vendor", HOME_REGION, "vendor-agent", 2, "public"),
    ]
    functions = list(_demo_workload_functions())
    functions.append(Function("management", HOME_REGION, "mgmt-ops", (("mgmt-tools", 1),)))
    return Scenario(
        name="demo",
        ous=("Shared", "Workloads", "Workloads/Prod", "Workloads/Staging", "Workloads/Dev"),
        accounts=(
            MemberAccount("shared-layers", "Shared"),
            MemberAccount("workload-prod", "Workloads/Prod"),
            MemberAccount("workload-staging", "Workloads/Staging"),
            MemberAccount("workload-dev", "Workloads/Dev"),
        ),
        layers=tuple(layers),
        functions=tuple(functions),
    )


def _demo_workload_functions() -> Iterator[Function]:
    """Six functions per workload account and region, spread over the layer plans."""
    counter = 0
    for account in DEMO_WORKLOADS:
        for region in DEMO_REGIONS:
            for service in DEMO_SERVICES:
                plan = DEMO_LAYER_PLANS[(counter * 7) % len(DEMO_LAYER_PLANS)]
                if region != HOME_REGION:  # the vendor publishes in us-east-1 only
                    plan = tuple(layer for layer in plan if layer[0] != "vendor-agent")
                tags = {"team": service.split("-")[0]}
                if counter % 3 == 0:
                    tags[CFN_STACK_TAG] = f"{service}-stack"
                yield Function(
                    account, region, service, plan,
                    runtime=DEMO_RUNTIMES[counter % len(DEMO_RUNTIMES)],
                    tags=tags,
                )
                counter += 1


def build_tailscale_scenario() -> Scenario:
    """Two workload accounts, each with a stand-in for the rotation function in us-east-1
    (RotateSecret wants one that exists); the Tailscale tests add their own secrets."""
    return Scenario(
        name="tailscale",
        ous=("Workloads",),
        accounts=(MemberAccount("workload-prod", "Workloads"), MemberAccount("workload-dev", "Workloads")),
        layers=(),
        functions=(
            Function("workload-prod", HOME_REGION, "tailscale-rotation", ()),
            Function("workload-dev", HOME_REGION, "tailscale-rotation", ()),
        ),
    )


SCENARIOS = {"test": build_test_scenario, "demo": build_demo_scenario, "tailscale": build_tailscale_scenario}
# Scenarios whose manifest carries the IAM users below (a second principal approves changes).
SCENARIOS_WITH_USERS = ("test", "tailscale")

SCALE_REGIONS = (
    HOME_REGION, "eu-west-1", "us-west-2", "ap-southeast-2",
    "eu-central-1", "ap-northeast-1", "ca-central-1", "sa-east-1",
)
SCALE_OUS = ("Shared", "Workloads", "Workloads/Prod", "Workloads/Staging", "Workloads/Dev")
SCALE_WORKLOAD_OUS = ("Workloads/Prod", "Workloads/Staging", "Workloads/Dev")
SCALE_LAYERS = ("shared-utils", "otel-extension", "data-sdk")
SCALE_LAYER_VERSIONS = (8, 20)  # each shared layer has between these many versions per region
SCALE_VENDOR_VERSIONS = 4
SCALE_SERVICES = {  # service: owning team
    "orders": "commerce", "payments": "commerce", "cart": "commerce", "inventory": "supply",
    "shipping": "supply", "search": "discovery", "recommendations": "discovery",
    "notifications": "platform", "auth": "platform", "reporting": "data", "etl": "data",
}
SCALE_RUNTIMES = ("python3.12", "python3.11", "nodejs20.x", "nodejs22.x", "java21")
SCALE_LAYER_COUNT_WEIGHTS = (20, 40, 28, 12)  # functions with 0, 1, 2, 3 layers
SCALE_OLDER_VERSION = 0.45  # chance of pinning one version further back, at each step back
SCALE_CFN_SHARE = 0.3  # functions made by CloudFormation


@dataclass(frozen=True)
class ScaleParameters:
    accounts: int = 50  # in the organization: management, shared-layers, then workloads
    regions: int = 4  # the first of SCALE_REGIONS
    functions: int = 20_000
    seed: int = 7

    def problems(self) -> list[str]:
        problems = []
        if self.accounts < 3:
            problems.append("--accounts must be at least 3 (management, shared-layers, one workload)")
        if not 1 <= self.regions <= len(SCALE_REGIONS):
            problems.append(f"--regions must be between 1 and {len(SCALE_REGIONS)}")
        if self.functions < 0:
            problems.append("--functions must not be negative")
        return problems


def build_scale_scenario(parameters: ScaleParameters) -> Scenario:
    """A generated organization: every shared layer in every region, functions spread over workloads."""
    rng = random.Random(parameters.seed)
    regions = SCALE_REGIONS[: parameters.regions]
    width = len(str(parameters.accounts - 2))
    workloads = tuple(
        MemberAccount(f"workload-{index:0{width}d}", SCALE_WORKLOAD_OUS[index % len(SCALE_WORKLOAD_OUS)])
        for index in range(1, parameters.accounts - 1)
    )
    layers = [
        Layer("shared-layers", region, name, rng.randint(*SCALE_LAYER_VERSIONS), "organization")
        for region in regions
        for name in SCALE_LAYERS
    ]
    layers.append(Layer("vendor", HOME_REGION, "vendor-agent", SCALE_VENDOR_VERSIONS, "public"))
    return Scenario(
        name="scale",
        ous=SCALE_OUS,
        accounts=(MemberAccount("shared-layers", "Shared"), *workloads),
        layers=tuple(layers),
        functions=tuple(_scale_functions(rng, workloads, regions, layers, parameters.functions)),
    )


def _scale_functions(rng: random.Random, workloads: tuple[MemberAccount, ...], regions: tuple[str, ...],
                     layers: list[Layer], count: int) -> Iterator[Function]:
    """`count` functions; some accounts hold several times as many as others."""
    weights = [rng.uniform(1, 4) for _ in workloads]
    layers_by_region = {region: [layer for layer in layers if layer.region == region] for region in regions}
    services = sorted(SCALE_SERVICES)
    numbers: Counter[tuple[str, str]] = Counter()
    for _ in range(count):
        account = rng.choices(workloads, weights)[0].name
        region = rng.choice(regions)
        service = rng.choice(services)
        numbers[account, region] += 1
        chosen = rng.sample(layers_by_region[region], rng.choices(range(4), SCALE_LAYER_COUNT_WEIGHTS)[0])
        tags = {"team": SCALE_SERVICES[service], "service": service}
        if rng.random() < SCALE_CFN_SHARE:
            tags[CFN_STACK_TAG] = f"{service}-stack"
        yield Function(
            account, region, f"{service}-{numbers[account, region]:05d}",
            tuple((layer.name, _pinned_version(rng, layer.versions)) for layer in chosen),
            runtime=rng.choice(SCALE_RUNTIMES),
            tags=tags,
        )


def _pinned_version(rng: random.Random, newest: int) -> int:
    """Mostly the newest version or the one before; ever fewer further back (geometric)."""
    version = newest
    while version > 1 and rng.random() < SCALE_OLDER_VERSION:
        version -= 1
    return version


# --- talking to the emulator ------------------------------------------------


# One session for every account's clients: a session loads each service model
# once (a fresh session per account costs ~0.2 s and megabytes per client).
SESSION = boto3.Session()


class Account:
    """Clients acting inside one account."""

    def __init__(self, endpoint: str, account_id: str, credentials: dict[str, str],
                 account_header: str | None = None):
        self.id = account_id
        self._endpoint = endpoint
        self._credentials = credentials
        self._account_header = account_header
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str = HOME_REGION) -> Any:
        if (service, region) not in self._clients:
            client = SESSION.client(
                service,
                region_name=region,
                endpoint_url=self._endpoint,
                config=Config(retries={"max_attempts": 1}),
                **self._credentials,
            )
            if self._account_header:
                client.meta.events.register("before-sign.*.*", self._add_account_header)
            self._clients[service, region] = client
        return self._clients[service, region]

    def _add_account_header(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self._account_header

    def assume(self, account_id: str) -> Account:
        response = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{MEMBER_ROLE}",
            RoleSessionName="govctl-emulator-seed",
        )
        credentials = response["Credentials"]
        return Account(self._endpoint, account_id, {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        })


FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def tiny_zip(path: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(path, text)
    return buffer.getvalue()


def create_organization(management: Account, scenario: Scenario) -> tuple[str, dict[str, str], dict[str, str]]:
    """Organization, OUs and member accounts; returns (org id, OU ids by path, account ids by name)."""
    organizations = management.client("organizations")
    organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root_id = organizations.list_roots()["Roots"][0]["Id"]
    ou_ids: dict[str, str] = {}
    for path in scenario.ous:
        parent, _, name = path.rpartition("/")
        ou = organizations.create_organizational_unit(
            ParentId=ou_ids[parent] if parent else root_id, Name=name
        )
        ou_ids[path] = ou["OrganizationalUnit"]["Id"]
    account_ids = {}
    for member in scenario.accounts:
        account_ids[member.name] = create_account(organizations, member.name)
        organizations.move_account(
            AccountId=account_ids[member.name],
            SourceParentId=root_id,
            DestinationParentId=ou_ids[member.ou_path],
        )
    return organization_id, ou_ids, account_ids


def create_account(organizations: Any, name: str) -> str:
    status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
    request_id = status["CreateAccountStatus"]["Id"]
    while status["CreateAccountStatus"]["State"] == "IN_PROGRESS":
        status = organizations.describe_create_account_status(CreateAccountRequestId=request_id)
    if status["CreateAccountStatus"]["State"] != "SUCCEEDED":
        raise RuntimeError(f"CreateAccount {name} failed: {status['CreateAccountStatus']}")
    return status["CreateAccountStatus"]["AccountId"]


def publish_layer(account: Account, layer: Layer, organization_id: str) -> str:
    """Publishes every version, shares it, and returns the layer ARN (without version)."""
    lam = account.client("lambda", layer.region)
    for version in range(1, layer.versions + 1):
        published = lam.publish_layer_version(
            LayerName=layer.name,
            Description=f"{layer.name} version {version}",
            Content={"ZipFile": tiny_zip(f"python/{layer.name.replace('-', '_')}.py", f"VERSION = {version}\n")},
            CompatibleRuntimes=[LAYER_RUNTIME],
        )
        sharing = {"OrganizationId": organization_id} if layer.shared_with == "organization" else {}
        lam.add_layer_version_permission(
            LayerName=layer.name,
            VersionNumber=published["Version"],
            StatementId=f"share-{layer.shared_with}",
            Action="lambda:GetLayerVersion",
            Principal="*",
            **sharing,
        )
    return published["LayerArn"]


def create_lambda_role(account: Account) -> str:
    role = account.client("iam").create_role(
        RoleName="govctl-demo-lambda",
        AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
    )
    return role["Role"]["Arn"]


def version_arns(function: Function, layer_arns: dict[str, str]) -> list[str]:
    """The function's layer version ARNs, in its order."""
    return [f"{layer_arns[f'{name}@{function.region}']}:{version}" for name, version in function.layers]


def create_function(account: Account, function: Function, role_arn: str, layer_arns: dict[str, str]) -> dict[str, Any]:
    created = account.client("lambda", function.region).create_function(
        FunctionName=function.name,
        Runtime=function.runtime,
        Role=role_arn,
        Handler="index.handler",
        Code={"ZipFile": tiny_zip("index.py", "def handler(event, context):\n    return event\n")},
        Layers=version_arns(function, layer_arns),
        Tags=function.tags,
    )
    return {
        "account_id": account.id,
        "region": function.region,
        "function_name": created["FunctionName"],
        "function_arn": created["FunctionArn"],
        "layers": [layer["Arn"] for layer in created.get("Layers", [])],
        "tags": function.tags,
    }


def create_aggregators(management: Account, account_ids: dict[str, str], scenario: Scenario) -> list[str]:
    role = management.client("iam").create_role(
        RoleName="config-aggregator", AssumeRolePolicyDocument=json.dumps(CONFIG_TRUST_POLICY)
    )
    config = management.client("config")
    config.put_configuration_aggregator(
        ConfigurationAggregatorName="org-aggregator",
        OrganizationAggregationSource={"RoleArn": role["Role"]["Arn"], "AllAwsRegions": True},
    )
    names = ["org-aggregator"]
    if scenario.name == "test":
        config.put_configuration_aggregator(
            ConfigurationAggregatorName="accounts-aggregator",
            AccountAggregationSources=[
                {"AccountIds": [account_ids["workload-dev"]], "AwsRegions": ["eu-west-1"]}
            ],
        )
        names.append("accounts-aggregator")
    return names


# The roles of self-managed StackSets: the administration role in the management account,
# and in every account of the organization the execution role it may assume (the emulator
# fails a stack instance whose account lacks it, as AWS does).
STACKSET_ADMIN_ROLE = "AWSCloudFormationStackSetAdministrationRole"
STACKSET_EXECUTION_ROLE = "AWSCloudFormationStackSetExecutionRole"


def create_stackset_roles(world: World) -> None:
    management = world.accounts["management"]
    admin = management.client("iam").create_role(
        RoleName=STACKSET_ADMIN_ROLE,
        AssumeRolePolicyDocument=json.dumps(_trust({"Service": "cloudformation.amazonaws.com"})),
    )["Role"]["Arn"]
    for account_id in [MANAGEMENT_ACCOUNT, *world.member_ids.values()]:
        account = management if account_id == MANAGEMENT_ACCOUNT else management.assume(account_id)
        account.client("iam").create_role(
            RoleName=STACKSET_EXECUTION_ROLE,
            AssumeRolePolicyDocument=json.dumps(_trust({"AWS": admin})),
        )


def _trust(principal: dict[str, str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }


# IAM users in the management account (see govctl_emulator/iam_users.py). The restricted
# ones are denied one thing each: they show govctl's access-denied paths. `approver` may do
# everything: a second principal, so that a change can be approved by someone other than
# the one who planned it.
USERS: dict[str, str | None] = {
    "no-config-reader": "config:SelectAggregateResourceConfig",
    "no-org-reader": "organizations:*",
    "approver": None,
}


def create_users(management: Account) -> dict[str, dict[str, Any]]:
    iam = management.client("iam")
    users = {}
    for name, denied in USERS.items():
        iam.create_user(UserName=name)
        statements: list[dict[str, Any]] = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        if denied:
            statements.append({"Effect": "Deny", "Action": denied, "Resource": "*"})
        policy = {"Version": "2012-10-17", "Statement": statements}
        iam.put_user_policy(UserName=name, PolicyName="access", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        users[name] = {
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
            "denied": denied,
        }
    return users


@dataclass
class World:
    """A scenario's organization, created: accounts to act in, and what every manifest reports."""

    endpoint: str
    scenario: Scenario
    organization_id: str
    ou_ids: dict[str, str]  # by path
    member_ids: dict[str, str]  # by account name
    accounts: dict[str, Account]  # by name, "management" and "vendor" included
    layer_arns: dict[str, str]  # by name@region
    roles: dict[str, str]  # Lambda execution role ARN by account name
    aggregators: list[str]

    def manifest(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "endpoint": self.endpoint,
            "home_region": HOME_REGION,
            "management_account": MANAGEMENT_ACCOUNT,
            "organization_id": self.organization_id,
            "organizational_units": self.ou_ids,
            "accounts": {**self.member_ids, "vendor": VENDOR_ACCOUNT},
            "member_role": MEMBER_ROLE,
            "aggregators": self.aggregators,
            "layers": self.layer_arns,
        }


def build_world(endpoint: str, scenario: Scenario) -> World:
    """Organization, accounts, shared layers, Lambda roles and aggregators; no functions yet."""
    management = Account(endpoint, MANAGEMENT_ACCOUNT, FAKE_CREDENTIALS)
    organization_id, ou_ids, member_ids = create_organization(management, scenario)
    accounts = {name: management.assume(account_id) for name, account_id in member_ids.items()}
    accounts["management"] = management
    accounts["vendor"] = Account(endpoint, VENDOR_ACCOUNT, FAKE_CREDENTIALS, VENDOR_ACCOUNT)
    layer_arns = {
        f"{layer.name}@{layer.region}": publish_layer(accounts[layer.account], layer, organization_id)
        for layer in scenario.layers
    }
    roles = {
        name: create_lambda_role(accounts[name])
        for name in sorted({function.account for function in scenario.functions})
    }
    aggregators = create_aggregators(management, member_ids, scenario)
    return World(endpoint, scenario, organization_id, ou_ids, member_ids, accounts, layer_arns, roles, aggregators)


def seed(endpoint: str, scenario: Scenario) -> dict[str, Any]:
    """Seeds `test` or `demo`, one CreateFunction per function; the manifest lists them all."""
    return seed_functions(build_world(endpoint, scenario), scenario)


def seed_functions(world: World, scenario: Scenario) -> dict[str, Any]:
    """The scenario's functions, StackSet roles and (for `test`) users, into `world`."""
    functions = [
        create_function(world.accounts[function.account], function, world.roles[function.account], world.layer_arns)
        for function in scenario.functions
    ]
    create_stackset_roles(world)
    users = create_users(world.accounts["management"]) if scenario.name in SCENARIOS_WITH_USERS else {}
    return {**world.manifest(), "functions": functions, "users": users}


# --- the `ocu` scenario: OpenSearch Serverless OCU limits, usage and notifications -------

OCU_NAMESPACE = "AWS/AOSS"
OCU_EMAIL = "ocu-alerts@example.com"
OCU_CONFIGURATION = "govctl-ocu-limits"
OCU_EVENT_APPROACHING = "OCU Utilization Approaching Max Limit"
OCU_EVENT_REACHED = "OCU Utilization Reached Max Limit"


@dataclass(frozen=True)
class OcuPlace:
    """One account and region: its limits, collections and OCU datapoints (hours ago, value)."""

    account: str
    region: str
    limits: dict[str, int]  # maxIndexingCapacityInOCU / maxSearchCapacityInOCU; {} = never set
    collections: tuple[str, ...]
    indexing: tuple[tuple[float, float], ...] = ()
    search: tuple[tuple[float, float], ...] = ()


def build_ocu_scenario() -> Scenario:
    return Scenario(
        name="ocu",
        ous=("Workloads",),
        accounts=tuple(MemberAccount(name, "Workloads") for name in
                       ("search-prod", "logs-prod", "analytics", "sandbox", "idle")),
        layers=(),
        functions=(),
    )


# Each state of `govctl ocu status` at least once, with `--since 24h` (the default):
# search-prod us-east-1 indexing reached (peak 10 of 10), eu-west-1 search approaching at
# exactly 75 % (6 of 8); logs-prod ok, though it reached its indexing maximum three days ago
# (seen with --since 7d); analytics has limits and a collection but no datapoints; sandbox
# uses OCUs but never set limits; idle and the management account have nothing.
OCU_PLACES = (
    OcuPlace("search-prod", HOME_REGION,
             {"maxIndexingCapacityInOCU": 10, "maxSearchCapacityInOCU": 10}, ("orders", "catalog"),
             indexing=((6, 4.0), (2, 10.0), (0.2, 9.0)), search=((6, 2.0), (2, 6.0), (0.2, 5.5))),
    OcuPlace("search-prod", "eu-west-1",
             {"maxIndexingCapacityInOCU": 20, "maxSearchCapacityInOCU": 8}, ("orders-eu",),
             indexing=((3, 8.0), (0.2, 6.0)), search=((3, 6.0), (0.2, 4.0))),
    OcuPlace("logs-prod", HOME_REGION,
             {"maxIndexingCapacityInOCU": 4, "maxSearchCapacityInOCU": 4}, ("app-logs",),
             indexing=((72, 4.0), (5, 2.5), (0.2, 2.0)), search=((72, 1.0), (0.2, 1.0))),
    OcuPlace("analytics", HOME_REGION,
             {"maxIndexingCapacityInOCU": 6, "maxSearchCapacityInOCU": 6}, ("clicks",)),
    OcuPlace("sandbox", HOME_REGION, {}, ("trial",),
             indexing=((1, 3.0),), search=((1, 2.0),)),
)


def seed_ocu_places(world: World, places: tuple[OcuPlace, ...], now: Any) -> None:
    """Limits, collections and OCU datapoints of each place, `now` being a UTC datetime."""
    from datetime import timedelta

    for place in places:
        account = world.accounts[place.account]
        aoss = account.client("opensearchserverless", place.region)
        if place.limits:
            aoss.update_account_settings(capacityLimits=place.limits)
        for name in place.collections:
            aoss.create_security_policy(
                name=f"{name}-encryption", type="encryption",
                policy=json.dumps({"Rules": [{"ResourceType": "collection",
                                              "Resource": [f"collection/{name}"]}],
                                   # moto needs a key ARN; AWS also takes "AWSOwnedKey": true.
                                   "KmsARN": f"arn:aws:kms:{place.region}:{account.id}:key/{name}"}))
            aoss.create_collection(name=name, type="SEARCH")
        # OpenSearch Serverless publishes these itself; PutMetricData stands in for it.
        data = [
            {"MetricName": metric, "Dimensions": [{"Name": "ClientId", "Value": account.id}],
             "Timestamp": now - timedelta(hours=hours), "Value": value, "Unit": "Count"}
            for metric, points in (("IndexingOCU", place.indexing), ("SearchOCU", place.search))
            for hours, value in points
        ]
        if data:
            account.client("cloudwatch", place.region).put_metric_data(Namespace=OCU_NAMESPACE, MetricData=data)


def seed_ocu(endpoint: str) -> dict[str, Any]:
    """Seeds `ocu`: the organization, OCU limits, collections, metrics, notifications."""
    from datetime import datetime, timedelta, timezone

    world = build_world(endpoint, build_ocu_scenario())
    create_stackset_roles(world)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    seed_ocu_places(world, OCU_PLACES, now)

    # search-prod set up its notifications by hand, completely; logs-prod half way (one rule,
    # no channel). Both have a hub in us-east-1 holding the notifications that fired.
    configurations = {}
    for name, event_types, with_channel in (
        ("search-prod", (OCU_EVENT_APPROACHING, OCU_EVENT_REACHED), True),
        ("logs-prod", (OCU_EVENT_APPROACHING,), False),
    ):
        account = world.accounts[name]
        notifications = account.client("notifications", HOME_REGION)
        notifications.register_notification_hub(notificationHubRegion=HOME_REGION)
        arn = notifications.create_notification_configuration(
            name=f"{name}-ocu", description="OCU limits (by hand)", aggregationDuration="NONE")["arn"]
        for event_type in event_types:
            notifications.create_event_rule(notificationConfigurationArn=arn, source="aws.aoss",
                                            eventType=event_type, regions=[HOME_REGION, "eu-west-1"])
        if with_channel:
            contact = account.client("notificationscontacts", HOME_REGION).create_email_contact(
                name=f"{name}-ocu-email", emailAddress=OCU_EMAIL)["arn"]
            notifications.associate_channel(arn=contact, notificationConfigurationArn=arn)
        configurations[name] = arn

    def event(name: str, hours: float, origin: str, kind: str, dimension: str) -> dict[str, Any]:
        reached = kind == OCU_EVENT_REACHED
        text = (f"Your {dimension} OCU usage has reached the configured maximum limit." if reached else
                f"Your {dimension} OCU usage is at 75% and is approaching the configured maximum limit.")
        return {"account_id": world.member_ids[name], "hub_region": HOME_REGION, "origin_region": origin,
                "event_type": kind, "description": text, "configuration_arn": configurations[name],
                "time": (now - timedelta(hours=hours)).isoformat()}

    events = [
        event("search-prod", 2, HOME_REGION, OCU_EVENT_REACHED, "indexing"),
        event("search-prod", 2.5, HOME_REGION, OCU_EVENT_APPROACHING, "indexing"),
        event("search-prod", 3, "eu-west-1", OCU_EVENT_APPROACHING, "search"),
        event("search-prod", 24 * 10, HOME_REGION, OCU_EVENT_REACHED, "search"),  # older than 7 days
        event("logs-prod", 72, HOME_REGION, OCU_EVENT_REACHED, "indexing"),
    ]
    post_json(endpoint, "/_govctl/notification-events", events)
    return {
        **world.manifest(),
        "users": create_users(world.accounts["management"]),
        "ocu": {
            "email": OCU_EMAIL,
            "configurations": configurations,
            "places": [{"account": p.account, "account_id": world.member_ids[p.account], "region": p.region,
                        "limits": p.limits, "collections": list(p.collections)} for p in OCU_PLACES],
            "events": len(events),
        },
    }


BULK_BATCH = 2000  # functions per POST /_govctl/bulk-functions


def seed_scale(endpoint: str, parameters: ScaleParameters) -> dict[str, Any]:
    """Seeds `scale` into a reset emulator; functions in bulk; the manifest summarises them."""
    post_json(endpoint, f"/moto-api/seed?a={parameters.seed}", None)
    scenario = build_scale_scenario(parameters)
    world = build_world(endpoint, scenario)
    specs = [
        {
            "account_id": world.accounts[function.account].id,
            "region": function.region,
            "name": function.name,
            "runtime": function.runtime,
            "role": world.roles[function.account],
            "layers": version_arns(function, world.layer_arns),
            "tags": function.tags,
        }
        for function in scenario.functions
    ]
    for start in range(0, len(specs), BULK_BATCH):
        post_json(endpoint, "/_govctl/bulk-functions", specs[start : start + BULK_BATCH])
    return {**world.manifest(), **scale_summary(world, parameters)}


def scale_summary(world: World, parameters: ScaleParameters) -> dict[str, Any]:
    """What the benchmark needs to know of the functions, instead of the functions themselves.

    `outdated_layer_version_arns`: every layer version some function uses that is
    older than its layer's newest version (the hand-run baseline runs once per ARN).
    """
    scenario = world.scenario
    newest = {f"{layer.name}@{layer.region}": layer.versions for layer in scenario.layers}
    per_account: dict[str, Counter[str]] = {}
    usage: Counter[str] = Counter()
    outdated: set[str] = set()
    with_outdated = 0
    for function in scenario.functions:
        per_account.setdefault(world.accounts[function.account].id, Counter())[function.region] += 1
        arns = version_arns(function, world.layer_arns)
        usage.update(arns)
        old = {arn for arn, (name, version) in zip(arns, function.layers)
               if version < newest[f"{name}@{function.region}"]}
        outdated |= old
        with_outdated += bool(old)
    return {
        "seed": parameters.seed,
        "regions": list(SCALE_REGIONS[: parameters.regions]),
        "newest_versions": newest,
        "counts": {
            "accounts": parameters.accounts,
            "workload_accounts": parameters.accounts - 2,
            "regions": parameters.regions,
            "layers": len(newest),
            "layer_versions": sum(newest.values()),
            "functions": len(scenario.functions),
            "functions_with_layers": sum(1 for function in scenario.functions if function.layers),
            "functions_with_outdated_layers": with_outdated,
            "cloudformation_functions": sum(1 for function in scenario.functions if CFN_STACK_TAG in function.tags),
        },
        "function_counts": {account: dict(sorted(regions.items())) for account, regions in sorted(per_account.items())},
        "layer_version_usage": {arn: usage[arn] for arn in sorted(usage, key=_by_layer_and_version)},
        "outdated_layer_version_arns": sorted(outdated, key=_by_layer_and_version),
    }


def _by_layer_and_version(version_arn: str) -> tuple[str, int]:
    layer_arn, _, version = version_arn.rpartition(":")
    return layer_arn, int(version)


def post_json(endpoint: str, path: str, document: Any) -> None:
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(f"{endpoint}{path}", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request).close()
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"POST {path}: HTTP {error.code}: {error.read().decode()}") from None


# --- the cost scenario -------------------------------------------------------
#
# An organization (no Lambda at all) and the Cost Explorer table of its payer
# (govctl_emulator/cost_explorer.py), in months relative to today, so that the
# tests hold on any date: month offset 0 is the current month (month to date),
# 1 the last closed month, and so on back to 4. The amounts are chosen for the
# tests of `govctl cost report`: exact decimal sums, month-over-month changes
# above and below 20 % and a 10.00 floor, a service new last month, one new this
# month, one gone last month and one gone this month, an AmortizedCost that
# differs, and pages of COST_PAGE_SIZE groups.

COST_PAGE_SIZE = 4
COST_ACCOUNTS = (
    MemberAccount("workload-prod", "Workloads"),
    MemberAccount("workload-dev", "Workloads"),
    MemberAccount("data-platform", "Data"),
)
# (account name, service, {month offset: amount}, {month offset: AmortizedCost} or None)
COST_SERIES: tuple[tuple[str, str, dict[int, str], dict[int, str] | None], ...] = (
    ("workload-prod", "AWS Lambda", {4: "100", 3: "110", 2: "120.0000000005", 1: "90", 0: "40"}, None),
    ("workload-prod", "Amazon OpenSearch Service", {4: "800", 3: "800", 2: "820", 1: "600", 0: "150"},
     {4: "700", 3: "700", 2: "720", 1: "500", 0: "120"}),
    ("workload-prod", "Amazon Simple Storage Service", {4: "50", 3: "51", 2: "52", 1: "53", 0: "10"}, None),
    ("workload-dev", "Amazon Elastic Compute Cloud - Compute",
     {4: "200", 3: "210", 2: "205", 1: "260", 0: "30"}, None),
    ("workload-dev", "AWS Key Management Service", {4: "5", 3: "5", 2: "5", 1: "8", 0: "1"}, None),
    ("workload-dev", "AWS Lambda", {1: "45", 0: "12"}, None),
    ("data-platform", "Amazon OpenSearch Service", {4: "300", 3: "300", 2: "310"}, None),
    ("data-platform", "Amazon Simple Storage Service", {2: "20", 1: "20"}, None),
    ("data-platform", "Amazon CloudWatch", {0: "25"}, None),
    ("management", "Amazon Simple Storage Service", {4: "1.1", 3: "2.2", 2: "1.1", 1: "2.2", 0: "0.1"}, None),
)


def cost_months(today: Any) -> dict[int, str]:
    """Month offset to `YYYY-MM`, counted back from the month of `today` (a date)."""
    index = today.year * 12 + today.month - 1
    return {offset: f"{(index - offset) // 12:04d}-{(index - offset) % 12 + 1:02d}" for offset in range(5)}


def cost_rows(account_ids: dict[str, str], months: dict[int, str]) -> list[dict[str, Any]]:
    rows = []
    for account, service, amounts, amortized in COST_SERIES:
        for offset, amount in sorted(amounts.items(), reverse=True):
            row: dict[str, Any] = {
                "account": account_ids[account], "service": service, "month": months[offset], "amount": amount,
            }
            if amortized:
                row["metrics"] = {"AmortizedCost": amortized[offset]}
            rows.append(row)
    return rows


def seed_cost(endpoint: str) -> dict[str, Any]:
    """Seeds the `cost` scenario; the manifest has the accounts, the months and the table posted."""
    from datetime import datetime, timezone

    scenario = Scenario(name="cost", ous=("Workloads", "Data"), accounts=COST_ACCOUNTS, layers=(), functions=())
    management = Account(endpoint, MANAGEMENT_ACCOUNT, FAKE_CREDENTIALS)
    organization_id, ou_ids, member_ids = create_organization(management, scenario)
    today = datetime.now(timezone.utc).date()
    months = cost_months(today)
    account_ids = {**member_ids, "management": MANAGEMENT_ACCOUNT}
    table = {"currency": "USD", "page_size": COST_PAGE_SIZE, "rows": cost_rows(account_ids, months)}
    post_json(endpoint, "/_govctl/cost-explorer", table)
    return {
        "scenario": "cost",
        "endpoint": endpoint,
        "management_account": MANAGEMENT_ACCOUNT,
        "organization_id": organization_id,
        "organizational_units": ou_ids,
        "accounts": account_ids,
        "today": today.isoformat(),
        "months": {str(offset): month for offset, month in months.items()},
        "cost_table": table,
    }


# --- the sweep scenario --------------------------------------------------------
#
# The `test` organization with something for every area of `govctl sweep` to find: its
# outdated layers; workload-prod at its indexing OCU maximum in us-east-1 and workload-dev
# well below its own; and the cost table of the `cost` scenario on these accounts
# (data-platform's rows on shared-layers), whose last closed months have movers.

SWEEP_OCU_PLACES = (
    OcuPlace("workload-prod", HOME_REGION,
             {"maxIndexingCapacityInOCU": 4, "maxSearchCapacityInOCU": 4}, ("orders",),
             indexing=((2, 4.0), (0.2, 3.0)), search=((2, 1.0), (0.2, 1.0))),
    OcuPlace("workload-dev", HOME_REGION,
             {"maxIndexingCapacityInOCU": 10, "maxSearchCapacityInOCU": 10}, ("dev-logs",),
             indexing=((1, 2.0),), search=((1, 1.0),)),
)


# The caller's policy for `govctl sweep`, as the repository ships it: the sweep's tests run
# as a user with this policy, so an action it does not allow fails them.
SWEEP_POLICY = Path(__file__).resolve().parents[2] / "policies/iam/govctl-sweep.json"


def create_policy_user(management: Account, name: str, policy_file: Path) -> dict[str, Any]:
    """An IAM user in the management account with the actions of `policy_file`.

    moto authorizes almost every request against the resource `*`, not the resource's ARN,
    so a statement scoped to ARNs would never match: each statement's resources are
    widened to `*`, and what the user proves is that the policy names every action."""
    policy = json.loads(policy_file.read_text())
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
    iam = management.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=policy_file.stem, PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"],
            "policy": str(policy_file)}


def seed_sweep(endpoint: str) -> dict[str, Any]:
    """Seeds `sweep`; the manifest is the `test` one plus the months and the cost table."""
    from datetime import datetime, timezone

    scenario = build_test_scenario()
    world = build_world(endpoint, scenario)
    manifest = seed_functions(world, scenario)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    seed_ocu_places(world, SWEEP_OCU_PLACES, now)

    months = cost_months(now.date())
    account_ids = {**world.member_ids, "management": MANAGEMENT_ACCOUNT,
                   "data-platform": world.member_ids["shared-layers"]}
    table = {"currency": "USD", "page_size": COST_PAGE_SIZE, "rows": cost_rows(account_ids, months)}
    post_json(endpoint, "/_govctl/cost-explorer", table)
    return {
        **manifest,
        "users": {**manifest["users"], "sweeper": create_policy_user(
            world.accounts["management"], "sweeper", SWEEP_POLICY)},
        "scenario": "sweep",
        "months": {str(offset): month for offset, month in months.items()},
        "cost_table": table,
    }


SCALE_OPTIONS = ("accounts", "regions", "functions", "seed")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="emulator URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--scenario", choices=sorted([*SCENARIOS, "scale", "cost", "ocu", "sweep"]), required=True)
    defaults = ScaleParameters()
    scale = parser.add_argument_group("scale scenario only")
    scale.add_argument("--accounts", type=int, help=f"accounts in the organization (default {defaults.accounts})")
    scale.add_argument("--regions", type=int, help=f"regions, the first of {', '.join(SCALE_REGIONS)} "
                                                   f"(default {defaults.regions})")
    scale.add_argument("--functions", type=int, help=f"Lambda functions (default {defaults.functions})")
    scale.add_argument("--seed", type=int, help=f"random seed (default {defaults.seed})")
    args = parser.parse_args(argv)
    endpoint = args.endpoint.rstrip("/")
    options = {name: getattr(args, name) for name in SCALE_OPTIONS if getattr(args, name) is not None}
    if args.scenario == "scale":
        parameters = ScaleParameters(**options)
        for problem in parameters.problems():
            parser.error(problem)
        manifest = seed_scale(endpoint, parameters)
    elif options:
        parser.error(f"--{', --'.join(options)}: only for --scenario scale")
    elif args.scenario == "cost":
        manifest = seed_cost(endpoint)
    elif args.scenario == "ocu":
        manifest = seed_ocu(endpoint)
    elif args.scenario == "sweep":
        manifest = seed_sweep(endpoint)
    else:
        manifest = seed(endpoint, SCENARIOS[args.scenario]())
    json.dump(manifest, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
