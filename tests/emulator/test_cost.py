"""Tests of the Cost Explorer extension (govctl_emulator/cost_explorer.py), through boto3.

Each test seeds its own small table relative to today (the extension answers relative to
the server's clock), so they hold on any date. Expected values are worked out by hand from
the rows below, not by the extension's own code.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import control, reset

PROD, DEV = "111111111111", "222222222222"
LAMBDA, SEARCH, S3 = "AWS Lambda", "Amazon OpenSearch Service", "Amazon Simple Storage Service"
TODAY = datetime.now(timezone.utc).date()


def month(offset: int) -> date:
    """The first day of the month `offset` months before this one."""
    index = TODAY.year * 12 + TODAY.month - 1 - offset
    return date(index // 12, index % 12 + 1, 1)


def ym(offset: int) -> str:
    return month(offset).strftime("%Y-%m")


ROWS = [
    {"account": PROD, "service": LAMBDA, "month": ym(2), "amount": "10.5"},
    {"account": PROD, "service": LAMBDA, "month": ym(1), "amount": "20.25"},
    {"account": PROD, "service": LAMBDA, "month": ym(0), "amount": "4"},
    {"account": PROD, "service": SEARCH, "month": ym(1), "amount": "100", "metrics": {"AmortizedCost": "80"}},
    {"account": PROD, "service": SEARCH, "month": ym(0), "amount": "30"},
    {"account": DEV, "service": LAMBDA, "month": ym(2), "amount": "0.1"},
    {"account": DEV, "service": LAMBDA, "month": ym(1), "amount": "0.2"},
    {"account": DEV, "service": S3, "month": ym(0), "amount": "7"},
]


@pytest.fixture()
def ce(endpoint: str) -> Iterator[Any]:
    reset(endpoint)
    status, answer = control(endpoint, "POST", "cost-explorer", {"rows": ROWS, "page_size": 100})
    assert status == 200, answer
    yield boto3.client(
        "ce", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    reset(endpoint)


def period(first: int, last: int) -> dict[str, str]:
    """From the month `first` months back to the end of the month `last` months back."""
    return {"Start": month(first).isoformat(), "End": _next(month(last)).isoformat()}


def _next(first_day: date) -> date:
    return (first_day + timedelta(days=32)).replace(day=1)


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def amounts(answer: dict[str, Any], metric: str = "UnblendedCost") -> dict[str, dict[tuple[str, ...], str]]:
    """Month (YYYY-MM) to group keys to amount, merged over the results."""
    merged: dict[str, dict[tuple[str, ...], str]] = {}
    for result in answer["ResultsByTime"]:
        groups = merged.setdefault(result["TimePeriod"]["Start"][:7], {})
        for group in result["Groups"]:
            groups[tuple(group["Keys"])] = group["Metrics"][metric]["Amount"]
    return merged


def test_ungrouped_totals_per_month_honour_the_time_period(ce: Any) -> None:
    answer = ce.get_cost_and_usage(TimePeriod=period(2, 1), Granularity="MONTHLY", Metrics=["UnblendedCost"])
    results = answer["ResultsByTime"]
    assert [r["TimePeriod"] for r in results] == [
        {"Start": month(2).isoformat(), "End": month(1).isoformat()},
        {"Start": month(1).isoformat(), "End": month(0).isoformat()},
    ]
    assert [r["Total"]["UnblendedCost"] for r in results] == [
        {"Amount": "10.6", "Unit": "USD"},
        {"Amount": "120.45", "Unit": "USD"},
    ]
    assert [r["Groups"] for r in results] == [[], []]
    assert [r["Estimated"] for r in results] == [False, False]
    assert "GroupDefinitions" not in answer and "NextPageToken" not in answer


def test_the_current_month_is_month_to_date_and_estimated(ce: Any) -> None:
    answer = ce.get_cost_and_usage(TimePeriod=period(0, 0), Granularity="MONTHLY", Metrics=["UnblendedCost"])
    (result,) = answer["ResultsByTime"]
    assert result["Estimated"] is True
    assert result["Total"]["UnblendedCost"]["Amount"] == "41"


def test_two_dimensions_group_sorted_by_keys_with_an_empty_total(ce: Any) -> None:
    answer = ce.get_cost_and_usage(
        TimePeriod=period(1, 0), Granularity="MONTHLY", Metrics=["UnblendedCost", "AmortizedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
    )
    assert answer["GroupDefinitions"] == [
        {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"},
    ]
    assert all(result["Total"] == {} for result in answer["ResultsByTime"])
    assert amounts(answer) == {
        ym(1): {(PROD, SEARCH): "100", (PROD, LAMBDA): "20.25", (DEV, LAMBDA): "0.2"},
        ym(0): {(PROD, SEARCH): "30", (PROD, LAMBDA): "4", (DEV, S3): "7"},
    }
    assert amounts(answer, "AmortizedCost")[ym(1)][(PROD, SEARCH)] == "80"
    keys = [group["Keys"] for group in answer["ResultsByTime"][0]["Groups"]]
    assert keys == sorted(keys)


def test_a_service_grouping_sums_over_accounts(ce: Any) -> None:
    answer = ce.get_cost_and_usage(
        TimePeriod=period(2, 1), Granularity="MONTHLY", Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}],
    )
    assert amounts(answer) == {
        ym(2): {(LAMBDA,): "10.6"},
        ym(1): {(LAMBDA,): "20.45", (SEARCH,): "100"},
    }


def test_filters_on_accounts_and_services_combine(ce: Any) -> None:
    def grouped(expression: dict[str, Any]) -> dict[str, dict[tuple[str, ...], str]]:
        return amounts(ce.get_cost_and_usage(
            TimePeriod=period(1, 1), Granularity="MONTHLY", Metrics=["UnblendedCost"],
            GroupBy=[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
            Filter=expression,
        ))

    prod = {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [PROD]}}
    lambda_only = {"Dimensions": {"Key": "SERVICE", "Values": [LAMBDA], "MatchOptions": ["EQUALS"]}}
    assert grouped(prod) == {ym(1): {(PROD, SEARCH): "100", (PROD, LAMBDA): "20.25"}}
    assert grouped({"And": [prod, lambda_only]}) == {ym(1): {(PROD, LAMBDA): "20.25"}}
    assert grouped({"Or": [prod, lambda_only]}) == {
        ym(1): {(PROD, SEARCH): "100", (PROD, LAMBDA): "20.25", (DEV, LAMBDA): "0.2"},
    }
    assert grouped({"Not": prod}) == {ym(1): {(DEV, LAMBDA): "0.2"}}


def test_a_month_without_groups_is_still_reported(ce: Any) -> None:
    answer = ce.get_cost_and_usage(
        TimePeriod=period(2, 2), Granularity="MONTHLY", Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": [S3]}},
    )
    (result,) = answer["ResultsByTime"]
    assert result["Groups"] == [] and result["Total"] == {}


def test_account_names_come_with_a_linked_account_grouping(endpoint: str, ce: Any) -> None:
    organizations = boto3.client(
        "organizations", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    organizations.create_organization(FeatureSet="ALL")
    answer = ce.get_cost_and_usage(
        TimePeriod=period(0, 0), Granularity="MONTHLY", Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
        Filter={"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["123456789012", PROD]}},
    )
    # Only accounts of the caller's organization have a name; PROD is not one of them here.
    assert answer["DimensionValueAttributes"] == []
    assert amounts(answer) == {ym(0): {(PROD,): "34"}}


def test_pages_hold_page_size_groups_and_split_months(endpoint: str, ce: Any) -> None:
    control(endpoint, "POST", "cost-explorer", {"rows": ROWS, "page_size": 2})
    request = {
        "TimePeriod": period(2, 0), "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    pages = [ce.get_cost_and_usage(**request)]
    while "NextPageToken" in pages[-1]:
        pages.append(ce.get_cost_and_usage(**request, NextPageToken=pages[-1]["NextPageToken"]))
    # 2 + 3 + 3 groups, two per page
    assert [sum(len(r["Groups"]) for r in page["ResultsByTime"]) for page in pages] == [2, 2, 2, 2]
    starts = [[r["TimePeriod"]["Start"][:7] for r in page["ResultsByTime"]] for page in pages]
    assert starts == [[ym(2)], [ym(1)], [ym(1), ym(0)], [ym(0)]]
    merged: dict[str, dict[tuple[str, ...], str]] = {}
    for page in pages:
        for key, groups in amounts(page).items():
            merged.setdefault(key, {}).update(groups)
    control(endpoint, "POST", "cost-explorer", {"rows": ROWS, "page_size": 100})
    whole = ce.get_cost_and_usage(**request)
    assert "NextPageToken" not in whole
    assert merged == amounts(whole)


def test_a_token_continues_only_its_own_request(ce: Any, endpoint: str) -> None:
    control(endpoint, "POST", "cost-explorer", {"rows": ROWS, "page_size": 1})
    first = ce.get_cost_and_usage(TimePeriod=period(1, 0), Granularity="MONTHLY", Metrics=["UnblendedCost"])
    token = first["NextPageToken"]
    assert error_code(
        ce.get_cost_and_usage, TimePeriod=period(1, 0), Granularity="MONTHLY", Metrics=["AmortizedCost"],
        NextPageToken=token,
    ) == "InvalidNextTokenException"
    assert error_code(
        ce.get_cost_and_usage, TimePeriod=period(1, 0), Granularity="MONTHLY", Metrics=["UnblendedCost"],
        NextPageToken="garbage",
    ) == "InvalidNextTokenException"


@pytest.mark.parametrize("change", [
    {"TimePeriod": {"Start": month(0).isoformat(), "End": month(1).isoformat()}},  # end before start
    {"TimePeriod": {"Start": "2026-13-01", "End": "2027-01-01"}},
    {"TimePeriod": {"Start": _next(month(0)).isoformat(), "End": _next(_next(month(0))).isoformat()}},  # future
    {"Granularity": "DAILY"},
    {"Metrics": []},
    {"Metrics": ["UsageQuantity"]},
    {"GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}] * 2},
    {"GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "LINKED_ACCOUNT", "REGION")]},
    {"GroupBy": [{"Type": "TAG", "Key": "team"}]},
    {"Filter": {"And": [{"Dimensions": {"Key": "SERVICE", "Values": [S3]}}]}},
    {"Filter": {"Dimensions": {"Key": "REGION", "Values": ["us-east-1"]}}},
])
def test_bad_requests_answer_validation_exception(ce: Any, change: dict[str, Any]) -> None:
    request = {"TimePeriod": period(1, 0), "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"], **change}
    assert error_code(ce.get_cost_and_usage, **request) == "ValidationException"


def forecast_request(**change: Any) -> dict[str, Any]:
    end = _next(month(0)).isoformat()
    return {"TimePeriod": {"Start": TODAY.isoformat(), "End": end}, "Granularity": "MONTHLY",
            "Metric": "UNBLENDED_COST", **change}


def expected_rest_of_month(month_to_date: str) -> str:
    remaining = (_next(month(0)) - TODAY).days
    mean = Decimal(month_to_date) * remaining / TODAY.day
    return format(mean.quantize(Decimal("0.0000000001"), ROUND_HALF_EVEN), "f")


def test_a_forecast_extends_the_month_to_date_rate(ce: Any) -> None:
    answer = ce.get_cost_forecast(**forecast_request())
    assert answer["Total"] == {"Amount": expected_rest_of_month("41"), "Unit": "USD"}
    (result,) = answer["ForecastResultsByTime"]
    assert result["TimePeriod"] == {"Start": TODAY.isoformat(), "End": _next(month(0)).isoformat()}
    assert result["MeanValue"] == expected_rest_of_month("41")
    assert "PredictionIntervalLowerBound" not in result


def test_a_forecast_honours_its_filter_and_prediction_level(ce: Any) -> None:
    answer = ce.get_cost_forecast(**forecast_request(
        Filter={"Dimensions": {"Key": "SERVICE", "Values": [SEARCH]}}, PredictionIntervalLevel=80,
    ))
    assert answer["Total"]["Amount"] == expected_rest_of_month("30")
    (result,) = answer["ForecastResultsByTime"]
    low, high = Decimal(result["PredictionIntervalLowerBound"]), Decimal(result["PredictionIntervalUpperBound"])
    assert low < Decimal(result["MeanValue"]) < high


def test_daily_forecasts_have_one_result_per_day(ce: Any) -> None:
    answer = ce.get_cost_forecast(**forecast_request(Granularity="DAILY"))
    assert len(answer["ForecastResultsByTime"]) == (_next(month(0)) - TODAY).days


def test_too_little_history_gives_no_forecast(ce: Any) -> None:
    # DEV's S3 is new this month, DEV's Lambda has no spend this month.
    for service in (S3, LAMBDA):
        expression = {"And": [
            {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [DEV]}},
            {"Dimensions": {"Key": "SERVICE", "Values": [service]}},
        ]}
        assert error_code(ce.get_cost_forecast, **forecast_request(Filter=expression)) == "DataUnavailableException"


@pytest.mark.parametrize("change", [
    {"TimePeriod": {"Start": (TODAY - timedelta(days=1)).isoformat(), "End": _next(month(0)).isoformat()}},
    {"Metric": "UnblendedCost"},
    {"Granularity": "HOURLY"},
    {"Metric": "USAGE_QUANTITY"},  # a valid Metric, but not for GetCostForecast
])
def test_bad_forecast_requests_answer_validation_exception(ce: Any, change: dict[str, Any]) -> None:
    assert error_code(ce.get_cost_forecast, **forecast_request(**change)) == "ValidationException"


def test_without_a_table_moto_answers_from_its_queue(endpoint: str, ce: Any) -> None:
    reset(endpoint)
    canned = {"ResultsByTime": [{"TimePeriod": {"Start": "2024-01-01", "End": "2024-02-01"},
                                 "Total": {"UnblendedCost": {"Amount": "1", "Unit": "USD"}},
                                 "Groups": [], "Estimated": False}]}
    urllib.request.urlopen(urllib.request.Request(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": [canned]}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    ))
    answer = ce.get_cost_and_usage(TimePeriod=period(1, 1), Granularity="MONTHLY", Metrics=["UnblendedCost"])
    assert answer["ResultsByTime"] == canned["ResultsByTime"]
    assert error_code(ce.get_cost_forecast, **forecast_request()) == "DataUnavailableException"


@pytest.mark.parametrize("document", [
    {"rows": [{"account": "1", "service": LAMBDA, "month": ym(0), "amount": "1"}]},
    {"rows": [{"account": PROD, "service": LAMBDA, "month": "2026-1", "amount": "1"}]},
    {"rows": [{"account": PROD, "service": LAMBDA, "month": ym(0), "amount": 1}]},
    {"rows": [{"account": PROD, "service": LAMBDA, "month": ym(0), "amount": "1", "metrics": {"Usage": "2"}}]},
    {"rows": [{"account": PROD, "service": LAMBDA, "month": ym(0), "amount": "1"}] * 2},
    {"rows": [], "page_size": 0},
    {"table": []},
])
def test_the_seed_endpoint_refuses_bad_tables(endpoint: str, document: dict[str, Any]) -> None:
    status, answer = control(endpoint, "POST", "cost-explorer", document)
    assert status == 400 and answer["message"], answer
