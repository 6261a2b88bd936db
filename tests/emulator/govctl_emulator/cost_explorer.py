"""Cost Explorer `GetCostAndUsage` and `GetCostForecast`, answered from a seeded cost table.

moto 5.2.5 answers GetCostAndUsage from a queue of canned responses
(`POST /moto-api/static/ce/cost-and-usage-results`), one per distinct request
body, whatever the request asks: a report that sends a different TimePeriod,
GroupBy or Filter than the test expected gets someone else's answer. It has no
GetCostForecast at all. Here a test seeds a table of monthly amounts instead:

    POST /_govctl/cost-explorer
    {"account_id": "123456789012",            # the payer; default moto's default account
     "currency": "USD", "page_size": 100,     # optional; page_size counts groups
     "rows": [{"account": "111122223333", "service": "AWS Lambda", "month": "2026-11",
               "amount": "12.34",              # every cost metric, unless overridden
               "metrics": {"AmortizedCost": "10.00"}}, ...]}

which replaces that payer's table (answer `{"rows": N}`). The table lives on
moto's Cost Explorer backend of the payer, so `/moto-api/reset` clears it. A
payer without a table gets moto's own behaviour for GetCostAndUsage (the queue).

GetCostAndUsage (AWS API reference): `TimePeriod` (Start inclusive, End
exclusive, Start no later than today), `Granularity` `MONTHLY`, `Metrics`
(cost metrics), `GroupBy` with at most two `DIMENSION`s of `LINKED_ACCOUNT` and
`SERVICE`, `Filter` expressions (`And`, `Or`, `Not`, `Dimensions` with
`EQUALS`) on those dimensions, and `NextPageToken`. The answer has one
`ResultsByTime` entry per month, with `Total` (ungrouped) or `Groups` sorted by
their keys (grouped, `Total` empty), `Estimated` true for the current month,
`GroupDefinitions` as asked and `DimensionValueAttributes` with the account
names from Organizations. Pages hold at most `page_size` groups (a month
without groups counts as one); a month split over two pages appears on both,
with the rest of its groups, as a client must merge. A token is bound to the
request it continues (`InvalidNextTokenException` otherwise).

GetCostForecast: `TimePeriod` starting today or later (ValidationException
before), `Metric` (`UNBLENDED_COST`, ...), `Granularity` `MONTHLY` or `DAILY`,
optional `Filter` and `PredictionIntervalLevel` (51-99). The model is a straight
line: the filtered month-to-date amount divided by the days elapsed (today
included), times the days of each period. When the filtered data has no spend in
the current month or none in the month before, it answers
`DataUnavailableException`, as AWS does for too little history.

Simplifications (the emulator's, not AWS's): the current month's seeded amount
is its month-to-date amount; TimePeriods must start and end on the first of a
month (MONTHLY); only the previous month's absence of spend makes a forecast
unavailable; the prediction interval is the mean plus or minus (level - 50) %;
member accounts see nothing (AWS shows them their own costs); no quotas on the
age of Start. The exact texts of AWS's validation messages are unverified.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from moto.ce.models import CostExplorerBackend, ce_backends
from moto.ce.responses import CostExplorerResponse
from moto.core.exceptions import JsonRESTError

from .control import ControlError

DEFAULT_PAYER = "123456789012"
DEFAULT_PAGE_SIZE = 100
TABLE_ATTRIBUTE = "govctl_cost_table"
COST_METRICS = ("AmortizedCost", "BlendedCost", "NetAmortizedCost", "NetUnblendedCost", "UnblendedCost")
FORECAST_METRICS = {
    "AMORTIZED_COST": "AmortizedCost",
    "BLENDED_COST": "BlendedCost",
    "NET_AMORTIZED_COST": "NetAmortizedCost",
    "NET_UNBLENDED_COST": "NetUnblendedCost",
    "UNBLENDED_COST": "UnblendedCost",
}
DIMENSIONS = {"LINKED_ACCOUNT": "account", "SERVICE": "service"}
FORECAST_PLACES = Decimal("0.0000000001")
ACCOUNT_ID = re.compile(r"^\d{12}$")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CostError(JsonRESTError):
    code = 400

    def __init__(self, error_type: str, message: str):
        super().__init__(error_type, message)


def validation(message: str) -> CostError:
    return CostError("ValidationException", message)


@dataclass(frozen=True)
class CostRow:
    account: str
    service: str
    month: date  # the first day
    amounts: dict[str, Decimal]  # by cost metric

    def value(self, dimension: str) -> str:
        return self.account if DIMENSIONS[dimension] == "account" else self.service


@dataclass(frozen=True)
class CostTable:
    currency: str
    page_size: int
    rows: tuple[CostRow, ...]


# --- seeding ------------------------------------------------------------------------------


def seed_table(document: Any) -> dict[str, int]:
    """`POST /_govctl/cost-explorer`: replaces the payer's cost table."""
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise ControlError('expected {"rows": [...]} with optional account_id, currency, page_size')
    payer = document.get("account_id", DEFAULT_PAYER)
    if not isinstance(payer, str) or not ACCOUNT_ID.match(payer):
        raise ControlError(f"account_id {payer!r} is not a 12-digit account ID")
    currency = document.get("currency", "USD")
    page_size = document.get("page_size", DEFAULT_PAGE_SIZE)
    if not isinstance(currency, str) or not currency:
        raise ControlError("currency must be a non-empty string")
    if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
        raise ControlError(f"page_size {page_size!r} must be a positive integer")
    rows = tuple(_row(index, spec) for index, spec in enumerate(document["rows"]))
    seen: set[tuple[str, str, date]] = set()
    for index, row in enumerate(rows):
        key = (row.account, row.service, row.month)
        if key in seen:
            raise ControlError(f"rows[{index}] repeats {row.account} / {row.service} / {row.month:%Y-%m}")
        seen.add(key)
    backend = ce_backends[payer]["aws"]
    setattr(backend, TABLE_ATTRIBUTE, CostTable(currency, page_size, rows))
    return {"rows": len(rows)}


