"""The emulator's side of `govctl remediate`, driven through boto3 over the wire.

govctl deploys stacksets/layer-remediation.yaml as a self-managed StackSet, wave by wave
with its own operation IDs, and counts on AWS Config's automatic remediation to move the
functions; its change gate reads SSM Change Calendars and wants a second principal to
approve. Each of those is checked here against the API references: error codes and HTTP
statuses from botocore's service models, shapes per account and region.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import seed
from harness import control, reset
from test_emulator import error_of, layer_version, rows, select

TEMPLATE = (Path(__file__).resolve().parents[2] / "stacksets" / "layer-remediation.yaml").read_text()
ADMIN_ROLE = f"arn:aws:iam::{seed.MANAGEMENT_ACCOUNT}:role/{seed.STACKSET_ADMIN_ROLE}"
US, EU = seed.HOME_REGION, "eu-west-1"


@pytest.fixture(scope="class")
def world(endpoint: str) -> dict[str, Any]:
    reset(endpoint)
    return seed.seed(endpoint, seed.build_test_scenario())


@pytest.fixture(scope="class")
def management(endpoint: str) -> seed.Account:
    return seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, seed.FAKE_CREDENTIALS)


def cfn(management: seed.Account) -> Any:
    return management.client("cloudformation")


def parameters(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def swap(world: dict[str, Any], region: str, old: list[int], new: int, rollout: str = "r1") -> list[dict[str, str]]:
    return parameters(
        RolloutId=rollout,
        OldLayerArns=",".join(layer_version(world, "shared-utils", v, region) for v in old),
        NewLayerArn=layer_version(world, "shared-utils", new, region),
        WindowStart="2030-01-01T00:00:00",
    )


def create_stack_set(management: seed.Account, name: str, template: str, params: list[dict[str, str]]) -> None:
    cfn(management).create_stack_set(
        StackSetName=name,
        TemplateBody=template,
        Parameters=params,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        PermissionModel="SELF_MANAGED",
        AdministrationRoleARN=ADMIN_ROLE,
        ExecutionRoleName=seed.STACKSET_EXECUTION_ROLE,
    )


def layers(account: seed.Account, name: str, region: str = US) -> list[str]:
    configuration = account.client("lambda", region).get_function_configuration(FunctionName=name)
    return [layer["Arn"] for layer in configuration.get("Layers", [])]


def results(management: seed.Account, name: str, operation_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    summaries = cfn(management).list_stack_set_operation_results(
        StackSetName=name, OperationId=operation_id
    )["Summaries"]
    return {(s["Account"], s["Region"]): s for s in summaries}


def operation(management: seed.Account, name: str, operation_id: str) -> dict[str, Any]:
    return cfn(management).describe_stack_set_operation(
        StackSetName=name, OperationId=operation_id
    )["StackSetOperation"]


# --- the rollout ----------------------------------------------------------------------------


ROLLOUT = "govctl-layer-remediation-r1"


@pytest.fixture(scope="class")
def rollout(world: dict[str, Any], management: seed.Account) -> Iterator[dict[str, Any]]:
    prod = world["accounts"]["workload-prod"]
    member = management.assume(prod)
    before = {name: member.client("lambda").get_function(FunctionName=name)["Configuration"]
              for name in ("orders-api", "reporting", "payments")}
    create_stack_set(management, ROLLOUT, TEMPLATE, swap(world, US, [1, 2], 3))
    for region, old, new in ((US, [1, 2], 3), (EU, [1], 2)):
        cfn(management).create_stack_instances(
            StackSetName=ROLLOUT, Accounts=[prod], Regions=[region],
            ParameterOverrides=swap(world, region, old, new),
            OperationPreferences={"FailureToleranceCount": 0, "MaxConcurrentCount": 1},
            OperationId=f"r1-canary-{region}",
        )
    yield {"prod": prod, "member": member, "before": before}


class TestLayerRollout:
    """The template as govctl deploys it: one StackSet, instances per region with overrides."""

    NAME = ROLLOUT

    def test_operations_keep_the_callers_ids_and_succeed(self, management: seed.Account,
                                                          rollout: dict[str, Any]) -> None:
        for region in (US, EU):
            described = operation(management, self.NAME, f"r1-canary-{region}")
            assert described["Status"] == "SUCCEEDED"
            assert described["Action"] == "CREATE"
            assert described["AdministrationRoleARN"] == ADMIN_ROLE
            assert described["ExecutionRoleName"] == seed.STACKSET_EXECUTION_ROLE
            by_place = results(management, self.NAME, f"r1-canary-{region}")
            assert list(by_place) == [(rollout["prod"], region)]
            assert by_place[rollout["prod"], region]["Status"] == "SUCCEEDED"
        listed = cfn(management).list_stack_set_operations(StackSetName=self.NAME)["Summaries"]
        assert sorted(s["OperationId"] for s in listed) == ["r1-canary-eu-west-1", "r1-canary-us-east-1"]

    def test_instances_are_current_with_their_overrides(self, world: dict[str, Any],
                                                        management: seed.Account,
                                                        rollout: dict[str, Any]) -> None:
        instances = cfn(management).list_stack_instances(StackSetName=self.NAME)["Summaries"]
        assert {(i["Account"], i["Region"]) for i in instances} == {(rollout["prod"], US), (rollout["prod"], EU)}
        for instance in instances:
            assert instance["Status"] == "CURRENT"
            assert instance["StackInstanceStatus"]["DetailedStatus"] == "SUCCEEDED"
            assert instance["LastOperationId"] == f"r1-canary-{instance['Region']}"
        described = cfn(management).describe_stack_instance(
            StackSetName=self.NAME, StackInstanceAccount=rollout["prod"], StackInstanceRegion=EU
        )["StackInstance"]
        overrides = {p["ParameterKey"]: p["ParameterValue"] for p in described["ParameterOverrides"]}
        assert overrides["NewLayerArn"] == layer_version(world, "shared-utils", 2, EU)

    def test_the_stack_holds_the_rule_remediation_and_schedule(self, rollout: dict[str, Any]) -> None:
        member = rollout["member"]
        stacks = member.client("cloudformation").describe_stacks()["Stacks"]
        assert len(stacks) == 1 and stacks[0]["StackName"].startswith(f"StackSet-{self.NAME}-")
        rule = member.client("config").describe_config_rules(ConfigRuleNames=["govctl-layer-r1"])["ConfigRules"][0]
        assert rule["Source"]["Owner"] == "CUSTOM_POLICY"
        assert rule["Source"]["CustomPolicyDetails"]["PolicyRuntime"] == "guard-2.x.x"
        assert ":shared-utils:1\", \"arn:" in rule["Source"]["CustomPolicyDetails"]["PolicyText"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}
        assert outputs["ConfigRuleArn"] == rule["ConfigRuleArn"]
        assert outputs["ConfigRuleArn"].endswith(f"config-rule/{rule['ConfigRuleId']}")
        schedule = member.client("scheduler").get_schedule(Name="govctl-layer-r1")
        assert schedule["ScheduleExpression"] == "at(2030-01-01T00:00:00)"
        assert json.loads(schedule["Target"]["Input"]) == {"ConfigRuleNames": ["govctl-layer-r1"]}
        remediation = member.client("config").describe_remediation_configurations(
            ConfigRuleNames=["govctl-layer-r1"]
        )["RemediationConfigurations"][0]
        assert remediation["Automatic"] is True
        assert remediation["TargetId"] == "govctl-ReplaceLayerVersion-r1"

    def test_the_remediation_swapped_old_versions_in_place(self, world: dict[str, Any],
                                                           rollout: dict[str, Any]) -> None:
        member = rollout["member"]
        assert layers(member, "orders-api") == [layer_version(world, "shared-utils", 3)]
        assert layers(member, "reporting") == [
            layer_version(world, "otel-extension", 1), layer_version(world, "shared-utils", 3)
        ]
        assert layers(member, "eu-orders", EU) == [layer_version(world, "shared-utils", 2, EU)]
        # Already on the new version: left alone, same revision.
        payments = member.client("lambda").get_function(FunctionName="payments")["Configuration"]
        assert payments["RevisionId"] == rollout["before"]["payments"]["RevisionId"]
        for name in ("orders-api", "reporting"):
            now = member.client("lambda").get_function(FunctionName=name)["Configuration"]
            assert now["RevisionId"] != rollout["before"][name]["RevisionId"]
        executions = member.client("config").describe_remediation_execution_status(
            ConfigRuleName="govctl-layer-r1"
        )["RemediationExecutionStatuses"]
        assert sorted(e["ResourceKey"]["resourceId"] for e in executions) == ["orders-api", "reporting"]
        assert {e["State"] for e in executions} == {"SUCCEEDED"}

    def test_the_aggregate_query_sees_the_new_layers(self, world: dict[str, Any],
                                                     management: seed.Account,
                                                     rollout: dict[str, Any]) -> None:
        old = layer_version(world, "shared-utils", 1)
        found = rows(select(management, "SELECT accountId, configuration.functionName WHERE "
                            f"configuration.layers.arn = '{old}'"))
        assert [r for r in found if r["accountId"] == rollout["prod"]] == []

    def test_operation_ids_are_used_once(self, management: seed.Account, rollout: dict[str, Any]) -> None:
        used = "r1-canary-us-east-1"
        calls = (
            (cfn(management).create_stack_instances,
             {"Accounts": [rollout["prod"]], "Regions": [US]}),
            (cfn(management).delete_stack_instances,
             {"Accounts": [rollout["prod"]], "Regions": [US], "RetainStacks": False}),
            (cfn(management).update_stack_set, {"UsePreviousTemplate": True}),
        )
        for call, arguments in calls:
            code, status, _ = error_of(call, StackSetName=self.NAME, OperationId=used, **arguments)
            assert (code, status) == ("OperationIdAlreadyExistsException", 409)
        for call in (cfn(management).describe_stack_set_operation,
                     cfn(management).list_stack_set_operation_results):
            code, status, _ = error_of(call, StackSetName=self.NAME, OperationId="no-such-operation")
            assert (code, status) == ("OperationNotFoundException", 404)
        listed = cfn(management).list_stack_set_operations(StackSetName=self.NAME)["Summaries"]
        assert len(listed) == 2

    def test_a_stack_set_goes_only_once_empty_then_rollback_deploys(self, world: dict[str, Any],
                                                                     management: seed.Account,
                                                                     rollout: dict[str, Any]) -> None:
        code, status, _ = error_of(cfn(management).delete_stack_set, StackSetName=self.NAME)
        assert (code, status) == ("StackSetNotEmptyException", 409)
        cfn(management).delete_stack_instances(
            StackSetName=self.NAME, Accounts=[rollout["prod"]], Regions=[US, EU],
            RetainStacks=False, OperationId="r1-cleanup",
        )
        assert operation(management, self.NAME, "r1-cleanup")["Status"] == "SUCCEEDED"
        assert cfn(management).list_stack_instances(StackSetName=self.NAME)["Summaries"] == []
        cfn(management).delete_stack_set(StackSetName=self.NAME)
        member = rollout["member"]
        assert member.client("config").describe_config_rules()["ConfigRules"] == []
        assert member.client("scheduler").list_schedules()["Schedules"] == []
        # Functions keep the new version; the rollback is another rollout the other way.
        rollback = "govctl-layer-remediation-r2"
        create_stack_set(management, rollback, TEMPLATE, swap(world, US, [3], 2, "r2"))
        cfn(management).create_stack_instances(
            StackSetName=rollback, Accounts=[rollout["prod"]], Regions=[US],
            ParameterOverrides=swap(world, US, [3], 2, "r2"), OperationId="r2-canary-us-east-1",
        )
        assert operation(management, rollback, "r2-canary-us-east-1")["Status"] == "SUCCEEDED"
        assert layers(member, "reporting") == [
            layer_version(world, "otel-extension", 1), layer_version(world, "shared-utils", 2)
        ]


# --- failures -----------------------------------------------------------------------------

FAILING_TEMPLATE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: made-before-the-failure
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}
  Schedule:
    Type: AWS::Scheduler::Schedule
    DependsOn: Role
    Properties:
      ScheduleExpression: rate(30 minute)
      FlexibleTimeWindow: {Mode: 'OFF'}
      Target: {Arn: 'arn:aws:scheduler:::aws-sdk:config:startConfigRulesEvaluation', RoleArn: !GetAtt Role.Arn}
"""


