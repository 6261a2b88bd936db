"""The Guard rule, evaluated by the real Guard engine on configuration items.

Each cfn-guard version in cfn-guard-versions.txt (2.1.4, the last 2.x, as AWS Config's
guard-2.x.x runtime; and the current 3.x) evaluates the rule text exactly as the stack set
deploys it: the template's PolicyText after Fn::Sub has put in the old layer versions,
both for a rollout with one old version and for one with several.
"""

import json
import subprocess

import pytest

from templates_support import FIXTURES, GUARD_RULE, resolve

OLD = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:3"
OLDER = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:2"
RULE = "lambda_function_does_not_use_old_layer_version"

# Config maps Guard's PASS, FAIL and SKIP to these compliance types.
COMPLIANCE = {"PASS": "COMPLIANT", "FAIL": "NON_COMPLIANT", "SKIP": "NOT_APPLICABLE"}

# Expected compliance with OldLayerArns = [OLD], and with OldLayerArns = [OLDER, OLD].
EXPECTED = {
    "no-layers": ("COMPLIANT", "COMPLIANT"),
    "layers-missing": ("COMPLIANT", "COMPLIANT"),
    "layers-null": ("COMPLIANT", "COMPLIANT"),
    "only-old": ("NON_COMPLIANT", "NON_COMPLIANT"),
    "old-first": ("NON_COMPLIANT", "NON_COMPLIANT"),
    "old-last": ("NON_COMPLIANT", "NON_COMPLIANT"),
    "old-middle": ("NON_COMPLIANT", "NON_COMPLIANT"),
    "older-old": ("COMPLIANT", "NON_COMPLIANT"),
    "only-new": ("COMPLIANT", "COMPLIANT"),
    "new-and-others": ("COMPLIANT", "COMPLIANT"),
    "other-layer": ("COMPLIANT", "COMPLIANT"),
    "old-arn-as-prefix": ("COMPLIANT", "COMPLIANT"),
    "not-a-function": ("NOT_APPLICABLE", "NOT_APPLICABLE"),
}
OLD_LISTS = {"one-old-version": [OLD], "several-old-versions": [OLDER, OLD]}


def evaluate(binary, rule_text, data_path, tmp_path):
    """Run `cfn-guard validate` and return PASS, FAIL or SKIP."""
    rules = tmp_path / "rule.guard"
    rules.write_text(rule_text)
    result = subprocess.run(
        [str(binary), "validate", "-r", str(rules), "-d", str(data_path),
         "-o", "json", "-S", "none"],
        capture_output=True, text=True, timeout=60,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"cfn-guard printed no JSON (exit {result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}")
    if "status" in report:  # 3.x
        status = report["status"]
    else:  # 2.x: lists of rule names per outcome
        if report["not_compliant"]:
            status = "FAIL"
        elif RULE in report["compliant"]:
            status = "PASS"
        elif RULE in report["not_applicable"]:
            status = "SKIP"
        else:
            pytest.fail(f"cfn-guard did not report rule {RULE}: {report}")
    # Exit 0 unless something failed (3.x uses 19 for a failure, 2.x 5).
    assert (result.returncode != 0) == (status == "FAIL"), (result.returncode, status)
    return status


def deployed_rule_text(template, old_layer_arns):
    """The PolicyText as CloudFormation creates the rule for these OldLayerArns."""
    policy = template["Resources"]["LayerVersionRule"]["Properties"]["Source"][
        "CustomPolicyDetails"]["PolicyText"]
    return resolve(policy, {"OldLayerArns": old_layer_arns})


def test_fixtures_and_expectations_match():
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("olds", OLD_LISTS.values(), ids=OLD_LISTS.keys())
def test_deployed_text_is_the_rule_file_with_the_arns_put_in(template, olds):
    text = deployed_rule_text(template, olds)
    quoted = ", ".join(f'"{arn}"' for arn in olds)
    assert text == GUARD_RULE.read_text().replace('"${OldLayerArnList}"', quoted)
    assert f"let old_layer_versions = [{quoted}]" in text


@pytest.mark.parametrize("olds", OLD_LISTS, ids=OLD_LISTS.keys())
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_rule_verdict(cfn_guard, template, case, olds, tmp_path):
    version, binary = cfn_guard
    text = deployed_rule_text(template, OLD_LISTS[olds])
    status = evaluate(binary, text, FIXTURES / f"{case}.json", tmp_path)
    expected = EXPECTED[case][list(OLD_LISTS).index(olds)]
    assert COMPLIANCE[status] == expected, f"cfn-guard {version} on {case} with {olds}"


@pytest.mark.parametrize("case", ["old-first", "old-last"])
def test_reference_rule_passes_functions_it_should_flag(cfn_guard, case, tmp_path):
    """Why the rule is not the reference's: `some ... != old` calls these COMPLIANT."""
    _, binary = cfn_guard
    reference = (
        f'let old_layer_version = "{OLD}"\n'
        f"rule {RULE} {{\n"
        "    some configuration.layers[*].arn != %old_layer_version\n"
        "}\n"
    )
    assert evaluate(binary, reference, FIXTURES / f"{case}.json", tmp_path) == "PASS"


def test_rule_text_fits_configs_limit(template):
    """PolicyText is at most 10,000 characters, even with 20 long ARNs put in."""
    longest = [f"arn:aws-us-gov:lambda:us-gov-west-1:111122223333:layer:{'x' * 140}:{v}"
               for v in range(99980, 100000)]
    assert len(deployed_rule_text(template, longest)) <= 10_000