def _row(index: int, spec: Any) -> CostRow:
    where = f"rows[{index}]"
    if not isinstance(spec, dict):
        raise ControlError(f"{where} is not an object")
    account, service, month = spec.get("account"), spec.get("service"), spec.get("month")
    if not isinstance(account, str) or not ACCOUNT_ID.match(account):
        raise ControlError(f"{where}.account {account!r} is not a 12-digit account ID")
    if not isinstance(service, str) or not service:
        raise ControlError(f"{where}.service must be a non-empty string")
    matched = MONTH.match(month) if isinstance(month, str) else None
    if not matched:
        raise ControlError(f"{where}.month {month!r} is not YYYY-MM")
    amount = _amount(f"{where}.amount", spec.get("amount"))
    amounts = dict.fromkeys(COST_METRICS, amount)
    overrides = spec.get("metrics", {})
    if not isinstance(overrides, dict):
        raise ControlError(f"{where}.metrics must be an object")
    for metric, value in overrides.items():
        if metric not in COST_METRICS:
            raise ControlError(f"{where}.metrics: {metric!r} is not one of {', '.join(COST_METRICS)}")
        amounts[metric] = _amount(f"{where}.metrics.{metric}", value)
    return CostRow(account, service, date(int(matched[1]), int(matched[2]), 1), amounts)


def _amount(where: str, value: Any) -> Decimal:
    try:
        if isinstance(value, str):
            return Decimal(value)
    except InvalidOperation:
        pass
    raise ControlError(f"{where} {value!r} is not a decimal string")


# --- moto patches -------------------------------------------------------------------------


