"""The stack set template: cfn-lint, and the properties the reference rollout got wrong."""

import json
import pathlib
import re
import subprocess
import sys

import pytest

from templates_support import ROOT, TEMPLATE, fn_sub, load_script

CFN_LINT = pathlib.Path(sys.executable).parent / "cfn-lint"
TEMPLATES = sorted((ROOT / "stacksets").glob("*.yaml"))

# Regions where, per the pinned cfn-lint's resource schemas, CloudFormation has no
# AWS::Config::RemediationConfiguration: the template cannot be deployed there.
# stacksets/README.md lists them too.
NO_REMEDIATION_REGIONS = {"ap-east-2", "ap-southeast-6", "ap-southeast-7", "mx-central-1"}

PARAMS = {
    "RolloutId": "r2026-12",
    "OldLayerArns": ["arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:2",
                     "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:3"],
    "NewLayerArn": "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:7",
    "WindowStart": "2026-12-01T06:30:00",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "444455556666",
}


def resources(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def the(template, kind):
    (resource,) = resources(template, kind).values()
    return resource["Properties"]


def cfn_lint(*args):
    return subprocess.run([str(CFN_LINT), *args], capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------ cfn-lint

def test_there_are_templates():
    assert TEMPLATE in TEMPLATES


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes_including_informational_checks(path):
    result = cfn_lint("--include-checks", "I", "--", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_in_every_region_only_misses_remediation_where_documented():
    result = cfn_lint("--regions", "ALL_REGIONS", "--format", "json", "--", str(TEMPLATE))
    findings = json.loads(result.stdout)
    regions = set()
    for finding in findings:
        assert finding["Rule"]["Id"] == "E3006", finding
        match = re.fullmatch(r"Resource type 'AWS::Config::RemediationConfiguration' "
                             r"does not exist in '([a-z0-9-]+)'", finding["Message"])
        assert match, finding["Message"]
        regions.add(match.group(1))
    assert regions == NO_REMEDIATION_REGIONS
    readme = (ROOT / "stacksets" / "README.md").read_text()
    for region in NO_REMEDIATION_REGIONS:
        assert region in readme


def test_no_lint_rule_is_switched_off(template):
    assert "cfn-lint" not in template.get("Metadata", {})
    for resource in template["Resources"].values():
        assert "cfn-lint" not in resource.get("Metadata", {})
    assert not list(ROOT.glob(".cfnlintrc*"))


# ------------------------------------------------------------ scheduler and window

def test_scheduler_role_may_only_start_this_rules_evaluation_by_its_arn(template):
    role = template["Resources"]["SchedulerRole"]["Properties"]
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "config:StartConfigRulesEvaluation"
    # The rule's ARN ends in its ID; a name-built ARN would be denied.
    assert statement["Resource"] == {"Fn::GetAtt": ["LayerVersionRule", "Arn"]}
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_schedule_is_one_time_at_window_start_with_a_flexible_window(template):
    schedule = the(template, "AWS::Scheduler::Schedule")
    expression = fn_sub(schedule["ScheduleExpression"]["Fn::Sub"], PARAMS)
    assert re.fullmatch(r"at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)", expression), expression
    assert expression == "at(2026-12-01T06:30:00)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE",
                                              "MaximumWindowInMinutes": {"Ref": "WindowMinutes"}}
    minutes = template["Parameters"]["WindowMinutes"]
    assert (minutes["MinValue"], minutes["MaxValue"]) == (1, 1440)
    assert "rate(" not in TEMPLATE.read_text() and "cron(" not in TEMPLATE.read_text()


@pytest.mark.parametrize("value, valid", [
    ("2026-12-01T06:30:00", True),
    ("2026-02-28T23:59:59", True),
    ("2026-12-01 06:30:00", False),
    ("2026-12-01T06:30", False),
    ("2026-12-01T06:30:00Z", False),
    ("2026-13-01T06:30:00", False),
    ("2026-12-01T24:00:00", False),
    ("2026-12-01T06:30:00.000", False),
])
def test_window_start_pattern_admits_only_at_syntax(template, value, valid):
    pattern = template["Parameters"]["WindowStart"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) == valid


def test_schedule_calls_the_universal_target_for_this_rule(template):
    target = the(template, "AWS::Scheduler::Schedule")["Target"]
    assert fn_sub(target["Arn"]["Fn::Sub"], PARAMS) == \
        "arn:aws:scheduler:::aws-sdk:config:startConfigRulesEvaluation"
    assert target["RoleArn"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    rule_name = fn_sub(template["Resources"]["LayerVersionRule"]["Properties"]
                       ["ConfigRuleName"]["Fn::Sub"], PARAMS)
    payload = json.loads(fn_sub(target["Input"]["Fn::Sub"],
                                {**PARAMS, "LayerVersionRule": rule_name}))
    assert payload == {"ConfigRuleNames": ["govctl-layer-r2026-12"]}
    # ${LayerVersionRule} is the Ref of the rule resource, i.e. its name.
    assert "${LayerVersionRule}" in target["Input"]["Fn::Sub"]


# ------------------------------------------------------------------ rule, remediation

def test_config_rule_is_a_guard_policy_on_lambda_functions(template):
    rule = the(template, "AWS::Config::ConfigRule")
    assert rule["Scope"] == {"ComplianceResourceTypes": ["AWS::Lambda::Function"]}
    source = rule["Source"]
    assert source["Owner"] == "CUSTOM_POLICY"
    assert source["CustomPolicyDetails"]["PolicyRuntime"] == "guard-2.x.x"
    assert source["CustomPolicyDetails"]["EnableDebugLogDelivery"] is False
    assert {d["MessageType"] for d in source["SourceDetails"]} == {
        "ConfigurationItemChangeNotification", "OversizedConfigurationItemChangeNotification"}
    assert "MaximumExecutionFrequency" not in rule  # Guard rules cannot be periodic


def test_remediation_is_automatic_and_passes_every_runbook_parameter(template, runbook):
    remediation = the(template, "AWS::Config::RemediationConfiguration")
    assert remediation["Automatic"] is True
    assert remediation["TargetType"] == "SSM_DOCUMENT"
    assert remediation["TargetId"] == {"Ref": "ReplaceLayerVersionDocument"}
    assert remediation["ConfigRuleName"] == {"Ref": "LayerVersionRule"}
    assert set(remediation["Parameters"]) == set(runbook["parameters"])
    params = remediation["Parameters"]
    assert params["FunctionName"] == {"ResourceValue": {"Value": "RESOURCE_ID"}}
    assert params["OldLayerArns"] == {"StaticValue": {"Values": {"Ref": "OldLayerArns"}}}
    assert runbook["parameters"]["OldLayerArns"]["type"] == "StringList"
    assert params["NewLayerArn"] == {"StaticValue": {"Values": [{"Ref": "NewLayerArn"}]}}
    assert params["AutomationAssumeRole"] == {
        "StaticValue": {"Values": [{"Fn::GetAtt": ["AutomationRole", "Arn"]}]}}
    attempts = template["Parameters"]["MaximumAutomaticAttempts"]
    assert 1 <= attempts["MinValue"] <= attempts["Default"] <= attempts["MaxValue"] <= 25


def test_automation_role_is_least_privilege(template):
    role = template["Resources"]["AutomationRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    functions = statements["ReadAndUpdateFunctions"]
    assert sorted(functions["Action"]) == sorted([
        "lambda:GetFunction", "lambda:GetFunctionConfiguration",
        "lambda:UpdateFunctionConfiguration", "lambda:ListTags"])
    assert fn_sub(functions["Resource"]["Fn::Sub"], PARAMS) == \
        "arn:aws:lambda:us-east-1:444455556666:function:*"
    layer = statements["UseNewLayerVersion"]
    assert (layer["Action"], layer["Resource"]) == ("lambda:GetLayerVersion",
                                                    {"Ref": "NewLayerArn"})
    deny = statements["NeverWriteOldLayerVersions"]
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "lambda:UpdateFunctionConfiguration"
    assert deny["Condition"] == {
        "ForAnyValue:StringEquals": {"lambda:Layer": {"Ref": "OldLayerArns"}}}
    assert set(statements) == {"ReadAndUpdateFunctions", "UseNewLayerVersion",
                               "NeverWriteOldLayerVersions"}


# ------------------------------------------------------------------- names, limits

def test_every_name_derives_from_the_rollout_id(template):
    names = {
        "LayerVersionRule": ("ConfigRuleName", 128),
        "ReplaceLayerVersionDocument": ("Name", 128),
        "ChangeWindowSchedule": ("Name", 64),
    }
    longest = {**PARAMS, "RolloutId": "a" * 32}
    for logical_id, (prop, limit) in names.items():
        value = template["Resources"][logical_id]["Properties"][prop]
        assert "${RolloutId}" in value["Fn::Sub"], logical_id
        assert len(fn_sub(value["Fn::Sub"], longest)) <= limit, logical_id
    # Roles are global per account; unnamed, they do not collide across regions.
    for role in resources(template, "AWS::IAM::Role").values():
        assert "RoleName" not in role["Properties"]
    pattern = template["Parameters"]["RolloutId"]["AllowedPattern"]
    for good in ["a", "r1", "2026-12-shared-utils", "a" * 32]:
        assert re.fullmatch(pattern, good)
    for bad in ["", "A1", "-a", "a-", "a_b", "a" * 33]:
        assert not re.fullmatch(pattern, bad)


def test_layer_arn_patterns_agree_with_the_runbook(template, runbook):
    script_pattern = load_script().LAYER_VERSION_ARN.pattern
    new_pattern = template["Parameters"]["NewLayerArn"]["AllowedPattern"]
    assert template["Parameters"]["OldLayerArns"]["Type"] == "CommaDelimitedList"
    # On a CommaDelimitedList, AllowedPattern applies to each value.
    assert template["Parameters"]["OldLayerArns"]["AllowedPattern"] == new_pattern
    assert runbook["parameters"]["NewLayerArn"]["allowedPattern"] == new_pattern
    assert script_pattern == new_pattern
    for arn in [*PARAMS["OldLayerArns"], PARAMS["NewLayerArn"]]:
        assert re.fullmatch(new_pattern, arn)


def test_the_new_version_is_not_one_of_the_old(template):
    (assertion,) = template["Rules"]["DistinctLayerVersions"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Contains": [
        {"Ref": "OldLayerArns"}, {"Ref": "NewLayerArn"}]}]}


def test_template_body_fits_cloudformations_limit():
    """govctl passes the template as TemplateBody, which takes at most 51,200 bytes."""
    assert len(TEMPLATE.read_bytes()) <= 51_200


def test_document_content_fits_ssms_limit(template):
    content = template["Resources"]["ReplaceLayerVersionDocument"]["Properties"]["Content"]
    assert len(json.dumps(content).encode()) <= 64 * 1024


def test_outputs_name_rule_document_and_schedule(template):
    outputs = template["Outputs"]
    assert outputs["ConfigRuleName"]["Value"] == {"Ref": "LayerVersionRule"}
    assert outputs["DocumentName"]["Value"] == {"Ref": "ReplaceLayerVersionDocument"}
    assert outputs["ScheduleName"]["Value"] == {"Ref": "ChangeWindowSchedule"}


# --------------------------------------------------------------------------- runbook

def test_runbook_shape(runbook):
    assert runbook["schemaVersion"] == "0.3"
    assert runbook["assumeRole"] == "{{ AutomationAssumeRole }}"
    (step,) = runbook["mainSteps"]
    assert step["action"] == "aws:executeScript"
    assert step["inputs"]["Runtime"] == "python3.11"
    assert step["timeoutSeconds"] <= 600
    # SSM would read {{ ... }} inside the script as a parameter reference.
    assert "{{" not in step["inputs"]["Script"]
    without_script = json.loads(json.dumps(runbook))
    del without_script["mainSteps"][0]["inputs"]["Script"]
    referenced = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", json.dumps(without_script)))
    assert referenced == set(runbook["parameters"])
    step_outputs = {o["Name"] for o in step["outputs"]}
    assert {o.split(".", 1)[1] for o in runbook["outputs"]} <= step_outputs
    assert all(o["Selector"].startswith("$.Payload.") for o in step["outputs"])
