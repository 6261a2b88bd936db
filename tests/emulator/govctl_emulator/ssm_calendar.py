"""SSM Change Calendar: `ChangeCalendar` documents in `TEXT` format, and GetCalendarState.

govctl's change gate refuses an apply while a named change calendar is CLOSED. moto 5.2.5
refuses the `TEXT` document format (so a change calendar cannot be created) and has no
GetCalendarState. Here a `ChangeCalendar` document may be `TEXT`: its content must be an
iCalendar (RFC 5545) `VCALENDAR`; `X-CALENDAR-TYPE` is `DEFAULT_OPEN` (also when absent)
or `DEFAULT_CLOSED`. GetCalendarState answers as the SSM API reference describes:

- a `DEFAULT_OPEN` calendar is `CLOSED` during any of its events and `OPEN` otherwise; a
  `DEFAULT_CLOSED` one is `OPEN` during an event and `CLOSED` otherwise;
- with several calendars the state is `CLOSED` when any of them is closed;
- `AtTime` is the time asked about (`AtTime` of the request as given, else now, as
  `yyyy-mm-ddThh:mm:ssZ`); `NextTransitionTime` is the first later moment at which that
  combined state changes, left out when it never does;
- an unknown calendar answers `InvalidDocument`, a document of another type
  `InvalidDocumentType`.

Events are `VEVENT`s with `DTSTART` and `DTEND` (UTC `...Z`, `TZID=<IANA zone>`, floating
times read as UTC, or `VALUE=DATE` whole days); an event lasts from its start up to, not
including, its end. Recurring events (`RRULE`, `RDATE`) are not expanded: such a calendar
answers `UnsupportedCalendarException` rather than a state that would be wrong. Whether AWS
reads floating times as UTC, and its exact error messages, are unverified.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ssm import models as ssm_models
from moto.ssm.exceptions import InvalidDocument, InvalidDocumentContent, SSMException, ValidationException
from moto.ssm.models import Document, SimpleSystemManagerBackend, ssm_backends
from moto.ssm.responses import SimpleSystemManagerResponse

CHANGE_CALENDAR = "ChangeCalendar"
TEXT = "TEXT"
OPEN, CLOSED = "OPEN", "CLOSED"
DEFAULT_OPEN, DEFAULT_CLOSED = "DEFAULT_OPEN", "DEFAULT_CLOSED"
DOCUMENT_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:ssm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):document/(?P<name>.+)$")


class InvalidDocumentType(SSMException):
    code = "InvalidDocumentType"


class UnsupportedCalendarException(SSMException):
    code = "UnsupportedCalendarException"


@dataclass(frozen=True)
class Calendar:
    kind: str  # DEFAULT_OPEN or DEFAULT_CLOSED
    events: tuple[tuple[datetime, datetime], ...]  # [start, end) in UTC

    def state(self, at: datetime) -> str:
        during = any(start <= at < end for start, end in self.events)
        if self.kind == DEFAULT_CLOSED:
            return OPEN if during else CLOSED
        return CLOSED if during else OPEN

    def boundaries(self) -> set[datetime]:
        return {moment for event in self.events for moment in event}


def install() -> None:
    original_format_check = ssm_models._validate_document_format
    original_init = Document.__init__

    def _validate_document_format(document_format: str) -> None:
        if document_format != TEXT:
            original_format_check(document_format)

    @functools.wraps(original_init)
    def __init__(self: Document, *args: Any, **kwargs: Any) -> None:
        arguments = _document_arguments(args, kwargs)
        if arguments["document_format"] != TEXT:
            original_init(self, *args, **kwargs)
            return
        _init_text_document(self, **arguments)

    original_get_document = SimpleSystemManagerBackend.get_document

    @functools.wraps(original_get_document)
    def get_document(
        self: SimpleSystemManagerBackend, name: str, document_version: str, version_name: str,
        document_format: str,
    ) -> dict[str, Any]:
        # moto's GetDocument asks for JSON when the caller names no format; a calendar is TEXT.
        if self._get_documents(name).get_default_version().document_format == TEXT:
            document_format = TEXT
        return original_get_document(self, name, document_version, version_name, document_format)

    ssm_models._validate_document_format = _validate_document_format
    Document.__init__ = __init__  # type: ignore[method-assign]
    SimpleSystemManagerBackend.get_document = get_document  # type: ignore[method-assign]
    SimpleSystemManagerResponse.get_calendar_state = _get_calendar_state  # type: ignore[attr-defined]


_DOCUMENT_PARAMETERS = (
    "account_id", "name", "version_name", "content", "document_type", "document_format",
    "requires", "attachments", "target_type", "document_version",
)


def _document_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    arguments = dict(zip(_DOCUMENT_PARAMETERS, args))
    arguments.update(kwargs)
    arguments.setdefault("document_version", "1")
    return arguments


def _init_text_document(self: Document, **arguments: Any) -> None:
    """Document.__init__ for TEXT content: only change calendars are TEXT."""
    if arguments["document_type"] != CHANGE_CALENDAR:
        raise ValidationException(
            f"Document format TEXT is only valid for documents of type {CHANGE_CALENDAR}"
        )
    content = arguments["content"]
    if not isinstance(content, str):
        raise InvalidDocumentContent("The content for the document is not valid.")
    parse_calendar(content, InvalidDocumentContent)
    for key in ("name", "version_name", "content", "document_type", "document_format",
                "requires", "attachments", "target_type", "document_version"):
        setattr(self, key, arguments[key])
    self.owner = arguments["account_id"]
    self.status = "Active"
    self.created_date = utcnow()
    self.content_json = {}
    self.schema_version = "2.0"
    self.description = None
    self.outputs = None
    self.files = None
    self.platform_types = []
    self.parameter_list = []


# --- iCalendar ---------------------------------------------------------------------------


def _unfolded(content: str) -> list[str]:
    """Content lines, with folded continuation lines (leading space or tab) joined."""
    lines: list[str] = []
    for raw in content.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw.strip():
            lines.append(raw.rstrip())
    return lines


def parse_calendar(content: str, error: type[SSMException] = UnsupportedCalendarException) -> Calendar:
    """The calendar's type and events; `error` for content that is not one."""
    lines = _unfolded(content)
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR" or lines[-1].upper() != "END:VCALENDAR":
        raise error("The content for the document is not valid: not an iCalendar VCALENDAR.")
    kind = DEFAULT_OPEN
    events: list[tuple[datetime, datetime]] = []
    event: dict[str, tuple[dict[str, str], str]] | None = None
    for line in lines[1:-1]:
        name, parameters, value = _property(line)
        if name == "BEGIN" and value.upper() == "VEVENT":
            event = {}
        elif name == "END" and value.upper() == "VEVENT" and event is not None:
            events.append(_event(event, error))
            event = None
        elif event is not None:
            event[name] = (parameters, value)
        elif name == "X-CALENDAR-TYPE":
            if value not in (DEFAULT_OPEN, DEFAULT_CLOSED):
                raise error(f"X-CALENDAR-TYPE must be {DEFAULT_OPEN} or {DEFAULT_CLOSED}, not {value}")
            kind = value
    return Calendar(kind, tuple(events))


