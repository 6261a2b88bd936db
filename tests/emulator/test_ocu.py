"""The emulator's extensions for govctl ocu, checked with boto3 as AWS documents them:
OpenSearch Serverless account settings, CloudWatch over Smithy RPC v2 CBOR, User
Notifications (and contacts), their CloudFormation types, and the notification events
control endpoint."""

from __future__ import annotations

import pathlib
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
import cbor2
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import control, reset

ROOT = pathlib.Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
APPROACHING = "OCU Utilization Approaching Max Limit"
REACHED = "OCU Utilization Reached Max Limit"


@pytest.fixture()
def client(endpoint):
    reset(endpoint)

    def make(service, region="us-east-1", **config):
        return boto3.client(
            service, endpoint_url=endpoint, region_name=region,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, **config))

    return make


# --- OpenSearch Serverless account settings -------------------------------------------


def test_account_settings_start_empty_and_update_member_by_member(client):
    aoss = client("opensearchserverless")
    assert aoss.get_account_settings()["accountSettingsDetail"] == {"capacityLimits": {}}
    after = aoss.update_account_settings(capacityLimits={"maxIndexingCapacityInOCU": 10})
    assert after["accountSettingsDetail"]["capacityLimits"] == {"maxIndexingCapacityInOCU": 10}
    aoss.update_account_settings(capacityLimits={"maxSearchCapacityInOCU": 8})
    limits = aoss.get_account_settings()["accountSettingsDetail"]["capacityLimits"]
    assert limits == {"maxIndexingCapacityInOCU": 10, "maxSearchCapacityInOCU": 8}
    # Per region.
    other = client("opensearchserverless", "eu-west-1").get_account_settings()
    assert other["accountSettingsDetail"]["capacityLimits"] == {}


def test_a_maximum_below_two_is_a_validation_error(client):
    aoss = client("opensearchserverless", parameter_validation=False)
    with pytest.raises(ClientError) as error:
        aoss.update_account_settings(capacityLimits={"maxSearchCapacityInOCU": 1})
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "greater than or equal to 2" in error.value.response["Error"]["Message"]


# --- CloudWatch over rpcv2Cbor ----------------------------------------------------------------


def test_botocore_speaks_cbor_and_moto_answers(client):
    cloudwatch = client("cloudwatch")
    assert cloudwatch.meta.service_model.protocol == "smithy-rpc-v2-cbor"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    dimensions = [{"Name": "ClientId", "Value": ACCOUNT}]
    cloudwatch.put_metric_data(Namespace="AWS/AOSS", MetricData=[
        {"MetricName": "SearchOCU", "Dimensions": dimensions, "Value": value,
         "Timestamp": now - timedelta(minutes=minutes)}
        for minutes, value in ((50, 2.0), (20, 6.5), (5, 3.0))
    ])
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "search", "MetricStat": {
            "Metric": {"Namespace": "AWS/AOSS", "MetricName": "SearchOCU", "Dimensions": dimensions},
            "Period": 600, "Stat": "Maximum"}}],
        StartTime=now - timedelta(hours=1), EndTime=now, ScanBy="TimestampDescending")
    (result,) = answer["MetricDataResults"]
    assert result["Id"] == "search"
    assert max(result["Values"]) == 6.5
    assert result["Values"][0] == 3.0  # newest first
    assert all(isinstance(t, datetime) for t in result["Timestamps"])