class TestFailingInstances:
    def test_a_failing_resource_fails_the_instance_with_its_reason_and_rolls_back(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        prod = world["accounts"]["workload-prod"]
        create_stack_set(management, "failing", FAILING_TEMPLATE, [])
        cfn(management).create_stack_instances(
            StackSetName="failing", Accounts=[prod], Regions=[US, EU], OperationId="f1",
            OperationPreferences={"RegionOrder": [US, EU]},
        )
        assert operation(management, "failing", "f1")["Status"] == "FAILED"
        by_place = results(management, "failing", "f1")
        failed = by_place[prod, US]
        assert failed["Status"] == "FAILED"
        assert failed["StatusReason"].startswith(
            "ResourceLogicalId:Schedule, ResourceType:AWS::Scheduler::Schedule, ResourceStatusReason:"
        )
        assert "rate(30 minute)" in failed["StatusReason"]
        # The failure tolerance (0) is exceeded in the first region: the next is cancelled.
        assert by_place[prod, EU]["Status"] == "CANCELLED"
        instance = cfn(management).describe_stack_instance(
            StackSetName="failing", StackInstanceAccount=prod, StackInstanceRegion=US
        )["StackInstance"]
        assert (instance["Status"], instance["StackInstanceStatus"]["DetailedStatus"]) == ("OUTDATED", "FAILED")
        assert instance["StatusReason"] == failed["StatusReason"]
        member = management.assume(prod)
        stack = member.client("cloudformation").describe_stacks(StackName=instance["StackId"])["Stacks"][0]
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
        names = [r["RoleName"] for r in member.client("iam").list_roles()["Roles"]]
        assert "made-before-the-failure" not in names

    def test_the_templates_rules_and_constraints_fail_the_instance(
        self, world: dict[str, Any], management: seed.Account
    ) -> None:
        prod = world["accounts"]["workload-prod"]
        create_stack_set(management, "ruled", TEMPLATE, swap(world, US, [1], 3))
        cfn(management).create_stack_instances(
            StackSetName="ruled", Accounts=[prod], Regions=[US], OperationId="bad-rule",
            ParameterOverrides=swap(world, US, [1, 3], 3),
        )
        reason = results(management, "ruled", "bad-rule")[prod, US]["StatusReason"]
        assert reason == "NewLayerArn must not be one of OldLayerArns."
        cfn(management).create_stack_instances(
            StackSetName="ruled", Accounts=[prod], Regions=[US], OperationId="bad-pattern",
            ParameterOverrides=[*swap(world, US, [1], 3)[:1], {"ParameterKey": "RolloutId", "ParameterValue": "Bad_Id"}],
        )
        reason = results(management, "ruled", "bad-pattern")[prod, US]["StatusReason"]
        assert reason.startswith("Parameter RolloutId failed to satisfy constraint")
        # A new operation ID tries the failed instance again.
        cfn(management).create_stack_instances(
            StackSetName="ruled", Accounts=[prod], Regions=[US], OperationId="fixed",
            ParameterOverrides=swap(world, US, [1], 3, "fixed"),
        )
        assert operation(management, "ruled", "fixed")["Status"] == "SUCCEEDED"

    def test_an_account_without_the_execution_role_fails(self, world: dict[str, Any],
                                                          management: seed.Account) -> None:
        create_stack_set(management, "no-role", FAILING_TEMPLATE, [])
        cfn(management).create_stack_instances(
            StackSetName="no-role", Accounts=[seed.VENDOR_ACCOUNT], Regions=[US], OperationId="nr"
        )
        reason = results(management, "no-role", "nr")[seed.VENDOR_ACCOUNT, US]["StatusReason"]
        assert reason == (
            f"Account {seed.VENDOR_ACCOUNT} should have '{seed.STACKSET_EXECUTION_ROLE}' role with "
            f"trust relationship to Role '{seed.STACKSET_ADMIN_ROLE}'."
        )

    def test_guard_rules_are_accepted_over_the_wire(self, management: seed.Account) -> None:
        config = management.client("config")
        rule = {
            "ConfigRuleName": "guard",
            "Source": {
                "Owner": "CUSTOM_POLICY",
                "SourceDetails": [{"EventSource": "aws.config",
                                   "MessageType": "ConfigurationItemChangeNotification"}],
                "CustomPolicyDetails": {"PolicyRuntime": "guard-2.x.x", "PolicyText": "rule r { x exists }"},
            },
        }
        config.put_config_rule(ConfigRule=rule)
        stored = config.describe_config_rules(ConfigRuleNames=["guard"])["ConfigRules"][0]
        assert stored["Source"]["CustomPolicyDetails"]["PolicyText"] == "rule r { x exists }"
        rule["ConfigRuleName"] = "periodic-guard"
        rule["Source"]["SourceDetails"][0]["MessageType"] = "ScheduledNotification"
        code, _, _ = error_of(config.put_config_rule, ConfigRule=rule)
        assert code == "InvalidParameterValueException"


# --- Change Calendar ------------------------------------------------------------------------


def calendar(kind: str, *events: tuple[datetime, datetime]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//govctl tests//EN", f"X-CALENDAR-TYPE:{kind}"]
    for number, (start, end) in enumerate(events):
        lines += ["BEGIN:VEVENT", f"UID:event-{number}", f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
                  f"DTEND:{end:%Y%m%dT%H%M%SZ}", "SUMMARY:window", "END:VEVENT"]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


CALENDAR_NOW = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="class")
def ssm(endpoint: str, management: seed.Account) -> Any:
    reset(endpoint)
    client = management.client("ssm")
    hour = timedelta(hours=1)
    documents = {
        "freeze": calendar("DEFAULT_CLOSED"),
        "window": calendar("DEFAULT_CLOSED", (CALENDAR_NOW - hour, CALENDAR_NOW + hour)),
        "blackout": calendar("DEFAULT_OPEN", (CALENDAR_NOW - hour, CALENDAR_NOW + hour)),
        "later": calendar("DEFAULT_OPEN", (CALENDAR_NOW + 2 * hour, CALENDAR_NOW + 3 * hour)),
    }
    for name, content in documents.items():
        client.create_document(Name=name, Content=content, DocumentType="ChangeCalendar",
                               DocumentFormat="TEXT")
    return client


class TestChangeCalendar:
    NOW = CALENDAR_NOW

    def state(self, ssm: Any, *names: str) -> dict[str, Any]:
        answer = ssm.get_calendar_state(CalendarNames=list(names), AtTime=self.NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return {key: answer.get(key) for key in ("State", "AtTime", "NextTransitionTime")}

    def test_a_default_closed_calendar_opens_only_during_events(self, ssm: Any) -> None:
        assert self.state(ssm, "freeze") == {
            "State": "CLOSED", "AtTime": "2030-06-01T12:00:00Z", "NextTransitionTime": None,
        }
        assert self.state(ssm, "window") == {
            "State": "OPEN", "AtTime": "2030-06-01T12:00:00Z", "NextTransitionTime": "2030-06-01T13:00:00Z",
        }

    def test_a_default_open_calendar_closes_during_events(self, ssm: Any) -> None:
        assert self.state(ssm, "blackout")["State"] == "CLOSED"
        assert self.state(ssm, "later") == {
            "State": "OPEN", "AtTime": "2030-06-01T12:00:00Z", "NextTransitionTime": "2030-06-01T14:00:00Z",
        }

    def test_several_calendars_are_closed_when_any_is(self, ssm: Any) -> None:
        assert self.state(ssm, "window", "later")["State"] == "OPEN"
        assert self.state(ssm, "blackout", "later") == {
            "State": "CLOSED", "AtTime": "2030-06-01T12:00:00Z", "NextTransitionTime": "2030-06-01T13:00:00Z",
        }

    def test_without_at_time_it_is_now(self, ssm: Any) -> None:
        answer = ssm.get_calendar_state(CalendarNames=["freeze"])
        at = datetime.strptime(answer["AtTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert abs(at - datetime.now(timezone.utc)) < timedelta(minutes=1)

    def test_the_document_is_kept_as_text(self, ssm: Any) -> None:
        document = ssm.get_document(Name="freeze")
        assert (document["DocumentType"], document["DocumentFormat"]) == ("ChangeCalendar", "TEXT")
        assert document["Content"] == calendar("DEFAULT_CLOSED")

    def test_unknown_documents_other_types_and_bad_content_are_refused(self, ssm: Any) -> None:
        assert error_of(ssm.get_calendar_state, CalendarNames=["nope"])[0] == "InvalidDocument"
        ssm.create_document(Name="runbook", DocumentType="Automation", DocumentFormat="YAML",
                            Content="schemaVersion: '0.3'\nmainSteps: []\n")
        assert error_of(ssm.get_calendar_state, CalendarNames=["runbook"])[0] == "InvalidDocumentType"
        code, _, _ = error_of(ssm.create_document, Name="broken", DocumentType="ChangeCalendar",
                              DocumentFormat="TEXT", Content="not a calendar")
        assert code == "InvalidDocumentContent"


# --- principals and faults -----------------------------------------------------------------


class TestApproverAndFaults:
    def test_the_approver_is_another_principal(self, endpoint: str, world: dict[str, Any],
                                               management: seed.Account) -> None:
        keys = world["users"]["approver"]
        approver = seed.Account(endpoint, seed.MANAGEMENT_ACCOUNT, {
            "aws_access_key_id": keys["access_key_id"], "aws_secret_access_key": keys["secret_access_key"],
        })
        theirs = approver.client("sts").get_caller_identity()
        ours = management.client("sts").get_caller_identity()
        assert theirs["Account"] == ours["Account"] == seed.MANAGEMENT_ACCOUNT
        assert theirs["Arn"] == f"arn:aws:iam::{seed.MANAGEMENT_ACCOUNT}:user/approver"
        assert theirs["Arn"] != ours["Arn"]
        approver.client("ssm").put_parameter(Name="/govctl/changes/x", Value="{}", Type="String")

    def test_faults_match_create_stack_instances_after_n(self, endpoint: str, world: dict[str, Any],
                                                         management: seed.Account) -> None:
        prod = world["accounts"]["workload-prod"]
        create_stack_set(management, "faulty", FAILING_TEMPLATE.replace("rate(30 minute)", "rate(30 minutes)"), [])
        rule = {"match": {"action": "cloudformation:CreateStackInstances"}, "server_error": 1.0, "after": 2}
        control(endpoint, "POST", "faults", {"seed": 1, "rules": [rule]})
        try:
            for number, region in enumerate((US, EU)):
                cfn(management).create_stack_instances(
                    StackSetName="faulty", Accounts=[prod], Regions=[region], OperationId=f"ok-{number}"
                )
            code, status, _ = error_of(
                cfn(management).create_stack_instances,
                StackSetName="faulty", Accounts=[prod], Regions=["us-west-2"], OperationId="third",
            )
            assert (code, status) in (("InternalFailure", 500), ("ServiceUnavailable", 503))
        finally:
            control(endpoint, "DELETE", "faults")
        listed = cfn(management).list_stack_set_operations(StackSetName="faulty")["Summaries"]
        assert sorted(s["OperationId"] for s in listed) == ["ok-0", "ok-1"]