def _property(line: str) -> tuple[str, dict[str, str], str]:
    head, _, value = line.partition(":")
    name, *rest = head.split(";")
    parameters = {}
    for item in rest:
        key, _, val = item.partition("=")
        parameters[key.upper()] = val.strip('"')
    return name.upper(), parameters, value.strip()


def _event(event: dict[str, tuple[dict[str, str], str]], error: type[SSMException]) -> tuple[datetime, datetime]:
    if "RRULE" in event or "RDATE" in event:
        raise UnsupportedCalendarException(
            "Recurring events (RRULE, RDATE) are not supported by this emulator"
        )
    if "DTSTART" not in event or "DTEND" not in event:
        raise error("Every VEVENT of a change calendar needs DTSTART and DTEND")
    start, end = (_moment(*event[key], error) for key in ("DTSTART", "DTEND"))
    if end <= start:
        raise error("An event must end after it starts")
    return start, end


def _moment(parameters: dict[str, str], value: str, error: type[SSMException]) -> datetime:
    try:
        if parameters.get("VALUE") == "DATE" or re.fullmatch(r"\d{8}", value):
            day = datetime.strptime(value, "%Y%m%d")
            return day.replace(tzinfo=_zone(parameters, error))
        if value.endswith("Z"):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        local = datetime.strptime(value, "%Y%m%dT%H%M%S")
        return local.replace(tzinfo=_zone(parameters, error)).astimezone(timezone.utc)
    except ValueError:
        raise error(f"Invalid date-time {value!r} in the calendar") from None


def _zone(parameters: dict[str, str], error: type[SSMException]) -> Any:
    name = parameters.get("TZID")
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise error(f"Unknown time zone {name!r} in the calendar") from None


# --- GetCalendarState --------------------------------------------------------------------


def _get_calendar_state(self: SimpleSystemManagerResponse) -> ActionResult:
    names = self._get_param("CalendarNames") or []
    if not names:
        raise ValidationException("CalendarNames must name at least one change calendar")
    calendars = [_calendar(self, name) for name in names]
    asked = self._get_param("AtTime")
    at = _parse_at_time(asked) if asked else datetime.now(timezone.utc).replace(microsecond=0)

    state = combined_state(calendars, at)
    result: dict[str, Any] = {"State": state, "AtTime": asked or _iso(at)}
    transition = next_transition(calendars, at, state)
    if transition is not None:
        result["NextTransitionTime"] = _iso(transition)
    return ActionResult(result)


def _calendar(response: SimpleSystemManagerResponse, name: str) -> Calendar:
    account, region = response.current_account, response.region
    arn = DOCUMENT_ARN.match(name)
    if arn:
        account, region, name = arn["account"], arn["region"], arn["name"]
    documents = ssm_backends[account][region]._documents.get(name)
    if documents is None:
        raise InvalidDocument(f"The specified document {name} does not exist.")
    document = documents.get_default_version()
    if document.document_type != CHANGE_CALENDAR:
        raise InvalidDocumentType(
            f"The document {name} is of type {document.document_type}, not {CHANGE_CALENDAR}."
        )
    return parse_calendar(document.content)


def _parse_at_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationException(f"AtTime {value} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def combined_state(calendars: list[Calendar], at: datetime) -> str:
    return CLOSED if any(c.state(at) == CLOSED for c in calendars) else OPEN


def next_transition(calendars: list[Calendar], at: datetime, state: str) -> datetime | None:
    """The first moment after `at` at which the combined state is no longer `state`."""
    moments = sorted({m for c in calendars for m in c.boundaries() if m > at})
    for moment in moments:
        if combined_state(calendars, moment) != state:
            return moment
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
