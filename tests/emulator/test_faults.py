"""Tests of fault injection and request statistics (govctl_emulator/faults.py).

A fault is only a fair test of govctl's retries if an SDK reads it as the real
service's answer, so each fault is checked for each protocol on the wire and
through botocore (its retries off: one request per call). Faults are
server-wide, so this module runs its own server and clears them around every
test; a failing test cannot leave them on for the other modules.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

import seed
from harness import control, start_server, stop_server

OTHER_ACCOUNT = "222222222222"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    process, url = start_server("--exit-on-stdin-eof")
    yield url
    stop_server(process)


@pytest.fixture(autouse=True)
def no_faults(server: str) -> Iterator[None]:
    control(server, "DELETE", "faults")
    control(server, "DELETE", "stats")
    yield
    control(server, "DELETE", "faults")


def faults(url: str, *rules: dict[str, Any], seed_value: int = 42) -> None:
    status, answer = control(url, "POST", "faults", {"seed": seed_value, "rules": list(rules)})
    assert status == 200, answer


def stats(url: str) -> dict[str, Any]:
    return control(url, "GET", "stats")[1]


@functools.cache
def client(url: str, service: str, region: str = "us-east-1", account: str | None = None,
           credentials: tuple[str, str, str] | None = None) -> Any:
    """A botocore client without retries (made once: making one takes longer than a call)."""
    key, secret, token = credentials or ("testing", "testing", None)
    session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)
    made = session.client(service, region_name=region, endpoint_url=url, config=NO_RETRIES)
    if account:
        def add_header(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        made.meta.events.register("before-sign.*.*", add_header)
    return made


def outcome(call: Any, **kwargs: Any) -> tuple[str, int]:
    """("OK", 200) or the (error code, HTTP status) botocore parsed."""
    try:
        response = call(**kwargs)
    except ClientError as error:
        return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
    return "OK", response["ResponseMetadata"]["HTTPStatusCode"]


# One call per service govctl uses, all three protocols: (service, operation, parameters).
CALLS = {
    "config": ("config", "select_aggregate_resource_config",
               {"Expression": "SELECT resourceId", "ConfigurationAggregatorName": "any"}),
    "organizations": ("organizations", "list_accounts", {}),
    "lambda": ("lambda", "list_functions", {}),
    "sts": ("sts", "get_caller_identity", {}),
    "iam": ("iam", "list_roles", {}),
    "cloudformation": ("cloudformation", "list_stack_sets", {}),
}


def call(url: str, name: str) -> tuple[str, int]:
    service, operation, parameters = CALLS[name]
    return outcome(getattr(client(url, service), operation), **parameters)


# --- the raw wire ------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def authorization(service: str, region: str = "us-east-1") -> str:
    return (f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0")


RAW_REQUESTS = {
    "json": ("POST", "/", {"X-Amz-Target": "StarlingDoveService.DescribeConfigurationAggregators",
                           "Content-Type": "application/x-amz-json-1.1",
                           "Authorization": authorization("config")}, b"{}"),
    "rest-json": ("GET", "/2015-03-31/functions/", {"Authorization": authorization("lambda")}, b""),
    "query": ("POST", "/", {"Content-Type": "application/x-www-form-urlencoded",
                            "Authorization": authorization("sts")},
              b"Action=GetCallerIdentity&Version=2011-06-15"),
}


def raw_call(url: str, protocol: str) -> RawResponse:
    """Sends one request over a plain socket and reads until the server closes or resets."""
    method, path, headers, body = RAW_REQUESTS[protocol]
    address = urlparse(url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {address.netloc}", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    received = b""
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + body)
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    head, _, content = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return RawResponse(int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, content)


# --- throttling ----------------------------------------------------------------


class TestThrottle:
    @pytest.mark.parametrize("name, expected", [
        ("config", ("ThrottlingException", 400)),
        ("organizations", ("ThrottlingException", 400)),
        ("lambda", ("TooManyRequestsException", 429)),
        ("sts", ("Throttling", 400)),
        ("iam", ("Throttling", 400)),
        ("cloudformation", ("Throttling", 400)),
    ])
    def test_botocore_reads_the_services_throttling_error(
        self, server: str, name: str, expected: tuple[str, int]
    ) -> None:
        faults(server, {"throttle": 1})
        assert call(server, name) == expected
        assert stats(server)["faults"]["throttle"] == 1  # one request: no retry hid it

    def test_json_11_wire_format(self, server: str) -> None:
        faults(server, {"throttle": 1})
        response = raw_call(server, "json")
        assert response.status == 400
        assert response.headers["content-type"] == "application/x-amz-json-1.1"
        assert json.loads(response.body) == {"__type": "ThrottlingException", "message": "Rate exceeded"}

    def test_lambda_wire_format(self, server: str) -> None:
        faults(server, {"throttle": 1})
        response = raw_call(server, "rest-json")
        assert response.status == 429
        assert response.headers["x-amzn-errortype"] == "TooManyRequestsException"
        assert json.loads(response.body) == {
            "Type": "User", "message": "Rate exceeded", "Reason": "CallerRateLimitExceeded"
        }

    def test_query_wire_format(self, server: str) -> None:
        faults(server, {"throttle": 1})
        response = raw_call(server, "query")
        assert response.status == 400
        assert response.headers["content-type"] == "text/xml"
        body = response.body.decode()
        assert (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            "<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>"
        ) in body
        assert body.endswith("</RequestId></ErrorResponse>")


# --- server errors ---------------------------------------------------------------


class TestServerError:
    @pytest.mark.parametrize("name, internal", [
        ("config", "InternalFailure"),
        ("organizations", "InternalFailure"),
        ("lambda", "ServiceException"),
        ("sts", "InternalFailure"),
        ("iam", "InternalFailure"),
        ("cloudformation", "InternalFailure"),
    ])
    def test_500_and_503_alternate_by_chance(self, server: str, name: str, internal: str) -> None:
        faults(server, {"server_error": 1})
        outcomes = {call(server, name) for _ in range(16)}
        assert outcomes == {(internal, 500), ("ServiceUnavailable", 503)}

    @pytest.mark.parametrize("protocol", ["json", "rest-json", "query"])
    def test_wire_format(self, server: str, protocol: str) -> None:
        faults(server, {"server_error": 1})
        statuses = set()
        for _ in range(16):
            response = raw_call(server, protocol)
            statuses.add(response.status)
            if protocol == "query":
                assert b"<Type>Receiver</Type>" in response.body
            else:
                assert json.loads(response.body)
        assert statuses == {500, 503}


# --- dropped connections -------------------------------------------------------------


class TestDrop:
    @pytest.mark.parametrize("protocol", ["json", "rest-json", "query"])
    def test_the_body_is_cut_off_and_the_server_keeps_serving(self, server: str, protocol: str) -> None:
        complete = raw_call(server, protocol)
        faults(server, {"drop": 1})
        cut = raw_call(server, protocol)
        assert cut.status == complete.status == 200
        length = int(cut.headers["content-length"])
        assert length == len(complete.body) > 0
        assert len(cut.body) == length // 2
        control(server, "DELETE", "faults")
        again = raw_call(server, protocol)  # the same answer, but for its request ID
        assert (again.status, len(again.body)) == (200, len(complete.body))

    def test_botocore_sees_a_broken_connection(self, server: str) -> None:
        faults(server, {"drop": 1})
        with pytest.raises(ConnectionClosedError):
            client(server, "sts").get_caller_identity()

    def test_an_answer_without_a_body_is_dropped_before_it_starts(self, server: str) -> None:
        client(server, "iam").create_role(
            RoleName="lambda", AssumeRolePolicyDocument=json.dumps(seed.LAMBDA_TRUST_POLICY)
        )
        lam = client(server, "lambda")
        lam.create_function(FunctionName="short-lived", Runtime="python3.12", Handler="index.handler",
                            Role="arn:aws:iam::123456789012:role/lambda",
                            Code={"ZipFile": seed.tiny_zip("index.py", "")})
        faults(server, {"match": {"action": "lambda:DeleteFunction"}, "drop": 1})
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError):
            lam.delete_function(FunctionName="short-lived")  # 204, no body
        assert time.monotonic() - started < 5  # closed at once, not left waiting
        assert outcome(lam.list_layers) == ("OK", 200)

    def test_many_drops_among_concurrent_requests_do_not_stop_the_server(self, server: str) -> None:
        faults(server, {"match": {"action": "sts:*"}, "drop": 1})
        failures: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(10):
                    with pytest.raises(ConnectionClosedError):
                        client(server, "sts").get_caller_identity()
                    assert call(server, "lambda") == ("OK", 200)
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                failures.append(error)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert stats(server)["faults"]["drop"] == 40


# --- which requests a rule applies to ----------------------------------------------------


class TestMatching:
    def test_an_action(self, server: str) -> None:
        faults(server, {"match": {"action": "lambda:ListFunctions"}, "throttle": 1})
        lam = client(server, "lambda")
        assert outcome(lam.list_functions) == ("TooManyRequestsException", 429)
        assert outcome(lam.list_layers) == ("OK", 200)

    def test_a_service_prefix(self, server: str) -> None:
        faults(server, {"match": {"action": "lambda:*"}, "throttle": 1})
        lam = client(server, "lambda")
        assert outcome(lam.list_functions)[0] == "TooManyRequestsException"
        assert outcome(lam.list_layers)[0] == "TooManyRequestsException"
        assert call(server, "sts") == ("OK", 200)

    def test_any_action(self, server: str) -> None:
        faults(server, {"match": {"action": "*"}, "throttle": 1})
        assert {call(server, name)[0] for name in CALLS} == {
            "ThrottlingException", "TooManyRequestsException", "Throttling"
        }

    def test_actions_compare_case_insensitively(self, server: str) -> None:
        faults(server, {"match": {"action": "Config:selectAggregateResourceConfig"}, "throttle": 1})
        assert call(server, "config")[0] == "ThrottlingException"

    def test_a_region(self, server: str) -> None:
        faults(server, {"match": {"region": "eu-west-1"}, "throttle": 1})
        assert outcome(client(server, "lambda", "eu-west-1").list_functions)[0] == "TooManyRequestsException"
        assert outcome(client(server, "lambda", "us-east-1").list_functions) == ("OK", 200)

    def test_an_account_named_by_moto_header(self, server: str) -> None:
        faults(server, {"match": {"account": OTHER_ACCOUNT}, "throttle": 1})
        other = client(server, "lambda", account=OTHER_ACCOUNT)
        assert outcome(other.list_functions)[0] == "TooManyRequestsException"
        assert call(server, "lambda") == ("OK", 200)

    def test_an_account_of_assumed_role_credentials(self, server: str) -> None:
        client(server, "iam", account=OTHER_ACCOUNT).create_role(
            RoleName="audit", AssumeRolePolicyDocument=json.dumps(seed.LAMBDA_TRUST_POLICY)
        )
        credentials = client(server, "sts").assume_role(
            RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/audit", RoleSessionName="faults"
        )["Credentials"]
        assumed = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
        faults(server, {"match": {"account": OTHER_ACCOUNT, "action": "lambda:*"}, "throttle": 1})
        lam = client(server, "lambda", credentials=assumed)
        assert outcome(lam.list_functions)[0] == "TooManyRequestsException"
        assert call(server, "lambda") == ("OK", 200)

    def test_every_key_must_match(self, server: str) -> None:
        faults(server, {"match": {"action": "lambda:*", "region": "eu-west-1", "account": OTHER_ACCOUNT},
                        "throttle": 1})
        assert outcome(client(server, "lambda", "eu-west-1").list_functions) == ("OK", 200)
        assert outcome(client(server, "lambda", account=OTHER_ACCOUNT).list_functions) == ("OK", 200)
        matching = client(server, "lambda", "eu-west-1", account=OTHER_ACCOUNT)
        assert outcome(matching.list_functions)[0] == "TooManyRequestsException"

    def test_the_first_matching_rule_wins(self, server: str) -> None:
        faults(
            server,
            {"match": {"action": "lambda:ListFunctions"}},
            {"match": {"action": "lambda:*"}, "throttle": 1},
            {"server_error": 1},
        )
        lam = client(server, "lambda")
        assert outcome(lam.list_functions) == ("OK", 200)
        assert outcome(lam.list_layers)[0] == "TooManyRequestsException"
        assert call(server, "sts")[1] in (500, 503)


    def test_after_lets_the_first_matching_requests_through(self, server: str) -> None:
        faults(server, {"match": {"action": "lambda:ListFunctions"}, "throttle": 1, "after": 2})
        lam = client(server, "lambda")
        assert outcome(lam.list_layers) == ("OK", 200)  # does not match: not counted
        assert [outcome(lam.list_functions)[0] for _ in range(4)] == [
            "OK", "OK", "TooManyRequestsException", "TooManyRequestsException"
        ]
        faults(server, {"match": {"action": "lambda:ListFunctions"}, "throttle": 1, "after": 1})
        assert outcome(lam.list_functions)[0] == "OK"  # a new configuration counts afresh


class TestLatency:
    def test_latency_is_added_before_answering(self, server: str) -> None:
        faults(server, {"match": {"action": "lambda:ListFunctions"}, "latency_ms": 300})
        lam = client(server, "lambda")
        started = time.monotonic()
        assert outcome(lam.list_functions) == ("OK", 200)
        assert time.monotonic() - started >= 0.3

    def test_latency_applies_to_faults_too(self, server: str) -> None:
        faults(server, {"latency_ms": 200, "throttle": 1})
        started = time.monotonic()
        assert call(server, "sts")[0] == "Throttling"
        assert time.monotonic() - started >= 0.2


# --- statistics ---------------------------------------------------------------------


class TestStatistics:
    def test_counts_by_action_including_faulted_requests(self, server: str) -> None:
        faults(server, {"match": {"action": "iam:*"}, "throttle": 1})
        for name in ("lambda", "lambda", "sts", "iam", "config"):
            call(server, name)
        assert stats(server) == {
            "total": 5,
            "by_action": {
                "config:SelectAggregateResourceConfig": 1,
                "iam:ListRoles": 1,
                "lambda:ListFunctions": 2,
                "sts:GetCallerIdentity": 1,
            },
            "faults": {"throttle": 1, "server_error": 0, "drop": 0},
        }

    def test_lambda_rest_operations_are_named(self, server: str) -> None:
        lam = client(server, "lambda")
        lam.list_layers()
        lam.list_layer_versions(LayerName="nothing")
        for get in (lam.get_function, lam.get_function_configuration):
            outcome(get, FunctionName="missing")
        outcome(lam.list_tags, Resource="arn:aws:lambda:us-east-1:123456789012:function:missing")
        outcome(lam.update_function_configuration, FunctionName="missing", Timeout=5)
        outcome(lam.publish_layer_version, LayerName="lib", Content={"ZipFile": seed.tiny_zip("a.py", "")})
        outcome(lam.create_function, FunctionName="f", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/r",
                Handler="index.handler", Code={"ZipFile": seed.tiny_zip("index.py", "")})
        assert set(stats(server)["by_action"]) == {
            f"lambda:{name}" for name in (
                "ListLayers", "ListLayerVersions", "GetFunction", "GetFunctionConfiguration", "ListTags",
                "UpdateFunctionConfiguration", "PublishLayerVersion", "CreateFunction",
            )
        }

    def test_control_and_moto_api_requests_are_not_counted(self, server: str) -> None:
        call(server, "sts")
        control(server, "GET", "faults")
        stats(server)
        urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/seed?a=1", method="POST"))
        assert stats(server)["total"] == 1

    def test_reset(self, server: str) -> None:
        faults(server, {"throttle": 1})
        call(server, "sts")
        status, answer = control(server, "DELETE", "stats")
        assert status == 200
        assert answer == {"total": 0, "by_action": {}, "faults": {"throttle": 0, "server_error": 0, "drop": 0}}
        assert stats(server) == answer

    def test_concurrent_requests_are_all_counted(self, server: str) -> None:
        def work() -> None:
            lam = client(server, "lambda")
            for _ in range(25):
                lam.list_layers()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert stats(server)["by_action"] == {"lambda:ListLayers": 100}


# --- configuration ------------------------------------------------------------------


class TestConfiguration:
    def test_answers_and_shows_the_configuration_with_defaults(self, server: str) -> None:
        rule = {"match": {"action": "lambda:*"}, "throttle": 0.25}
        status, answer = control(server, "POST", "faults", {"seed": 7, "rules": [rule]})
        expected = {"seed": 7, "rules": [
            {"match": {"action": "lambda:*"}, "latency_ms": 0, "throttle": 0.25, "server_error": 0, "drop": 0,
             "after": 0}
        ]}
        assert (status, answer) == (200, expected)
        assert control(server, "GET", "faults") == (200, expected)

    def test_clearing_removes_every_rule(self, server: str) -> None:
        faults(server, {"throttle": 1})
        assert call(server, "sts")[0] == "Throttling"
        assert control(server, "DELETE", "faults")[1]["rules"] == []
        assert call(server, "sts") == ("OK", 200)

    def test_the_same_seed_gives_the_same_faults(self, server: str) -> None:
        def run() -> list[tuple[str, int]]:
            faults(server, {"throttle": 0.3, "server_error": 0.3}, seed_value=1234)
            return [call(server, "sts") for _ in range(30)]

        first = run()
        assert first == run()
        assert {code for code, _ in first} >= {"OK", "Throttling"}

    @pytest.mark.parametrize("document", [
        [],
        {"rules": {}},
        {"seed": "x"},
        {"rules": [{"throttle": 1.5}]},
        {"rules": [{"throttle": 0.6, "drop": 0.6}]},
        {"rules": [{"latency_ms": -1}]},
        {"rules": [{"after": 1.5}]},
        {"rules": [{"after": -1}]},
        {"rules": [{"match": {"service": "lambda"}}]},
        {"rules": [{"match": {"action": ""}}]},
        {"rules": [{"thottle": 1}]},
        {"rules": [], "extra": 1},
    ])
    def test_a_malformed_configuration_is_refused_and_changes_nothing(
        self, server: str, document: Any
    ) -> None:
        faults(server, {"match": {"action": "iam:*"}, "throttle": 1})
        status, answer = control(server, "POST", "faults", document)
        assert status == 400
        assert answer["message"]
        assert len(control(server, "GET", "faults")[1]["rules"]) == 1

    def test_unknown_endpoints_and_methods(self, server: str) -> None:
        assert control(server, "GET", "nothing")[0] == 404
        assert control(server, "PUT", "faults")[0] == 405