def install() -> None:
    original = CostExplorerResponse.get_cost_and_usage

    @functools.wraps(original)
    def get_cost_and_usage(self: CostExplorerResponse) -> str:
        table = _table(self.ce_backend)
        if table is None:
            return original(self)
        return json.dumps(usage(table, json.loads(self.body or "{}"), _today(), _account_names(self)))

    def get_cost_forecast(self: CostExplorerResponse) -> str:
        table = _table(self.ce_backend)
        if table is None:
            raise CostError("DataUnavailableException", "No cost data is available for this account.")
        return json.dumps(forecast(table, json.loads(self.body or "{}"), _today()))

    CostExplorerResponse.get_cost_and_usage = get_cost_and_usage  # type: ignore[method-assign]
    CostExplorerResponse.get_cost_forecast = get_cost_forecast  # type: ignore[attr-defined]


def _table(backend: CostExplorerBackend) -> CostTable | None:
    return getattr(backend, TABLE_ATTRIBUTE, None)


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _account_names(response: CostExplorerResponse) -> Callable[[str], str | None]:
    """Account ID to name, from moto's Organizations state of the caller's organization."""
    from moto.organizations.models import organizations_backends

    def name(account_id: str) -> str | None:
        try:
            backend = organizations_backends[response.current_account]["aws"]
            return backend.get_account_by_id(account_id).name
        except Exception:  # no organization, or not a member: AWS leaves the name out too
            return None

    return name


# --- GetCostAndUsage ----------------------------------------------------------------------


def usage(table: CostTable, params: dict[str, Any], today: date,
          account_name: Callable[[str], str | None] = lambda _: None) -> dict[str, Any]:
    start, end = _period(params.get("TimePeriod"))
    if start > today:
        raise validation("Start date must be equal to or no later than the current date")
    granularity = params.get("Granularity")
    if granularity != "MONTHLY":
        raise validation(f"Granularity {granularity!r}: the emulator answers MONTHLY only")
    if start.day != 1 or end.day != 1:
        raise validation("the emulator answers whole months only: Start and End must be the 1st")
    metrics = _metrics(params.get("Metrics"))
    dimensions = _group_by(params.get("GroupBy"))
    matches = _filter(params.get("Filter"))
    months = list(_months(start, end))

    items = list(_items(table, months, metrics, dimensions, matches))
    offset = _offset(params, params.get("NextPageToken"))
    page = items[offset : offset + table.page_size]
    answer: dict[str, Any] = {}
    if dimensions:
        answer["GroupDefinitions"] = [{"Type": "DIMENSION", "Key": key} for key in dimensions]
    answer["ResultsByTime"] = _results_by_time(page, table.currency, today)
    answer["DimensionValueAttributes"] = _attributes(page, dimensions, account_name)
    if offset + table.page_size < len(items):
        answer["NextPageToken"] = _token(params, offset + table.page_size)
    return answer


@dataclass(frozen=True)
class Item:
    """One group of one month on a page (`keys` None: the month has no groups, or no grouping)."""

    month: date
    keys: tuple[str, ...] | None
    metrics: dict[str, Decimal]


def _items(table: CostTable, months: list[date], metrics: list[str], dimensions: list[str],
           matches: Callable[[CostRow], bool]) -> Iterator[Item]:
    for month in months:
        rows = [row for row in table.rows if row.month == month and matches(row)]
        if not dimensions:
            yield Item(month, None, {m: sum((row.amounts[m] for row in rows), Decimal(0)) for m in metrics})
            continue
        groups: dict[tuple[str, ...], dict[str, Decimal]] = {}
        for row in rows:
            keys = tuple(row.value(dimension) for dimension in dimensions)
            sums = groups.setdefault(keys, dict.fromkeys(metrics, Decimal(0)))
            for metric in metrics:
                sums[metric] += row.amounts[metric]
        if not groups:
            yield Item(month, None, {})
        for keys in sorted(groups):
            yield Item(month, keys, groups[keys])


