"""The runbook's script (runbooks/replace_layer_version.py).

botocore's Stubber plays Lambda exactly (RevisionId preconditions, LastUpdateStatus
transitions, errors), which the emulator cannot; moto runs the handler end to end through
boto3 as SSM would.
"""

import io
import zipfile

import boto3
import pytest
from botocore.stub import Stubber

from templates_support import load_script

rlv = load_script()

ACCOUNT = "444455556666"
OLD = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:3"
OLDER = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:2"
OLDS = [OLDER, OLD]
NEW = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:7"
A = "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:38"
B = "arn:aws:lambda:us-east-1:111122223333:layer:otel-collector:12"
FN = "orders-api"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FN}"


# ---------------------------------------------------------------- plan_layers (pure)

@pytest.mark.parametrize(
    "current, expected",
    [
        ([OLD], [NEW]),
        ([OLD, A], [NEW, A]),
        ([A, OLD], [A, NEW]),
        ([A, OLD, B], [A, NEW, B]),
        ([A, B, OLD, "arn:aws:lambda:us-east-1:111122223333:layer:c:1",
          "arn:aws:lambda:us-east-1:111122223333:layer:d:1"],
         [A, B, NEW, "arn:aws:lambda:us-east-1:111122223333:layer:c:1",
          "arn:aws:lambda:us-east-1:111122223333:layer:d:1"]),
    ],
)
def test_plan_replaces_in_place_and_keeps_the_others(current, expected):
    assert rlv.plan_layers(current, [OLD], NEW) == (expected, rlv.REPLACED)
    assert rlv.plan_layers(current, OLDS, NEW) == (expected, rlv.REPLACED)


def test_plan_replaces_whichever_old_version_is_used():
    assert rlv.plan_layers([A, OLDER, B], OLDS, NEW) == ([A, NEW, B], rlv.REPLACED)
    assert rlv.plan_layers([A, OLDER, B], [OLD], NEW) == (None, rlv.OLD_ABSENT)


@pytest.mark.parametrize(
    "current, action",
    [
        ([], rlv.OLD_ABSENT),
        ([A, B], rlv.OLD_ABSENT),
        (["arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:30"], rlv.OLD_ABSENT),
        ([NEW], rlv.ALREADY_NEW),
        ([A, NEW], rlv.ALREADY_NEW),
    ],
)
def test_plan_is_a_no_op_without_the_old_version(current, action):
    assert rlv.plan_layers(current, OLDS, NEW) == (None, action)


def test_plan_never_produces_a_duplicate():
    with pytest.raises(rlv.LayerReplacementError, match="both"):
        rlv.plan_layers([OLD, NEW], OLDS, NEW)
    with pytest.raises(rlv.LayerReplacementError, match="2 old versions"):
        rlv.plan_layers([OLDER, A, OLD], OLDS, NEW)
    with pytest.raises(ValueError, match="also listed as old"):
        rlv.plan_layers([OLD], [OLD, NEW], NEW)


@pytest.mark.parametrize("value, expected", [
    ([OLD], [OLD]),
    (OLDS, OLDS),
    (f"{OLDER},{OLD}", OLDS),
    (f" {OLDER} , {OLD} ", OLDS),
])
def test_old_layer_arns_take_a_list_or_a_comma_separated_string(value, expected):
    assert rlv.old_layer_list(value) == expected


@pytest.mark.parametrize("value", ["", [], [""], " , "])
def test_an_empty_old_layer_list_is_refused(value):
    with pytest.raises(ValueError, match="empty"):
        rlv.old_layer_list(value)


# ------------------------------------------------------------ the handler, stubbed

