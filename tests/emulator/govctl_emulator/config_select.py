"""AWS Config `SelectAggregateResourceConfig`, answered from moto's own state.

moto stores configuration aggregators but cannot query them, and its Config
never records Lambda functions. govctl discovers layer use through this call,
so the emulator answers it: the aggregator (moto's Config backend) gives the
accounts and regions in scope, moto's Lambda backends give the functions, and
each function becomes the configuration item AWS Config's advanced query sees
for `AWS::Lambda::Function` (property names from the aws-config-resource-schema
repository). Paging, limits and errors follow the AWS Config API reference.

Every page of a query needs the same ordered rows. Turning 100,000 functions
into configuration items takes seconds, so the rows of recent queries are kept
(see _RowCache) until a Lambda function changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from moto.config.exceptions import (
    InvalidLimitException,
    InvalidNextTokenException,
    NoSuchConfigurationAggregatorException,
)
from moto.config.models import ConfigAggregator, config_backends
from moto.config.responses import ConfigResponse
from moto.core.exceptions import JsonRESTError

from . import accounts, config_query, lambda_state

MAX_PAGE_SIZE = 100
LAMBDA_FUNCTION = "AWS::Lambda::Function"
CACHED_QUERIES = 32

# (account, regions or None for all) pairs an aggregator covers
Scope = tuple[tuple[str, tuple[str, ...] | None], ...]


class InvalidExpressionException(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidExpressionException", message)


def select_aggregate_resource_config(self: ConfigResponse) -> str:
    """Method added to moto's ConfigResponse (dispatched by action name)."""
    expression = self._get_param("Expression") or ""
    aggregator_name = self._get_param("ConfigurationAggregatorName")
    page_size = _page_size(self._get_param("Limit"), self._get_param("MaxResults"))
    try:
        query = config_query.parse(expression)
    except config_query.ExpressionError as error:
        raise InvalidExpressionException(str(error)) from None
    aggregator = config_backends[self.current_account][self.region].config_aggregators.get(
        aggregator_name
    )
    if aggregator is None:
        raise NoSuchConfigurationAggregatorException()

    rows = _ROWS.rows(_scope(aggregator, self.current_account), expression, query)
    binding = _token_binding(expression, aggregator_name)
    start = _decode_token(self._get_param("NextToken"), binding)

    response: dict[str, Any] = {
        "Results": rows[start : start + page_size],
        "QueryInfo": {"SelectFields": [{"Name": field} for field in query.fields]},
    }
    if start + page_size < len(rows):
        response["NextToken"] = _encode_token(start + page_size, binding)
    return json.dumps(response)


def install() -> None:
    ConfigResponse.select_aggregate_resource_config = select_aggregate_resource_config  # type: ignore[attr-defined]


def _page_size(limit: int | None, max_results: int | None) -> int:
    for value in (limit, max_results):
        if value is not None and value > MAX_PAGE_SIZE:
            raise InvalidLimitException(value)
    return limit or max_results or MAX_PAGE_SIZE


def _token_binding(expression: str, aggregator_name: str) -> str:
    return hashlib.sha256(f"{aggregator_name}\n{expression}".encode()).hexdigest()[:16]


def _encode_token(offset: int, binding: str) -> str:
    raw = json.dumps({"offset": offset, "query": binding}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str | None, binding: str) -> int:
    if not token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = decoded["offset"]
        matches = decoded["query"] == binding
    except (ValueError, TypeError, KeyError):
        raise InvalidNextTokenException() from None
    if not matches or not isinstance(offset, int) or offset < 0:
        raise InvalidNextTokenException()
    return offset


class _RowCache:
    """The result rows (JSON strings, in page order) of recent queries.

    Valid while lambda_state's generation stays the same. The configuration
    items of the latest scope are kept too, so another expression over the same
    aggregator (the hand-run baseline asks one per layer version)
    only filters them. Keyed by scope rather than aggregator name, so a change
    of organization membership or of the aggregator is a different key.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = -1
        self._items: tuple[Scope, list[dict[str, Any]]] | None = None
        self._rows: OrderedDict[tuple[Scope, str], list[str]] = OrderedDict()

    def rows(self, scope: Scope, expression: str, query: config_query.Query) -> list[str]:
        with self._lock:
            if self._generation != lambda_state.generation():
                self._generation = lambda_state.generation()
                self._items = None
                self._rows.clear()
            key = (scope, expression)
            if key not in self._rows:
                self._rows[key] = [
                    json.dumps(query.project(item)) for item in self._items_of(scope) if query.matches(item)
                ]
                if len(self._rows) > CACHED_QUERIES:
                    self._rows.popitem(last=False)
            self._rows.move_to_end(key)
            return self._rows[key]

    def _items_of(self, scope: Scope) -> list[dict[str, Any]]:
        if self._items is None or self._items[0] != scope:
            items = [_lambda_configuration_item(function) for function in _functions(scope)]
            items.sort(key=lambda item: (item["accountId"], item["awsRegion"], item["resourceId"]))
            self._items = (scope, items)
        return self._items[1]


_ROWS = _RowCache()


def _functions(scope: Scope) -> Iterator[Any]:
    for account_id, regions in scope:
        yield from lambda_state.latest_functions(account_id, regions)


def _scope(aggregator: ConfigAggregator, caller: str) -> Scope:
    """(account, regions) pairs the aggregator covers; None regions means all of them."""
    pairs = []
    for source in aggregator.account_aggregation_sources or []:
        regions = None if source.all_aws_regions else tuple(source.aws_regions or ())
        pairs += [(account_id, regions) for account_id in source.account_ids]
    org_source = aggregator.organization_aggregation_source
    if org_source:
        regions = None if org_source.all_aws_regions else tuple(org_source.aws_regions or ())
        pairs += [(account_id, regions) for account_id in accounts.active_organization_accounts(caller)]
    return tuple(pairs)


def _lambda_configuration_item(function: Any) -> dict[str, Any]:
    """A Lambda function as AWS Config's advanced query returns it."""
    tags = [
        {"key": key, "value": value, "tag": f"{key}={value}"}
        for key, value in sorted(function.tags.items())
    ]
    return {
        "version": "1.3",
        "accountId": function.account_id,
        "configurationItemCaptureTime": function.last_modified,
        "configurationItemStatus": "OK",
        "resourceType": LAMBDA_FUNCTION,
        "resourceId": function.function_name,
        "resourceName": function.function_name,
        "arn": function.function_arn,
        "awsRegion": function.region,
        "availabilityZone": "Not Applicable",
        "tags": tags,
        "configuration": {
            "functionName": function.function_name,
            "functionArn": function.function_arn,
            "runtime": function.run_time,
            "role": function.role,
            "handler": function.handler,
            "codeSize": function.code_size,
            "codeSha256": function.code_sha_256,
            "description": function.description,
            "timeout": function.timeout,
            "memorySize": function.memory_size,
            "lastModified": function.last_modified,
            "version": "$LATEST",
            "revisionId": function.revision_id,
            "layers": [
                {"arn": layer["Arn"], "codeSize": layer["CodeSize"]}
                for layer in function.layers
            ],
            "packageType": function.package_type,
            "architectures": list(function.architectures),
            "state": {"value": function.state},
            "lastUpdateStatus": "Successful",
            "tracingConfig": {"mode": function.tracing_config.get("Mode", "PassThrough")},
            "ephemeralStorage": {"size": function.ephemeral_storage},
        },
    }
