"""The fake Tailscale server against the API reference: shapes, status codes, error bodies.

Each test resets the server, makes its own OAuth client through the control endpoints
and then talks to the API as a client would: form-encoded token requests, Bearer tokens,
JSON bodies.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

import pytest

TAGS = ["tag:lambda"]


def call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data, all_headers = None, dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def control(url: str, method: str, path: str, body: Any = None) -> Any:
    status, answer = call(url, method, f"/_control/{path}", body)
    assert status == 200, answer
    return answer


@pytest.fixture
def api(fake):
    control(fake.url, "POST", "reset")
    return fake.url


def client(url: str, scopes: list[str] | None = None, tags: list[str] | None = None) -> dict[str, str]:
    return control(url, "POST", "clients", {"scopes": scopes or ["auth_keys"], "tags": tags or TAGS})


def token_for(url: str, creds: dict[str, str], **extra: str) -> str:
    status, answer = call(
        url,
        "POST",
        "/api/v2/oauth/token",
        form={"grant_type": "client_credentials", "client_id": creds["client_id"],
              "client_secret": creds["client_secret"], **extra},
    )
    assert status == 200, answer
    return answer["access_token"]


def key_request(**overrides: Any) -> dict[str, Any]:
    request = {
        "capabilities": {"devices": {"create": {"reusable": True, "ephemeral": True,
                                                "preauthorized": True, "tags": TAGS}}},
        "expirySeconds": 86400,
        "description": "govctl test",
    }
    request.update(overrides)
    return request


def seconds(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


# ----------------------------------------------------------------------------- OAuth


def test_the_token_endpoint_answers_an_oauth_client_credentials_grant(api):
    creds = client(api)
    status, answer = call(api, "POST", "/api/v2/oauth/token", form={
        "grant_type": "client_credentials", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"]})
    assert status == 200
    assert set(answer) == {"access_token", "token_type", "expires_in", "scope"}
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 3600
    assert answer["scope"] == "auth_keys"
    assert answer["access_token"].startswith("tskey-api-")


def test_client_credentials_may_come_as_http_basic_authentication(api):
    creds = client(api)
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    status, answer = call(api, "POST", "/api/v2/oauth/token", form={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"})
    assert status == 200, answer


def test_a_wrong_or_revoked_client_secret_is_refused_with_401(api):
    creds = client(api)
    form = {"grant_type": "client_credentials", "client_id": creds["client_id"], "client_secret": "tskey-client-x"}
    assert call(api, "POST", "/api/v2/oauth/token", form=form) == (401, {"message": "API token invalid"})
    control(api, "DELETE", f"clients/{creds['client_id']}")
    form["client_secret"] = creds["client_secret"]
    assert call(api, "POST", "/api/v2/oauth/token", form=form) == (401, {"message": "API token invalid"})


def test_scopes_beyond_the_client_are_refused_with_403_and_other_grants_with_400(api):
    creds = client(api, scopes=["auth_keys:read"])
    status, answer = call(api, "POST", "/api/v2/oauth/token", form={
        "grant_type": "client_credentials", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"], "scope": "auth_keys"})
    assert status == 403
    assert answer == {"message": 'OAuth client cannot grant scopes "auth_keys"'}
    status, answer = call(api, "POST", "/api/v2/oauth/token", form={"grant_type": "password"})
    assert status == 400 and set(answer) == {"message"}


# ----------------------------------------------------------------------------- keys


def test_creating_a_key_returns_the_key_once_with_its_capabilities_and_dates(api):
    token = token_for(api, client(api))
    before = time.time()
    status, created = call(api, "POST", "/api/v2/tailnet/-/keys", key_request(), token=token)
    assert status == 200, created
    assert re.fullmatch(r"k[A-Za-z0-9]+CNTRL", created["id"])
    assert created["key"].startswith(f"tskey-auth-{created['id']}-")
    assert created["capabilities"] == key_request()["capabilities"]
    assert created["description"] == "govctl test"
    assert before - 1 <= seconds(created["created"]) <= time.time() + 1
    assert seconds(created["expires"]) - seconds(created["created"]) == 86400
    assert "revoked" not in created and "invalid" not in created

    status, shown = call(api, "GET", f"/api/v2/tailnet/-/keys/{created['id']}", token=token)
    assert status == 200
    assert "key" not in shown, "the secret part is returned only once"
    assert {k: shown[k] for k in ("id", "created", "expires", "capabilities")} == {
        k: created[k] for k in ("id", "created", "expires", "capabilities")}


def test_the_tailnet_may_be_named_or_a_dash_and_another_tailnet_is_not_found(api):
    token = token_for(api, client(api))
    assert call(api, "POST", "/api/v2/tailnet/example.com/keys", key_request(), token=token)[0] == 200
    status, answer = call(api, "POST", "/api/v2/tailnet/other.org/keys", key_request(), token=token)
    assert status == 404 and set(answer) == {"message"}


def test_expiry_defaults_to_90_days_and_cannot_exceed_it(api):
    token = token_for(api, client(api))
    request = key_request()
    del request["expirySeconds"]
    status, created = call(api, "POST", "/api/v2/tailnet/-/keys", request, token=token)
    assert status == 200
    assert seconds(created["expires"]) - seconds(created["created"]) == 90 * 86400
    status, answer = call(api, "POST", "/api/v2/tailnet/-/keys", key_request(expirySeconds=91 * 86400), token=token)
    assert status == 400 and set(answer) == {"message"}


@pytest.mark.parametrize("tags", [[], ["tag:other"], ["tag:lambda", "tag:other"]])
def test_keys_of_an_oauth_client_must_carry_tags_the_client_owns(api, tags):
    token = token_for(api, client(api))
    request = key_request()
    request["capabilities"]["devices"]["create"]["tags"] = tags
    status, answer = call(api, "POST", "/api/v2/tailnet/-/keys", request, token=token)
    assert status == 400 and set(answer) == {"message"}
    if tags:
        assert "tag:other" in answer["message"]


@pytest.mark.parametrize("body", [
    {"capabilities": {}},
    {"capabilities": {"devices": {"create": {"tags": TAGS}}}, "description": "x" * 51},
    {"capabilities": {"devices": {"create": {"tags": TAGS}}}, "description": "no/slashes"},
    {"capabilities": {"devices": {"create": {"tags": TAGS, "reusable": "yes"}}}},
])
def test_malformed_key_requests_are_refused_with_400(api, body):
    token = token_for(api, client(api))
    status, answer = call(api, "POST", "/api/v2/tailnet/-/keys", body, token=token)
    assert status == 400 and set(answer) == {"message"}


def test_a_token_without_the_auth_keys_scope_is_refused_with_403(api):
    reader = token_for(api, client(api, scopes=["auth_keys:read"]))
    status, answer = call(api, "POST", "/api/v2/tailnet/-/keys", key_request(), token=reader)
    assert status == 403
    assert answer == {"message": "calling actor does not have enough permissions to perform this function"}
    other = token_for(api, client(api, scopes=["dns:read"]))
    assert call(api, "GET", "/api/v2/tailnet/-/keys/kNOPECNTRL", token=other)[0] == 403


def test_missing_wrong_and_expired_tokens_are_refused_with_401(api):
    token = token_for(api, client(api))
    assert call(api, "GET", "/api/v2/tailnet/-/keys")[0] == 401
    assert call(api, "GET", "/api/v2/tailnet/-/keys", token="tskey-api-nope") == (401, {"message": "API token invalid"})
    assert call(api, "GET", "/api/v2/tailnet/-/keys", token=token)[0] == 200
    control(api, "POST", "tokens/expire")
    assert call(api, "GET", "/api/v2/tailnet/-/keys", token=token) == (401, {"message": "API token invalid"})


def test_unknown_keys_are_not_found_and_deleted_keys_are_revoked_and_invalid(api):
    token = token_for(api, client(api))
    status, answer = call(api, "GET", "/api/v2/tailnet/-/keys/kUNKNOWNCNTRL", token=token)
    assert status == 404 and set(answer) == {"message"}
    assert call(api, "DELETE", "/api/v2/tailnet/-/keys/kUNKNOWNCNTRL", token=token)[0] == 404

    created = call(api, "POST", "/api/v2/tailnet/-/keys", key_request(), token=token)[1]
    assert call(api, "DELETE", f"/api/v2/tailnet/-/keys/{created['id']}", token=token) == (200, None)
    status, shown = call(api, "GET", f"/api/v2/tailnet/-/keys/{created['id']}", token=token)
    assert status == 200
    assert shown["invalid"] is True
    assert seconds(shown["revoked"]) <= time.time() + 1
    listed = call(api, "GET", "/api/v2/tailnet/-/keys", token=token)[1]
    assert created["id"] not in [key["id"] for key in listed["keys"]], "only active keys are listed"


def test_an_expired_key_is_invalid_without_being_revoked(api):
    token = token_for(api, client(api))
    seeded = control(api, "POST", "keys", {"tags": TAGS, "created": "2020-01-01T00:00:00Z",
                                           "expires": "2020-03-31T00:00:00Z"})
    status, shown = call(api, "GET", f"/api/v2/tailnet/-/keys/{seeded['id']}", token=token)
    assert status == 200
    assert shown["invalid"] is True and "revoked" not in shown
    assert shown["expires"] == "2020-03-31T00:00:00Z"


def test_listing_shows_active_keys_with_descriptions_and_never_the_secret(api):
    token = token_for(api, client(api))
    created = call(api, "POST", "/api/v2/tailnet/-/keys", key_request(description="govctl abc"), token=token)[1]
    status, listed = call(api, "GET", "/api/v2/tailnet/-/keys", token=token)
    assert status == 200
    (only,) = listed["keys"]
    assert only["id"] == created["id"] and only["description"] == "govctl abc"
    assert "key" not in only


# ----------------------------------------------------------------------------- faults


def test_injected_server_errors_fire_as_often_as_asked(api):
    token = token_for(api, client(api))
    control(api, "POST", "faults", {"rules": [{"endpoint": "get_key", "status": 503, "times": 2, "after": 1}]})
    path = "/api/v2/tailnet/-/keys/kNOPECNTRL"
    assert call(api, "GET", path, token=token)[0] == 404, "after: the first one passes"
    assert call(api, "GET", path, token=token) == (503, {"message": "service unavailable"})
    assert call(api, "GET", path, token=token) == (503, {"message": "service unavailable"})
    assert call(api, "GET", path, token=token)[0] == 404, "times: only twice"


def test_a_lost_answer_does_the_work_and_answers_an_error(api):
    token = token_for(api, client(api))
    control(api, "POST", "faults", {"rules": [{"endpoint": "create_key", "status": 500, "apply": True}]})
    assert call(api, "POST", "/api/v2/tailnet/-/keys", key_request(), token=token) == (
        500, {"message": "internal server error"})
    (minted,) = control(api, "GET", "keys")["keys"]
    assert minted["description"] == "govctl test" and "invalid" not in minted


def test_throttling_answers_429_with_a_message(api):
    creds = client(api)
    control(api, "POST", "faults", {"rules": [{"endpoint": "token", "status": 429}]})
    status, answer = call(api, "POST", "/api/v2/oauth/token", form={
        "grant_type": "client_credentials", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"]})
    assert (status, answer) == (429, {"message": "too many requests"})


def test_malformed_fault_rules_are_refused(api):
    status, answer = call(api, "POST", "/_control/faults", {"rules": [{"endpoint": "nope", "status": 500}]})
    assert status == 400 and "endpoint" in answer["message"]
    status, answer = call(api, "POST", "/_control/faults", {"rules": [{"status": 200}]})
    assert status == 400


def test_the_request_log_names_endpoints_and_statuses_without_secrets(api):
    creds = client(api)
    token = token_for(api, creds)
    created = call(api, "POST", "/api/v2/tailnet/-/keys", key_request(), token=token)[1]
    log = control(api, "GET", "requests")["requests"]
    assert [(r["endpoint"], r["status"]) for r in log] == [("token", 200), ("create_key", 200)]
    text = json.dumps(log)
    for secret in (creds["client_secret"], token, created["key"]):
        assert secret not in text