def _raw(endpoint, operation, body, headers=None):
    request = urllib.request.Request(
        f"{endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=cbor2.dumps(body), method="POST",
        headers={"Content-Type": "application/cbor", "Accept": "application/cbor",
                 "Smithy-Protocol": "rpc-v2-cbor",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/"
                                  "aws4_request, SignedHeaders=host, Signature=x",
                 **(headers or {})})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_timestamps_go_out_as_tag_1_and_errors_carry_the_shape_id(client, endpoint):
    client("cloudwatch").put_metric_data(Namespace="AWS/AOSS", MetricData=[
        {"MetricName": "IndexingOCU", "Value": 4.0,
         "Timestamp": datetime.now(timezone.utc) - timedelta(minutes=3)}])
    now = datetime.now(timezone.utc).timestamp()
    status, headers, body = _raw(endpoint, "GetMetricData", {
        "MetricDataQueries": [{"Id": "i", "MetricStat": {
            "Metric": {"Namespace": "AWS/AOSS", "MetricName": "IndexingOCU"},
            "Period": 60, "Stat": "Maximum"}}],
        "StartTime": cbor2.CBORTag(1, now - 600), "EndTime": cbor2.CBORTag(1, now)})
    assert status == 200
    assert headers["Smithy-Protocol"] == "rpc-v2-cbor"
    assert headers["Content-Type"] == "application/cbor"
    decoded = cbor2.loads(body)
    (result,) = decoded["MetricDataResults"]
    assert result["Values"] == [4.0]
    assert isinstance(result["Timestamps"][0], datetime)  # cbor2 reads tag 1 as a datetime
    assert b"\xc1" in body  # the tag 1 head byte

    status, headers, body = _raw(endpoint, "GetMetricStatistics", {
        "Namespace": "AWS/AOSS", "MetricName": "IndexingOCU", "Period": 60,
        "Statistics": ["Maximum"], "StartTime": cbor2.CBORTag(1, now),
        "EndTime": cbor2.CBORTag(1, now - 60)})
    assert status == 400
    error = cbor2.loads(body)
    assert error["__type"] == "com.amazonaws.cloudwatch#InvalidParameterValueException"
    assert "StartTime" in error["message"]
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"


def test_requests_that_break_the_protocol_are_refused(endpoint):
    status, _, body = _raw(endpoint, "ListMetrics", {}, {"X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"})
    assert status == 400
    assert cbor2.loads(body)["__type"].endswith("#SerializationException")
    status, _, body = _raw(endpoint, "NoSuchOperation", {})
    assert status == 404


# --- User Notifications -----------------------------------------------------------------------


def test_configurations_rules_and_channels(client):
    notifications = client("notifications")
    contacts = client("notificationscontacts")
    created = notifications.create_notification_configuration(name="ocu", description="d")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["status"] == "INACTIVE"
    arn = created["arn"]
    assert arn.startswith(f"arn:aws:notifications::{ACCOUNT}:configuration/")
    assert len(arn.rsplit("/", 1)[1]) == 27

    rule = notifications.create_event_rule(notificationConfigurationArn=arn, source="aws.aoss",
                                           eventType=REACHED, regions=["us-east-1", "eu-west-1"])
    assert rule["arn"].startswith(f"{arn}/rule/")
    assert rule["statusSummaryByRegion"]["eu-west-1"]["status"] == "ACTIVE"
    assert notifications.get_notification_configuration(arn=arn)["status"] == "ACTIVE"
    assert [c["arn"] for c in notifications.list_notification_configurations(
        eventRuleSource="aws.aoss")["notificationConfigurations"]] == [arn]
    assert notifications.list_notification_configurations(
        eventRuleSource="aws.health")["notificationConfigurations"] == []
    (listed,) = notifications.list_event_rules(notificationConfigurationArn=arn)["eventRules"]
    assert listed["eventType"] == REACHED and listed["regions"] == ["us-east-1", "eu-west-1"]

    contact = contacts.create_email_contact(name="ops", emailAddress="ops@example.com")["arn"]
    assert contacts.get_email_contact(arn=contact)["emailContact"]["status"] == "inactive"
    notifications.associate_channel(arn=contact, notificationConfigurationArn=arn)
    assert notifications.list_channels(notificationConfigurationArn=arn)["channels"] == [contact]
    with pytest.raises(ClientError) as twice:
        notifications.associate_channel(arn=contact, notificationConfigurationArn=arn)
    assert twice.value.response["Error"]["Code"] == "ConflictException"

    notifications.delete_notification_configuration(arn=arn)
    with pytest.raises(ClientError) as gone:
        notifications.list_event_rules(notificationConfigurationArn=arn)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_pages_continue_with_next_token(client):
    notifications = client("notifications")
    for index in range(3):
        notifications.create_notification_configuration(name=f"c{index}", description="")
    first = notifications.list_notification_configurations(maxResults=2)
    assert len(first["notificationConfigurations"]) == 2
    rest = notifications.list_notification_configurations(maxResults=2, nextToken=first["nextToken"])
    assert len(rest["notificationConfigurations"]) == 1
    assert "nextToken" not in rest