class FakeClock:
    """time.monotonic and time.sleep that never wait."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def configuration(layers, revision="rev-1", status="Successful", state="Active", **extra):
    config = {
        "FunctionName": FN,
        "FunctionArn": FN_ARN,
        "Runtime": "python3.12",
        "RevisionId": revision,
        "State": state,
        "LastUpdateStatus": status,
        "Layers": [{"Arn": arn, "CodeSize": 1000} for arn in layers],
    }
    config.update(extra)
    return config


def get_function(layers, tags=None, **kwargs):
    response = {"Configuration": configuration(layers, **kwargs)}
    if tags is not None:
        response["Tags"] = tags
    return response


@pytest.fixture
def lam():
    client = boto3.client("lambda", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def run(client, clock, **kwargs):
    return rlv.replace_layer_version(client, FN, OLDS, NEW, sleep=clock.sleep,
                                     clock=clock.clock, poll=5, **kwargs)


def test_replaces_in_place_with_the_revision_and_waits_for_success(lam):
    client, stubber = lam
    clock = FakeClock()
    stubber.add_response("get_function",
                         get_function([A, OLD, B], tags={"team": "payments"}),
                         {"FunctionName": FN})
    stubber.add_response("update_function_configuration",
                         configuration([A, NEW, B], revision="rev-2", status="InProgress"),
                         {"FunctionName": FN, "Layers": [A, NEW, B], "RevisionId": "rev-1"})
    stubber.add_response("get_function_configuration",
                         configuration([A, NEW, B], revision="rev-2", status="InProgress"),
                         {"FunctionName": FN})
    stubber.add_response("get_function_configuration",
                         configuration([A, NEW, B], revision="rev-2", status="InProgress"),
                         {"FunctionName": FN})
    stubber.add_response("get_function_configuration",
                         configuration([A, NEW, B], revision="rev-3"),
                         {"FunctionName": FN})
    report = run(client, clock)
    assert report["Changed"] is True
    assert report["Action"] == rlv.REPLACED
    assert report["LayersBefore"] == [A, OLD, B]
    assert report["LayersAfter"] == [A, NEW, B]
    assert report["RevisionIdBefore"] == "rev-1"
    assert report["RevisionIdAfter"] == "rev-3"
    assert report["ManagedByStack"] == ""
    assert report["TagsRead"] is True
    assert clock.sleeps == [5, 5]


def test_reports_the_cloudformation_stack_that_will_drift(lam):
    client, stubber = lam
    stubber.add_response("get_function", get_function(
        [OLD], tags={"aws:cloudformation:stack-name": "orders-prod"}), {"FunctionName": FN})
    stubber.add_response("update_function_configuration", configuration([NEW], status="InProgress"),
                         {"FunctionName": FN, "Layers": [NEW], "RevisionId": "rev-1"})
    stubber.add_response("get_function_configuration", configuration([NEW], revision="rev-2"),
                         {"FunctionName": FN})
    report = run(client, FakeClock())
    assert report["ManagedByStack"] == "orders-prod"
    assert "orders-prod" in report["Message"] and "drift" in report["Message"]


def test_a_stale_revision_fails_without_retrying(lam):
    client, stubber = lam
    stubber.add_response("get_function", get_function([OLD, A]), {"FunctionName": FN})
    stubber.add_client_error(
        "update_function_configuration", service_error_code="PreconditionFailedException",
        service_message="The Revision Id provided does not match the latest Revision Id.",
        http_status_code=412,
        expected_params={"FunctionName": FN, "Layers": [NEW, A], "RevisionId": "rev-1"})
    with pytest.raises(rlv.LayerReplacementError, match="stale"):
        run(client, FakeClock())


def test_an_update_already_in_progress_is_waited_for_before_reading(lam):
    client, stubber = lam
    clock = FakeClock()
    stubber.add_response("get_function", get_function([OLD], revision="rev-0", status="InProgress"),
                         {"FunctionName": FN})
    stubber.add_response("get_function", get_function([OLD], revision="rev-1"),
                         {"FunctionName": FN})
    stubber.add_response("update_function_configuration", configuration([NEW], status="InProgress"),
                         {"FunctionName": FN, "Layers": [NEW], "RevisionId": "rev-1"})
    stubber.add_response("get_function_configuration", configuration([NEW], revision="rev-2"),
                         {"FunctionName": FN})
    assert run(client, clock)["Changed"] is True
    assert clock.sleeps == [5]


def test_a_function_that_never_settles_is_left_alone(lam):
    client, stubber = lam
    for _ in range(3):
        stubber.add_response("get_function", get_function([OLD], state="Pending", status="InProgress"),
                             {"FunctionName": FN})
    with pytest.raises(rlv.LayerReplacementError, match="still in progress"):
        run(client, FakeClock(), settle_timeout=10)


def test_failed_update_fails_with_lambdas_reason(lam):
    client, stubber = lam
    stubber.add_response("get_function", get_function([OLD]), {"FunctionName": FN})
    stubber.add_response("update_function_configuration", configuration([NEW], status="InProgress"),
                         {"FunctionName": FN, "Layers": [NEW], "RevisionId": "rev-1"})
    stubber.add_response("get_function_configuration", configuration(
        [OLD], revision="rev-2", status="Failed",
        LastUpdateStatusReasonCode="InvalidConfiguration",
        LastUpdateStatusReason="Layer conflict: unzipped size too large"),
        {"FunctionName": FN})
    with pytest.raises(rlv.LayerReplacementError,
                       match="Failed: InvalidConfiguration: Layer conflict"):
        run(client, FakeClock())


def test_the_wait_for_the_update_is_bounded(lam):
    client, stubber = lam
    stubber.add_response("get_function", get_function([OLD]), {"FunctionName": FN})
    stubber.add_response("update_function_configuration", configuration([NEW], status="InProgress"),
                         {"FunctionName": FN, "Layers": [NEW], "RevisionId": "rev-1"})
    for _ in range(4):
        stubber.add_response("get_function_configuration",
                             configuration([NEW], status="InProgress"), {"FunctionName": FN})
    with pytest.raises(rlv.LayerReplacementError, match="still InProgress after 15 s"):
        run(client, FakeClock(), update_timeout=15)


def test_layers_that_read_back_differently_fail(lam):
    client, stubber = lam
    stubber.add_response("get_function", get_function([OLD, A]), {"FunctionName": FN})
    stubber.add_response("update_function_configuration", configuration([NEW, A], status="InProgress"),
                         {"FunctionName": FN, "Layers": [NEW, A], "RevisionId": "rev-1"})
    stubber.add_response("get_function_configuration", configuration([A, NEW], revision="rev-2"),
                         {"FunctionName": FN})
    with pytest.raises(rlv.LayerReplacementError, match="reads back"):
        run(client, FakeClock())


@pytest.mark.parametrize("layers, action", [([A], rlv.OLD_ABSENT), ([], rlv.OLD_ABSENT),
                                            ([NEW, A], rlv.ALREADY_NEW)])
def test_no_op_makes_no_update_call(lam, layers, action):
    client, stubber = lam
    stubber.add_response("get_function", get_function(layers), {"FunctionName": FN})
    report = run(client, FakeClock())
    assert (report["Changed"], report["Action"]) == (False, action)
    assert report["LayersBefore"] == report["LayersAfter"] == layers
    assert "nothing changed" in report["Message"]


def test_both_versions_present_fails_without_an_update_call(lam):
    client, stubber = lam
    stubber.add_response("get_function", get_function([OLD, NEW]), {"FunctionName": FN})
    with pytest.raises(rlv.LayerReplacementError, match="by hand"):
        run(client, FakeClock())


def test_denied_tags_are_reported_as_unread(lam):
    client, stubber = lam
    response = get_function([A])
    response["TagsError"] = {
        "ErrorCode": "AccessDeniedException",
        "Message": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/automation/x is not "
                   f"authorized to perform: lambda:ListTags on resource: {FN_ARN}",
    }
    stubber.add_response("get_function", response, {"FunctionName": FN})
    assert run(client, FakeClock())["TagsRead"] is False


@pytest.mark.parametrize("old, new", [
    (["arn:aws:lambda:us-east-1:111122223333:layer:shared-utils"], NEW),  # no version
    ([OLD, "shared-utils:2"], NEW),
    ([OLD], "arn:aws:lambda:us-east-1:1111:layer:shared-utils:7"),  # short account
    ([OLD], "shared-utils:7"),
])
def test_bad_arns_are_refused_before_any_call(lam, old, new):
    client, _ = lam
    with pytest.raises(ValueError, match="not a layer version ARN"):
        rlv.replace_layer_version(client, FN, old, new)


# ---------------------------------------------------- the SSM entry point, on moto

def _zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def moto_lambda(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        role = boto3.client("iam").create_role(
            RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("lambda")
        layers = {
            name: client.publish_layer_version(LayerName=name, Content={"ZipFile": _zip()})[
                "LayerVersionArn"]
            for name in ["shared-utils", "otel-collector", "insights"]
        }
        layers["shared-utils-new"] = client.publish_layer_version(
            LayerName="shared-utils", Content={"ZipFile": _zip()})["LayerVersionArn"]

        def create(name, layer_names, tags=None):
            client.create_function(
                FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                Code={"ZipFile": _zip()}, Layers=[layers[n] for n in layer_names],
                Tags=tags or {})

        yield client, layers, create


def test_script_handler_end_to_end(moto_lambda):
    client, layers, create = moto_lambda
    create("orders-api", ["otel-collector", "shared-utils", "insights"],
           tags={"aws:cloudformation:stack-name": "orders-prod"})
    # SSM passes a StringList parameter as a list.
    events = {"FunctionName": "orders-api", "OldLayerArns": [layers["shared-utils"]],
              "NewLayerArn": layers["shared-utils-new"]}
    report = rlv.script_handler(events, None)
    after = [layer["Arn"] for layer in
             client.get_function_configuration(FunctionName="orders-api")["Layers"]]
    assert after == [layers["otel-collector"], layers["shared-utils-new"], layers["insights"]]
    assert report["LayersAfter"] == after
    assert report["Changed"] is True
    assert report["ManagedByStack"] == "orders-prod"

    # A second run (Config retrying, or a second evaluation) changes nothing.
    again = rlv.script_handler(events, None)
    assert (again["Changed"], again["Action"]) == (False, rlv.ALREADY_NEW)


def test_script_handler_leaves_other_functions_alone(moto_lambda):
    client, layers, create = moto_lambda
    create("billing", ["insights"])
    report = rlv.script_handler({"FunctionName": "billing",
                                 "OldLayerArns": layers["shared-utils"],
                                 "NewLayerArn": layers["shared-utils-new"]}, None)
    assert (report["Changed"], report["Action"]) == (False, rlv.OLD_ABSENT)
    assert [l["Arn"] for l in client.get_function_configuration(
        FunctionName="billing")["Layers"]] == [layers["insights"]]
