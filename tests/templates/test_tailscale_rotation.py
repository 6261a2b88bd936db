"""stacksets/tailscale-rotation.yaml: cfn-lint in every region, and what the rotation of a
Tailscale auth-key secret needs from it: the govctl rotation function on the custom runtime,
a 60-day schedule under the keys' 90-day life, a least-privilege role, and resource
policies that let only the workload and the function read the secrets."""

import re
import subprocess
import sys

import pytest

from templates_support import ROOT, load_template

TEMPLATE = ROOT / "stacksets" / "tailscale-rotation.yaml"
CFN_LINT = f"{sys.executable.rsplit('/', 1)[0]}/cfn-lint"


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE)


def the(template, kind):
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == kind]
    return resource


def branches(value):
    """Both outcomes of an Fn::If (the value itself when it is none)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, yes, no = value["Fn::If"]
        return [yes, no]
    return [value]


def test_cfn_lint_passes_in_every_region_with_informational_checks():
    for args in (["--include-checks", "I"], ["--regions", "ALL_REGIONS"]):
        result = subprocess.run([CFN_LINT, *args, "--", str(TEMPLATE)], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_function_is_the_govctl_binary_on_the_custom_runtime(template):
    function = the(template, "AWS::Lambda::Function")["Properties"]
    assert function["Runtime"] == "provided.al2023"
    assert function["Handler"] == "bootstrap"
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert set(template["Parameters"]["Architecture"]["AllowedValues"]) == {"x86_64", "arm64"}
    # The setting govctl reads, named once in src/cli.rs.
    cli = (ROOT / "src" / "cli.rs").read_text()
    (name,) = function["Environment"]["Variables"]
    assert f'TAILSCALE_API_URL: &str = "{name}"' in cli
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "RotationLogGroup"}
    cargo = (ROOT / "Cargo.toml").read_text()
    assert 'name = "govctl-tailscale-rotation"' in cargo


def test_the_schedule_rotates_every_60_days_well_inside_the_keys_life(template):
    schedule = the(template, "AWS::SecretsManager::RotationSchedule")
    properties = schedule["Properties"]
    assert properties["SecretId"] == {"Ref": "AuthKeySecretArn"}
    assert properties["RotationLambdaARN"] == {"Fn::GetAtt": ["RotationFunction", "Arn"]}
    assert properties["RotationRules"] == {"AutomaticallyAfterDays": {"Ref": "RotationDays"}}
    days = template["Parameters"]["RotationDays"]
    assert days["Default"] == 60
    assert days["MaxValue"] < 90, "Tailscale auth keys last at most 90 days"
    assert properties["RotateImmediatelyOnUpdate"] is False
    assert schedule["DependsOn"] == "RotationPermission", "Secrets Manager must be allowed to invoke first"


def test_only_secrets_manager_invokes_the_function_for_this_secret(template):
    permission = the(template, "AWS::Lambda::Permission")["Properties"]
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceArn"] == {"Ref": "AuthKeySecretArn"}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_role_has_the_rotation_calls_on_this_secret_and_nothing_more(template):
    role = the(template, "AWS::IAM::Role")["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    statements = [s for p in role["Policies"] for b in branches(p) if isinstance(b, dict) and "PolicyDocument" in b
                  for s in b["PolicyDocument"]["Statement"]]
    grants = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert "*" not in action, action
            grants.setdefault(action, []).append(statement["Resource"])
        assert statement["Resource"] != "*"
    assert grants == {
        "secretsmanager:DescribeSecret": [{"Ref": "AuthKeySecretArn"}],
        "secretsmanager:GetSecretValue": [{"Ref": "AuthKeySecretArn"}, {"Ref": "OAuthClientSecretArn"}],
        "secretsmanager:PutSecretValue": [{"Ref": "AuthKeySecretArn"}],
        "secretsmanager:UpdateSecretVersionStage": [{"Ref": "AuthKeySecretArn"}],
        "logs:CreateLogStream": [{"Fn::GetAtt": ["RotationLogGroup", "Arn"]}],
        "logs:PutLogEvents": [{"Fn::GetAtt": ["RotationLogGroup", "Arn"]}],
        "kms:Decrypt": [{"Ref": "KmsKeyArn"}],
        "kms:GenerateDataKey": [{"Ref": "KmsKeyArn"}],
    }
    (kms,) = [s for s in statements if s["Action"][0].startswith("kms:")]
    assert kms["Condition"]["StringEquals"]["kms:ViaService"] == {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}


def readers(policy, action):
    """The principals a Deny-unless policy lets do `action`, for each Fn::If outcome."""
    outcomes = []
    for statement in policy["Properties"]["ResourcePolicy"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action not in actions:
            continue
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
        allowed = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        outcomes.extend(branches(allowed))
    return outcomes


def test_only_the_workload_and_the_function_read_the_key(template):
    policies = {r["Properties"]["SecretId"]["Ref"]: r for r in template["Resources"].values()
                if r["Type"] == "AWS::SecretsManager::ResourcePolicy"}
    key = policies["AuthKeySecretArn"]
    assert key["Properties"]["BlockPublicPolicy"] is True
    workload, function, operator = {"Ref": "WorkloadRoleArn"}, {"Fn::GetAtt": ["RotationRole", "Arn"]}, {"Ref": "OperatorRoleArn"}
    assert readers(key, "secretsmanager:GetSecretValue") == [[workload, function, operator], [workload, function]]
    assert readers(key, "secretsmanager:PutSecretValue") == [[function, operator], [function]]
    assert readers(key, "secretsmanager:UpdateSecretVersionStage") == [[function, operator], [function]]

    oauth = policies["OAuthClientSecretArn"]
    assert oauth["Condition"] == "ManagesOAuthSecretPolicy"
    assert readers(oauth, "secretsmanager:GetSecretValue") == [[function, operator], [function]], \
        "the workload never reads the OAuth client"


def test_secret_arn_parameters_take_what_govctl_accepts(template):
    pattern = re.compile(template["Parameters"]["AuthKeySecretArn"]["AllowedPattern"])
    assert pattern.match("arn:aws:secretsmanager:eu-west-1:111122223333:secret:tailscale/app-AbCdEf")
    assert not pattern.match("tailscale/app")
    assert template["Parameters"]["OperatorRoleArn"]["Default"] == ""