def test_events_come_only_from_the_hub_of_the_region_called(client, endpoint):
    notifications = client("notifications")
    notifications.register_notification_hub(notificationHubRegion="us-east-1")
    arn = notifications.create_notification_configuration(name="ocu", description="")["arn"]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    text = "Your search OCU usage is at 75% and is approaching the configured maximum limit."
    status, answer = control(endpoint, "POST", "notification-events", [
        {"account_id": ACCOUNT, "hub_region": "us-east-1", "origin_region": "eu-west-1",
         "event_type": APPROACHING, "description": text, "time": (now - timedelta(hours=h)).isoformat()}
        for h in (1, 30)])
    assert (status, answer) == (200, {"created": 2})

    events = notifications.list_notification_events(
        source="aws.aoss", startTime=now - timedelta(hours=2))["notificationEvents"]
    (event,) = events
    summary = event["notificationEvent"]
    assert summary["sourceEventMetadata"] == {"eventOriginRegion": "eu-west-1", "source": "aws.aoss",
                                              "eventType": APPROACHING}
    assert event["notificationConfigurationArn"] == arn
    assert event["arn"].startswith(f"arn:aws:notifications:us-east-1:{ACCOUNT}:configuration/")
    full = notifications.get_notification_event(arn=event["arn"])["content"]
    reference = full["messageComponents"]["completeDescription"]
    assert full["textParts"][reference]["displayText"] == text

    everything = notifications.list_notification_events(source="aws.aoss")["notificationEvents"]
    assert [e["creationTime"] for e in everything] == sorted(
        (e["creationTime"] for e in everything), reverse=True)
    assert client("notifications", "eu-west-1").list_notification_events()["notificationEvents"] == []

    status, answer = control(endpoint, "POST", "notification-events", [
        {"account_id": ACCOUNT, "hub_region": "ap-south-1", "event_type": REACHED,
         "description": "x", "time": now.isoformat()}])
    assert status == 400 and "no notification hub in ap-south-1" in answer["message"]


def test_a_stack_of_the_ocu_template_creates_the_setup_and_its_deletion_removes_it(client):
    cloudformation = client("cloudformation")
    template = (ROOT / "stacksets" / "ocu-notifications.yaml").read_text()
    cloudformation.create_stack(StackName="ocu", TemplateBody=template, Parameters=[
        {"ParameterKey": "EmailAddress", "ParameterValue": "ops@example.com"},
        {"ParameterKey": "Regions", "ParameterValue": "us-east-1,eu-west-1"}])
    (stack,) = cloudformation.describe_stacks(StackName="ocu")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    notifications = client("notifications")
    (configuration,) = notifications.list_notification_configurations(
        eventRuleSource="aws.aoss")["notificationConfigurations"]
    assert configuration["arn"] == outputs["ConfigurationArn"]
    assert configuration["name"] == "govctl-ocu-limits"
    rules = notifications.list_event_rules(notificationConfigurationArn=configuration["arn"])["eventRules"]
    assert sorted(r["eventType"] for r in rules) == [APPROACHING, REACHED]
    assert all(r["regions"] == ["us-east-1", "eu-west-1"] for r in rules)
    assert notifications.list_channels(
        notificationConfigurationArn=configuration["arn"])["channels"] == [outputs["ContactArn"]]
    address = client("notificationscontacts").get_email_contact(arn=outputs["ContactArn"])
    assert address["emailContact"]["address"] == "ops@example.com"

    cloudformation.delete_stack(StackName="ocu")
    assert notifications.list_notification_configurations()["notificationConfigurations"] == []
    assert client("notificationscontacts").list_email_contacts()["emailContacts"] == []


def test_statistics_name_the_translated_cloudwatch_calls(client, endpoint):
    control(endpoint, "DELETE", "stats")
    client("cloudwatch").list_metrics()
    client("notifications").list_notification_hubs()
    _, stats = control(endpoint, "GET", "stats")
    assert stats["by_action"]["monitoring:ListMetrics"] == 1
    assert stats["by_action"]["notifications:ListNotificationHubs"] == 1


def test_the_requirements_pin_cbor2():
    lines = (ROOT / "tests" / "emulator" / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("cbor2==") for line in lines)
