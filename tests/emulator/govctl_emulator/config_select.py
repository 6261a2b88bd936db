"""AWS Config `SelectAggregateResourceConfig`, answered from moto's own state.

moto stores configuration aggregators but cannot query them, and its Config
never records Lambda functions. govctl discovers layer use through this call,
so the emulator answers it: the aggregator (moto's Config backend) gives the
accounts and regions in scope, moto's Lambda backends give the functions, and
each function becomes the configuration item AWS Config's advanced query sees
for `AWS::Lambda::Function` (property names from the aws-config-resource-schema
repository). Paging, limits and errors follow the AWS Config API reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
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

    items = [
        item
        for item in _configuration_items(aggregator, self.current_account)
        if query.matches(item)
    ]
    items.sort(key=lambda item: (item["accountId"], item["awsRegion"], item["resourceId"]))
    binding = _token_binding(expression, aggregator_name)
    start = _decode_token(self._get_param("NextToken"), binding)
    page = items[start : start + page_size]

    response: dict[str, Any] = {
        "Results": [json.dumps(query.project(item)) for item in page],
        "QueryInfo": {"SelectFields": [{"Name": field} for field in query.fields]},
    }
    if start + page_size < len(items):
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


def _configuration_items(aggregator: ConfigAggregator, caller: str) -> Iterator[dict[str, Any]]:
    for account_id, regions in _scope(aggregator, caller):
        for function in lambda_state.latest_functions(account_id, regions):
            yield _lambda_configuration_item(function)


def _scope(aggregator: ConfigAggregator, caller: str) -> Iterator[tuple[str, list[str] | None]]:
    """(account, regions) pairs the aggregator covers; None regions means all of them."""
    for source in aggregator.account_aggregation_sources or []:
        regions = None if source.all_aws_regions else list(source.aws_regions or [])
        for account_id in source.account_ids:
            yield account_id, regions
    org_source = aggregator.organization_aggregation_source
    if org_source:
        regions = None if org_source.all_aws_regions else list(org_source.aws_regions or [])
        for account_id in accounts.active_organization_accounts(caller):
            yield account_id, regions


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
