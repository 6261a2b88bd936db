"""stacksets/ocu-notifications.yaml: cfn-lint, where it deploys, and what it subscribes to."""

import json
import pathlib
import subprocess
import sys

from templates_support import ROOT, load_template

CFN_LINT = pathlib.Path(sys.executable).parent / "cfn-lint"
TEMPLATE = ROOT / "stacksets" / "ocu-notifications.yaml"
EVENT_TYPES = {"OCU Utilization Approaching Max Limit", "OCU Utilization Reached Max Limit"}


def cfn_lint(*args):
    return subprocess.run([str(CFN_LINT), *args], capture_output=True, text=True, timeout=300)


def of_type(template, kind):
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == kind}


def test_cfn_lint_passes_in_us_east_1_including_informational_checks():
    result = cfn_lint("--regions", "us-east-1", "--include-checks", "I", "--", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_elsewhere_the_user_notifications_types_do_not_exist():
    # The control plane and its resource types are us-east-1 only: govctl deploys there.
    result = cfn_lint("--regions", "eu-west-1", "--format", "json", "--", str(TEMPLATE))
    findings = json.loads(result.stdout)
    assert findings, "expected eu-west-1 to lack the User Notifications types"
    assert {f["Rule"]["Id"] for f in findings} == {"E3006"}
    source = (ROOT / "src" / "ocu" / "notify.rs").read_text()
    assert 'HOME_REGION: &str = "us-east-1"' in source


def test_one_rule_per_ocu_event_type_for_the_given_regions():
    template = load_template(TEMPLATE)
    rules = of_type(template, "AWS::Notifications::EventRule")
    assert {r["EventType"] for r in rules.values()} == EVENT_TYPES
    for rule in rules.values():
        assert rule["Source"] == "aws.aoss"
        assert rule["Regions"] == {"Ref": "Regions"}
        assert rule["NotificationConfigurationArn"] == {"Fn::GetAtt": ["Configuration", "Arn"]}
        # No pattern: both the search and the indexing variant of each event must notify.
        assert "EventPattern" not in rule


def test_the_email_contact_is_the_configurations_channel():
    template = load_template(TEMPLATE)
    (contact,) = of_type(template, "AWS::NotificationsContacts::EmailContact").values()
    assert contact["EmailAddress"] == {"Ref": "EmailAddress"}
    (association,) = of_type(template, "AWS::Notifications::ChannelAssociation").values()
    assert association == {
        "Arn": {"Fn::GetAtt": ["Contact", "Arn"]},
        "NotificationConfigurationArn": {"Fn::GetAtt": ["Configuration", "Arn"]},
    }


def test_the_parameters_govctl_passes_are_the_ones_declared():
    template = load_template(TEMPLATE)
    assert set(template["Parameters"]) == {
        "ConfigurationName", "EmailAddress", "Regions", "AggregationDuration"}
    source = (ROOT / "src" / "ocu" / "notify.rs").read_text()
    for name in template["Parameters"]:
        assert f'"{name}"' in source, name