def _results_by_time(page: list[Item], currency: str, today: date) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for item in page:
        if not results or results[-1]["TimePeriod"]["Start"] != item.month.isoformat():
            results.append({
                "TimePeriod": {"Start": item.month.isoformat(), "End": _next_month(item.month).isoformat()},
                "Total": {},
                "Groups": [],
                "Estimated": item.month == today.replace(day=1),
            })
        values = {metric: {"Amount": _text(amount), "Unit": currency} for metric, amount in item.metrics.items()}
        if item.keys is not None:
            results[-1]["Groups"].append({"Keys": list(item.keys), "Metrics": values})
        elif values:
            results[-1]["Total"] = values
    return results


def _attributes(page: list[Item], dimensions: list[str],
                account_name: Callable[[str], str | None]) -> list[dict[str, Any]]:
    if "LINKED_ACCOUNT" not in dimensions:
        return []
    position = dimensions.index("LINKED_ACCOUNT")
    accounts = sorted({item.keys[position] for item in page if item.keys is not None})
    named = ((account, account_name(account)) for account in accounts)
    return [{"Value": account, "Attributes": {"description": name}} for account, name in named if name]


def _metrics(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise validation("Metrics is required")
    for metric in value:
        if metric not in COST_METRICS:
            raise validation(f"Metrics: {metric!r}: the emulator answers {', '.join(COST_METRICS)}")
    return list(dict.fromkeys(value))


def _group_by(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 2:
        raise validation("GroupBy takes at most two group definitions")
    keys = []
    for definition in value:
        kind, key = (definition.get("Type"), definition.get("Key")) if isinstance(definition, dict) else (None, None)
        if kind != "DIMENSION" or key not in DIMENSIONS:
            raise validation(f"GroupBy {definition!r}: the emulator groups by DIMENSION "
                             f"{' or '.join(DIMENSIONS)} only")
        if key in keys:
            raise validation(f"GroupBy names {key} twice")
        keys.append(key)
    return keys


# --- GetCostForecast ----------------------------------------------------------------------


def forecast(table: CostTable, params: dict[str, Any], today: date) -> dict[str, Any]:
    start, end = _period(params.get("TimePeriod"))
    if start < today:
        raise validation("Start date must be equal to or later than the current date")
    metric = FORECAST_METRICS.get(params.get("Metric"))  # type: ignore[arg-type]
    if metric is None:
        raise validation(f"Metric {params.get('Metric')!r} is not one of {', '.join(FORECAST_METRICS)}")
    granularity = params.get("Granularity")
    if granularity not in ("MONTHLY", "DAILY"):
        raise validation("Granularity must be MONTHLY or DAILY")
    if granularity == "DAILY" and end > today + timedelta(days=92):
        raise validation("DAILY forecasts cover at most 3 months")
    if granularity == "MONTHLY" and end > _add_months(today.replace(day=1), 13):
        raise validation("MONTHLY forecasts cover at most 12 months")
    spread = _spread(params.get("PredictionIntervalLevel"))
    matches = _filter(params.get("Filter"))

    current = today.replace(day=1)
    previous = _add_months(current, -1)
    rows = [row for row in table.rows if matches(row)]
    to_date = sum((row.amounts[metric] for row in rows if row.month == current), Decimal(0))
    before = sum((row.amounts[metric] for row in rows if row.month == previous), Decimal(0))
    if to_date <= 0 or before <= 0:
        raise CostError("DataUnavailableException", "Insufficient amount of historical data to generate forecast.")
    per_day = to_date / today.day

    results = []
    total = Decimal(0)
    for period_start, period_end in _periods(start, end, granularity):
        mean = (per_day * (period_end - period_start).days).quantize(FORECAST_PLACES, ROUND_HALF_EVEN)
        total += mean
        result: dict[str, Any] = {
            "TimePeriod": {"Start": period_start.isoformat(), "End": period_end.isoformat()},
            "MeanValue": _text(mean),
        }
        if spread is not None:
            result["PredictionIntervalLowerBound"] = _text((mean * (1 - spread)).quantize(FORECAST_PLACES))
            result["PredictionIntervalUpperBound"] = _text((mean * (1 + spread)).quantize(FORECAST_PLACES))
        results.append(result)
    return {"Total": {"Amount": _text(total), "Unit": table.currency}, "ForecastResultsByTime": results}


def _spread(level: Any) -> Decimal | None:
    if level is None:
        return None
    if not isinstance(level, int) or not 51 <= level <= 99:
        raise validation("PredictionIntervalLevel must be between 51 and 99")
    return Decimal(level - 50) / 100


def _periods(start: date, end: date, granularity: str) -> Iterator[tuple[date, date]]:
    """The forecast's periods: calendar months (the first and last cut to the TimePeriod) or days."""
    cursor = start
    while cursor < end:
        step = cursor + timedelta(days=1) if granularity == "DAILY" else _next_month(cursor.replace(day=1))
        yield cursor, min(step, end)
        cursor = min(step, end)


# --- shared -------------------------------------------------------------------------------


def _period(value: Any) -> tuple[date, date]:
    if not isinstance(value, dict):
        raise validation("TimePeriod is required")
    start, end = _date("Start", value.get("Start")), _date("End", value.get("End"))
    if start >= end:
        raise validation("Start date (and hour) should be before end date (and hour)")
    return start, end


def _date(field: str, value: Any) -> date:
    try:
        if isinstance(value, str) and DATE.match(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise validation(f"TimePeriod.{field} {value!r} is not a date (YYYY-MM-DD)")


def _filter(expression: Any) -> Callable[[CostRow], bool]:
    """The predicate of a Filter expression (always true without one)."""
    if expression is None:
        return lambda _: True
    if not isinstance(expression, dict):
        raise validation("Filter must be an expression object")
    roots = [key for key in ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories") if expression.get(key)]
    if len(roots) != 1:
        raise validation("Expression must have exactly one of And, Or, Not, Dimensions, Tags, CostCategories")
    root = roots[0]
    if root in ("And", "Or"):
        operands = expression[root]
        if not isinstance(operands, list) or len(operands) < 2:
            raise validation(f"{root} needs at least two expressions")
        predicates = [_filter(operand) for operand in operands]
        combine = all if root == "And" else any
        return lambda row: combine(predicate(row) for predicate in predicates)
    if root == "Not":
        inner = _filter(expression["Not"])
        return lambda row: not inner(row)
    if root != "Dimensions":
        raise validation(f"{root}: the emulator filters on Dimensions only")
    dimension = expression["Dimensions"]
    key, values = dimension.get("Key"), dimension.get("Values")
    if key not in DIMENSIONS:
        raise validation(f"Dimensions.Key {key!r}: the emulator filters on {' and '.join(DIMENSIONS)} only")
    if not isinstance(values, list) or not values:
        raise validation("Dimensions.Values is required")
    if dimension.get("MatchOptions", ["EQUALS"]) != ["EQUALS"]:
        raise validation("Dimensions.MatchOptions: the emulator supports EQUALS only")
    wanted = set(values)
    return lambda row: row.value(key) in wanted


def _months(start: date, end: date) -> Iterator[date]:
    month = start
    while month < end:
        yield month
        month = _next_month(month)


def _next_month(month: date) -> date:
    return _add_months(month, 1)


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _text(amount: Decimal) -> str:
    return format(amount, "f")


def _request_digest(params: dict[str, Any]) -> str:
    request = {key: value for key, value in params.items() if key != "NextPageToken"}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:16]


def _token(params: dict[str, Any], offset: int) -> str:
    raw = json.dumps({"offset": offset, "request": _request_digest(params)})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _offset(params: dict[str, Any], token: Any) -> int:
    if token is None:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if decoded["request"] == _request_digest(params) and isinstance(decoded["offset"], int):
            return int(decoded["offset"])
    except (ValueError, KeyError, TypeError):
        pass
    raise CostError("InvalidNextTokenException", "The pagination token is invalid.")
