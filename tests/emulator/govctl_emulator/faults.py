"""Fault injection and request statistics: a WSGI middleware in front of moto.

AWS throttles (AWS Config publishes no rate limit for the aggregate query),
fails now and then, and drops connections; govctl must retry, back off and
report, and its tests and benchmark must show that it does, and how many calls
it makes. moto never fails on its own, so this middleware makes it fail on
demand, chosen per action, account and region, and counts every AWS request.

Configuration (through the control endpoints, see __init__.py):

    {"seed": 42, "rules": [{"match": {"action": "config:SelectAggregateResourceConfig",
                                      "account": "123456789012", "region": "us-east-1"},
                            "latency_ms": 50, "throttle": 0.3, "server_error": 0.05, "drop": 0.02}]}

Every `match` key is optional (absent: any); `action` is `service:Action`, a
service prefix (`lambda:*`) or `*`, compared case-insensitively as IAM does.
The first matching rule applies: its latency is added, then one draw of a
`random.Random(seed)` picks at most one fault (the rates are probabilities and
add up to at most 1; a rate of 1 makes the fault persistent), and a server
error is a 500 or a 503 by a second draw. A rule with `"after": N` lets its
first N matching requests through unharmed (but delayed), so a test can fail
the third call of a run, not the first. The generator is shared by all
requests under a lock, so a run is reproducible in distribution (exactly,
when requests come one at a time).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from . import fault_responses
from .aws_request import AwsRequest, identify
from .control import ControlError

FAULTS = ("throttle", "server_error", "drop")
MATCH_KEYS = ("action", "account", "region")
NOT_AWS_PREFIXES = ("/moto-api", "/favicon.ico")


class ConfigError(ControlError):
    """The fault configuration is malformed; the message says where."""


@dataclass(frozen=True)
class Rule:
    action: str | None = None
    account: str | None = None
    region: str | None = None
    latency_ms: float = 0
    throttle: float = 0
    server_error: float = 0
    drop: float = 0
    after: int = 0

    def matches(self, request: AwsRequest) -> bool:
        # The account last: resolving it searches moto's IAM state.
        return (
            _action_matches(self.action, request)
            and self.region in (None, request.region)
            and self.account in (None, request.account)
        )

    def fault(self, draw: float) -> str | None:
        """The fault a uniform draw in [0, 1) selects, if any."""
        threshold = 0.0
        for fault in FAULTS:
            threshold += getattr(self, fault)
            if draw < threshold:
                return fault
        return None

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        match = {key: values.pop(key) for key in MATCH_KEYS}
        return {"match": {key: value for key, value in match.items() if value is not None}, **values}


def parse_configuration(document: Any) -> tuple[int, tuple[Rule, ...]]:
    """(seed, rules) from the JSON document of `POST /_govctl/faults`."""
    _require(isinstance(document, dict), "the body must be a JSON object")
    _require_keys(document, ("seed", "rules"), "the body")
    seed = document.get("seed", 0)
    _require(isinstance(seed, int) and not isinstance(seed, bool), "seed must be an integer")
    rules = document.get("rules", [])
    _require(isinstance(rules, list), "rules must be a list")
    return seed, tuple(_parse_rule(rule, f"rules[{index}]") for index, rule in enumerate(rules))


def _parse_rule(rule: Any, where: str) -> Rule:
    _require(isinstance(rule, dict), f"{where} must be an object")
    numbers = [field.name for field in fields(Rule) if field.name not in MATCH_KEYS]
    _require_keys(rule, ("match", *numbers), where)
    match = rule.get("match", {})
    _require(isinstance(match, dict), f"{where}.match must be an object")
    _require_keys(match, MATCH_KEYS, f"{where}.match")
    for key, value in match.items():
        _require(isinstance(value, str) and value != "", f"{where}.match.{key} must be a non-empty string")
    for key in numbers:
        value = rule.get(key, 0)
        _require(_is_number(value) and value >= 0, f"{where}.{key} must be a number >= 0")
    for fault in FAULTS:
        _require(rule.get(fault, 0) <= 1, f"{where}.{fault} must be a probability in 0..1")
    _require(sum(rule.get(fault, 0) for fault in FAULTS) <= 1, f"{where}: the fault rates add up to more than 1")
    _require(isinstance(rule.get("after", 0), int), f"{where}.after must be an integer")
    return Rule(**match, **{key: rule[key] for key in numbers if key in rule})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _require_keys(document: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = sorted(set(document) - set(allowed))
    _require(not unknown, f"{where} has unknown keys {unknown}; allowed: {sorted(allowed)}")


def _action_matches(pattern: str | None, request: AwsRequest) -> bool:
    if pattern is None or pattern == "*":
        return True
    pattern = pattern.lower()
    if pattern.endswith(":*"):
        return pattern[:-2] == request.service.lower()
    return pattern == request.name.lower()


class FaultInjection:
    """The middleware; its public methods other than __call__ serve the control endpoints."""

    def __init__(self, app: Callable[..., Any]):
        self._app = app
        self._lock = threading.Lock()
        self._seed = 0
        self._rules: tuple[Rule, ...] = ()
        self._matched: Counter[int] = Counter()  # requests each rule (by index) matched
        self._random = random.Random(0)
        self._total = 0
        self._by_action: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def configure(self, document: Any) -> dict[str, Any]:
        seed, rules = parse_configuration(document)
        with self._lock:
            self._seed, self._rules, self._random = seed, rules, random.Random(seed)
            self._matched.clear()
        return self.configuration()

    def clear(self) -> dict[str, Any]:
        with self._lock:
            self._rules = ()
            self._matched.clear()
        return self.configuration()

    def configuration(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self._seed, "rules": [rule.to_json() for rule in self._rules]}

    def statistics(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "by_action": dict(sorted(self._by_action.items())),
                "faults": {fault: self._faults[fault] for fault in FAULTS},
            }

    def reset_statistics(self) -> dict[str, Any]:
        with self._lock:
            self._total = 0
            self._by_action.clear()
            self._faults.clear()
        return self.statistics()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(NOT_AWS_PREFIXES):
            return self._app(environ, start_response)
        request = identify(environ)
        rule, fault = self._decide(request)
        if rule is not None and rule.latency_ms:
            time.sleep(rule.latency_ms / 1000)
        if fault is None:
            return self._app(environ, start_response)
        if fault == "drop":
            return fault_responses.dropped(self._app, environ, start_response)
        answer = fault_responses.error_answer(fault, request)
        start_response(answer.status_line, [*answer.headers, ("Content-Length", str(len(answer.body)))])
        return [answer.body]

    def _decide(self, request: AwsRequest) -> tuple[Rule | None, str | None]:
        """Counts the request; returns its rule, if any, and the fault it draws."""
        with self._lock:
            self._total += 1
            self._by_action[request.name] += 1
            index = next((index for index, rule in enumerate(self._rules) if rule.matches(request)), None)
            if index is None:
                return None, None
            rule = self._rules[index]
            self._matched[index] += 1
            return rule, self._draw(rule) if self._matched[index] > rule.after else None

    def _draw(self, rule: Rule) -> str | None:
        """The rule's fault (the lock is held): None, "drop" or a fault_responses kind."""
        fault = rule.fault(self._random.random())
        if fault is not None:
            self._faults[fault] += 1
        if fault == "server_error":
            unavailable = self._random.random() < 0.5
            return fault_responses.UNAVAILABLE if unavailable else fault_responses.INTERNAL_ERROR
        return fault  # None, "drop", or "throttle", which is fault_responses.THROTTLE
