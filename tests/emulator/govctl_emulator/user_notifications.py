"""AWS User Notifications and User Notifications Contacts, which moto 5.2.5 does not have.

`govctl ocu notify` sets up, in each member account, a notification configuration with
event rules for the two OpenSearch Serverless OCU events and an email contact as its
channel; `govctl ocu events` reads the notification events that fired. Both services are
REST-JSON (signing names `notifications` and `notifications-contacts`). moto has no backend
for them, so this WSGI middleware answers every request signed for either service, routed
by moto's own router over botocore's model (method and URI template), with parameters
parsed and answers serialized by moto's REST-JSON machinery from botocore's shapes
(`BaseResponse` with automated parameter parsing), so field names, status codes (201 for
creations), ISO 8601 timestamps and error shapes follow the API reference.

State is kept per account in a moto `BackendDict`, so `/moto-api/reset` clears it. What is
modelled:

- configurations (`CreateNotificationConfiguration` ... `DeleteNotificationConfiguration`,
  `ListNotificationConfigurations` with its `eventRuleSource`, `channelArn`, `status`
  filters): ARNs `arn:aws:notifications::<account>:configuration/<27 [a-z0-9]>`, status
  `ACTIVE` once it has an event rule, `INACTIVE` before, subtype `ACCOUNT`. Deleting one
  deletes its rules and channel associations.
- event rules (`CreateEventRule`, `GetEventRule`, `ListEventRules`, `UpdateEventRule`,
  `DeleteEventRule`): `<configuration arn>/rule/<id>`, every region `ACTIVE`, the event
  pattern as given (empty by default).
- channels (`AssociateChannel`, `DisassociateChannel`, `ListChannels`): any channel ARN of
  the documented pattern; an email contact ARN must exist in the account.
- notification hubs (`RegisterNotificationHub`, `ListNotificationHubs`,
  `DeregisterNotificationHub`): at most 3, `ACTIVE` at once; the last cannot go.
- notification events (`ListNotificationEvents`, `GetNotificationEvent`): as AWS, they are
  answered only from the hub of the region the request is signed for, newest first,
  filtered by `source`, `startTime` and `endTime`. AWS creates them when an event matches a
  rule; here the control endpoint `POST /_govctl/notification-events` stores them (see
  `store_events`), since nothing in the emulator emits EventBridge events.
- email contacts (`CreateEmailContact`, `GetEmailContact`, `ListEmailContacts`,
  `DeleteEmailContact`, `ActivateEmailContact`): created `inactive` (AWS mails an activation
  code); the code the emulator expects is the last 6 characters of the contact's ID.

Not modelled: the control plane's restriction to us-east-1 (calls signed for other regions
are answered the same), organizational units and managed notifications, tags beyond being
stored, quotas, and the replication of configurations into the rule regions.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import BackendRequest

from .aws_request import _credential_scope
from .control import ControlError

ID_ALPHABET = string.ascii_lowercase + string.digits
SIGNING_NAMES = {"notifications": "notifications", "notifications-contacts": "notificationscontacts"}
MAX_HUBS = 3


class ResourceNotFound(ServiceException):
    code = "ResourceNotFoundException"

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id} does not exist")
        self.resourceId = resource_id
        self.resourceType = kind


class Conflict(ServiceException):
    code = "ConflictException"

    def __init__(self, message: str, resource_id: str, kind: str = "") -> None:
        super().__init__(message)
        self.resourceId = resource_id
        self.resourceType = kind


class Validation(ServiceException):
    code = "ValidationException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.reason = "fieldValidationFailed"


class QuotaExceeded(ServiceException):
    code = "ServiceQuotaExceededException"

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.resourceType = kind


def new_id() -> str:
    return "".join(mock_random.choice(ID_ALPHABET) for _ in range(27))


def now() -> datetime:
    """Now, naive in UTC: how moto parses and keeps timestamps."""
    return datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)


class UserNotificationsBackend(BaseBackend):
    """One account's User Notifications and contacts (the services are global)."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.configurations: dict[str, dict[str, Any]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, list[str]] = {}
        self.hubs: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.contacts: dict[str, dict[str, Any]] = {}

    # --- configurations -------------------------------------------------------

    def create_configuration(self, name: str, description: str, aggregation: str | None,
                             tags: dict[str, str] | None) -> dict[str, Any]:
        arn = f"arn:aws:notifications::{self.account_id}:configuration/{new_id()}"
        configuration = {
            "arn": arn,
            "name": name,
            "description": description,
            "status": "INACTIVE",
            "creationTime": now(),
            "aggregationDuration": aggregation or "NONE",
            "subtype": "ACCOUNT",
            "tags": dict(tags or {}),
        }
        self.configurations[arn] = configuration
        self.channels[arn] = []
        return configuration

    def configuration(self, arn: str) -> dict[str, Any]:
        if arn not in self.configurations:
            raise ResourceNotFound("NotificationConfiguration", arn)
        return self.configurations[arn]

    def delete_configuration(self, arn: str) -> None:
        self.configuration(arn)
        for rule_arn in [a for a, r in self.rules.items() if r["notificationConfigurationArn"] == arn]:
            del self.rules[rule_arn]
        self.channels.pop(arn, None)
        del self.configurations[arn]

    def _refresh_status(self, arn: str) -> None:
        has_rules = any(r["notificationConfigurationArn"] == arn for r in self.rules.values())
        self.configurations[arn]["status"] = "ACTIVE" if has_rules else "INACTIVE"

    # --- event rules ------------------------------------------------------------

    def create_rule(self, configuration_arn: str, source: str, event_type: str,
                    pattern: str | None, regions: list[str]) -> dict[str, Any]:
        self.configuration(configuration_arn)
        arn = f"{configuration_arn}/rule/{new_id()}"
        rule = {
            "arn": arn,
            "notificationConfigurationArn": configuration_arn,
            "creationTime": now(),
            "source": source,
            "eventType": event_type,
            "eventPattern": pattern or "",
            "regions": list(regions),
            "managedRules": [],
            "statusSummaryByRegion": _active(regions),
        }
        self.rules[arn] = rule
        self._refresh_status(configuration_arn)
        return rule

    def rule(self, arn: str) -> dict[str, Any]:
        if arn not in self.rules:
            raise ResourceNotFound("EventRule", arn)
        return self.rules[arn]

    def delete_rule(self, arn: str) -> None:
        rule = self.rule(arn)
        del self.rules[arn]
        self._refresh_status(rule["notificationConfigurationArn"])

    # --- channels -------------------------------------------------------------------

    def associate(self, channel_arn: str, configuration_arn: str) -> None:
        self.configuration(configuration_arn)
        if ":notifications-contacts:" in channel_arn and channel_arn not in self.contacts:
            raise ResourceNotFound("EmailContact", channel_arn)
        channels = self.channels.setdefault(configuration_arn, [])
        if channel_arn in channels:
            raise Conflict(f"{channel_arn} is already associated with {configuration_arn}",
                           channel_arn, "Channel")
        channels.append(channel_arn)

    def disassociate(self, channel_arn: str, configuration_arn: str) -> None:
        channels = self.channels.get(configuration_arn, [])
        if channel_arn not in channels:
            raise ResourceNotFound("Channel", channel_arn)
        channels.remove(channel_arn)

    # --- hubs and events --------------------------------------------------------------

    def register_hub(self, region: str) -> dict[str, Any]:
        if region in self.hubs:
            raise Conflict(f"a notification hub already exists in {region}", region)
        if len(self.hubs) >= MAX_HUBS:
            raise QuotaExceeded(f"an account has at most {MAX_HUBS} notification hubs", "NotificationHub")
        hub = {
            "notificationHubRegion": region,
            "statusSummary": {"status": "ACTIVE", "reason": ""},
            "creationTime": now(),
            "lastActivationTime": now(),
        }
        self.hubs[region] = hub
        return hub

    def deregister_hub(self, region: str) -> dict[str, Any]:
        if region not in self.hubs:
            raise ResourceNotFound("NotificationHub", region)
        if len(self.hubs) == 1:
            raise Conflict("the last notification hub of an account cannot be deregistered", region)
        del self.hubs[region]
        return {"notificationHubRegion": region, "statusSummary": {"status": "DEREGISTERING", "reason": ""}}

    # --- contacts -----------------------------------------------------------------------

    def create_contact(self, name: str, address: str, tags: dict[str, str] | None) -> dict[str, Any]:
        arn = f"arn:aws:notifications-contacts::{self.account_id}:emailcontact/{new_id()}"
        contact = {
            "arn": arn,
            "name": name,
            "address": address,
            "status": "inactive",
            "creationTime": now(),
            "updateTime": now(),
            "tags": dict(tags or {}),
        }
        self.contacts[arn] = contact
        return contact

    def contact(self, arn: str) -> dict[str, Any]:
        if arn not in self.contacts:
            raise ResourceNotFound("EmailContact", arn)
        return self.contacts[arn]

    def delete_contact(self, arn: str) -> None:
        self.contact(arn)
        del self.contacts[arn]
        for channels in self.channels.values():
            if arn in channels:
                channels.remove(arn)


def _active(regions: list[str]) -> dict[str, dict[str, str]]:
    return {region: {"status": "ACTIVE", "reason": ""} for region in regions}


notifications_backends = BackendDict(
    UserNotificationsBackend, "notifications", use_boto3_regions=False, additional_regions=["aws"]
)


def backend(account_id: str) -> UserNotificationsBackend:
    return notifications_backends[account_id]["aws"]


def _page(items: list[Any], max_results: int | None, token: str | None, limit: int) -> tuple[list[Any], str | None]:
    """One page of `items` and the token of the next (tokens are decimal offsets)."""
    start = 0
    if token:
        if not token.isdigit() or int(token) > len(items):
            raise Validation(f"invalid nextToken {token}")
        start = int(token)
    size = max_results or limit
    if not 1 <= size <= limit:
        raise Validation(f"maxResults must be between 1 and {limit}")
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _public(record: dict[str, Any], *hidden: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("tags", *hidden)}


class NotificationsResponse(BaseResponse):
    """AWS User Notifications (`notifications`), as moto would write a service."""

    def __init__(self) -> None:
        super().__init__(service_name="notifications")
        self.automated_parameter_parsing = True

    @property
    def backend(self) -> UserNotificationsBackend:
        return backend(self.current_account)

    def create_notification_configuration(self) -> ActionResult:
        configuration = self.backend.create_configuration(
            self._get_param("name"),
            self._get_param("description"),
            self._get_param("aggregationDuration"),
            self._get_param("tags"),
        )
        return ActionResult({"arn": configuration["arn"], "status": configuration["status"]})

    def get_notification_configuration(self) -> ActionResult:
        return ActionResult(_public(self.backend.configuration(self._get_param("arn"))))

    def update_notification_configuration(self) -> ActionResult:
        configuration = self.backend.configuration(self._get_param("arn"))
        for key in ("name", "description", "aggregationDuration"):
            if self._get_param(key) is not None:
                configuration[key] = self._get_param(key)
        return ActionResult({"arn": configuration["arn"]})

    def delete_notification_configuration(self) -> ActionResult:
        self.backend.delete_configuration(self._get_param("arn"))
        return EmptyResult()

    def list_notification_configurations(self) -> ActionResult:
        source = self._get_param("eventRuleSource")
        channel = self._get_param("channelArn")
        status = self._get_param("status")
        subtype = self._get_param("subtype")
        found = []
        for arn, configuration in self.backend.configurations.items():
            rules = [r for r in self.backend.rules.values() if r["notificationConfigurationArn"] == arn]
            if source and not any(r["source"] == source for r in rules):
                continue
            if channel and channel not in self.backend.channels.get(arn, []):
                continue
            if status and configuration["status"] != status:
                continue
            if subtype and configuration["subtype"] != subtype:
                continue
            found.append(_public(configuration))
        page, token = _page(found, self._get_int_param("maxResults"), self._get_param("nextToken"), 100)
        return ActionResult({"notificationConfigurations": page, "nextToken": token})

    def create_event_rule(self) -> ActionResult:
        regions = self._get_param("regions") or []
        if not regions:
            raise Validation("regions must name at least one region")
        rule = self.backend.create_rule(
            self._get_param("notificationConfigurationArn"),
            self._get_param("source"),
            self._get_param("eventType"),
            self._get_param("eventPattern"),
            regions,
        )
        return ActionResult({key: rule[key] for key in ("arn", "notificationConfigurationArn", "statusSummaryByRegion")})

    def get_event_rule(self) -> ActionResult:
        return ActionResult(self.backend.rule(self._get_param("arn")))

    def update_event_rule(self) -> ActionResult:
        rule = self.backend.rule(self._get_param("arn"))
        if self._get_param("eventPattern") is not None:
            rule["eventPattern"] = self._get_param("eventPattern")
        if self._get_param("regions"):
            rule["regions"] = list(self._get_param("regions"))
            rule["statusSummaryByRegion"] = _active(rule["regions"])
        return ActionResult({key: rule[key] for key in ("arn", "notificationConfigurationArn", "statusSummaryByRegion")})

    def delete_event_rule(self) -> ActionResult:
        self.backend.delete_rule(self._get_param("arn"))
        return EmptyResult()

    def list_event_rules(self) -> ActionResult:
        configuration_arn = self._get_param("notificationConfigurationArn")
        self.backend.configuration(configuration_arn)
        rules = [r for r in self.backend.rules.values() if r["notificationConfigurationArn"] == configuration_arn]
        page, token = _page(rules, self._get_int_param("maxResults"), self._get_param("nextToken"), 1000)
        return ActionResult({"eventRules": page, "nextToken": token})

    def associate_channel(self) -> ActionResult:
        self.backend.associate(self._get_param("arn"), self._get_param("notificationConfigurationArn"))
        return EmptyResult()

    def disassociate_channel(self) -> ActionResult:
        self.backend.disassociate(self._get_param("arn"), self._get_param("notificationConfigurationArn"))
        return EmptyResult()

    def list_channels(self) -> ActionResult:
        configuration_arn = self._get_param("notificationConfigurationArn")
        self.backend.configuration(configuration_arn)
        channels = list(self.backend.channels.get(configuration_arn, []))
        page, token = _page(channels, self._get_int_param("maxResults"), self._get_param("nextToken"), 100)
        return ActionResult({"channels": page, "nextToken": token})

    def register_notification_hub(self) -> ActionResult:
        return ActionResult(self.backend.register_hub(self._get_param("notificationHubRegion")))

    def deregister_notification_hub(self) -> ActionResult:
        return ActionResult(self.backend.deregister_hub(self._get_param("notificationHubRegion")))

    def list_notification_hubs(self) -> ActionResult:
        hubs = sorted(self.backend.hubs.values(), key=lambda h: h["creationTime"])
        return ActionResult({"notificationHubs": hubs})

    def list_notification_events(self) -> ActionResult:
        source = self._get_param("source")
        start = self._get_param("startTime")
        end = self._get_param("endTime")
        found = []
        for event in self.backend.events:
            if event["hubRegion"] != self.region:
                continue
            content = event["content"]
            if source and content["sourceEventMetadata"]["source"] != source:
                continue
            if start and event["creationTime"] < start:
                continue
            if end and event["creationTime"] > end:
                continue
            found.append(event)
        found.sort(key=lambda e: e["creationTime"], reverse=True)
        page, token = _page(found, self._get_int_param("maxResults"), self._get_param("nextToken"), 100)
        return ActionResult({"notificationEvents": [_overview(e) for e in page], "nextToken": token})

    def get_notification_event(self) -> ActionResult:
        arn = self._get_param("arn")
        for event in self.backend.events:
            if event["arn"] == arn and event["hubRegion"] == self.region:
                return ActionResult({key: event[key] for key in ("arn", "notificationConfigurationArn", "creationTime", "content")})
        raise ResourceNotFound("NotificationEvent", arn)


def _overview(event: dict[str, Any]) -> dict[str, Any]:
    content = event["content"]
    metadata = content["sourceEventMetadata"]
    headline = content["messageComponents"].get("headline", "")
    return {
        "arn": event["arn"],
        "notificationConfigurationArn": event["notificationConfigurationArn"],
        "relatedAccount": metadata["relatedAccount"],
        "creationTime": event["creationTime"],
        "notificationEvent": {
            "schemaVersion": content["schemaVersion"],
            "sourceEventMetadata": {
                "eventOriginRegion": metadata.get("eventOriginRegion", ""),
                "source": metadata["source"],
                "eventType": metadata["eventType"],
            },
            "messageComponents": {"headline": _text(content, headline)},
            "eventStatus": content.get("eventStatus", "UNHEALTHY"),
            "notificationType": content["notificationType"],
        },
        "aggregationEventType": content.get("aggregationEventType", "NONE"),
    }


def _text(content: dict[str, Any], reference: str) -> str:
    part = content.get("textParts", {}).get(reference)
    if not part:
        return reference
    return part.get("displayText") or next(iter(part.get("textByLocale", {}).values()), reference)


class NotificationsContactsResponse(BaseResponse):
    """AWS User Notifications Contacts (`notifications-contacts`)."""

    def __init__(self) -> None:
        super().__init__(service_name="notificationscontacts")
        self.automated_parameter_parsing = True

    @property
    def backend(self) -> UserNotificationsBackend:
        return backend(self.current_account)

    def create_email_contact(self) -> ActionResult:
        contact = self.backend.create_contact(
            self._get_param("name"), self._get_param("emailAddress"), self._get_param("tags")
        )
        return ActionResult({"arn": contact["arn"]})

    def get_email_contact(self) -> ActionResult:
        return ActionResult({"emailContact": _public(self.backend.contact(self._get_param("arn")))})

    def list_email_contacts(self) -> ActionResult:
        contacts = [_public(c) for c in self.backend.contacts.values()]
        page, token = _page(contacts, self._get_int_param("maxResults"), self._get_param("nextToken"), 100)
        return ActionResult({"emailContacts": page, "nextToken": token})

    def delete_email_contact(self) -> ActionResult:
        self.backend.delete_contact(self._get_param("arn"))
        return EmptyResult()

    def activate_email_contact(self) -> ActionResult:
        contact = self.backend.contact(self._get_param("arn"))
        if self._get_param("code") != contact["arn"][-6:]:
            raise Validation("the activation code is not valid")
        contact["status"] = "active"
        contact["updateTime"] = now()
        return EmptyResult()


RESPONSES = {"notifications": NotificationsResponse, "notificationscontacts": NotificationsContactsResponse}


class UserNotifications:
    """WSGI middleware: requests signed for either service are answered here."""

    def __init__(self, app: Callable[..., Any]):
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        service, _ = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
        if service not in SIGNING_NAMES:
            return self._app(environ, start_response)
        request = BackendRequest(environ)
        status, headers, body = RESPONSES[SIGNING_NAMES[service]].dispatch(request)
        if isinstance(body, str):
            body = body.encode()
        headers = {str(k): str(v) for k, v in dict(headers).items() if k != "status"}
        headers["Content-Length"] = str(len(body))
        headers.setdefault("Content-Type", "application/json")
        start_response(f"{status} {_REASONS.get(int(status), 'OK')}", list(headers.items()))
        return [body]


_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 402: "Payment Required", 403: "Forbidden",
            404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}


# --- seeding: notification events -----------------------------------------------------------


def store_events(document: Any) -> dict[str, Any]:
    """`POST /_govctl/notification-events`: notification events as User Notifications stores them.

    Body: `[{"account_id", "hub_region", "origin_region", "event_type", "description",
    "time" (ISO 8601), "configuration_arn" (optional: the account's first configuration)}]`.
    Each becomes a `NotificationEvent` (schema v1.0) from source `aws.aoss` whose headline is
    the event type and whose complete description is the event's free text, as text parts.
    The hub must be registered and a configuration must exist in the account.
    """
    if not isinstance(document, list):
        raise ControlError("the body must be a JSON list of events")
    created = 0
    for index, spec in enumerate(document):
        if not isinstance(spec, dict):
            raise ControlError(f"event {index} must be an object", index=index)
        try:
            account = spec["account_id"]
            hub = spec["hub_region"]
            event_type = spec["event_type"]
            description = spec["description"]
            moment = datetime.fromisoformat(str(spec["time"]).replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        except (KeyError, ValueError) as error:
            raise ControlError(f"event {index}: {error}", index=index) from None
        state = backend(account)
        if hub not in state.hubs:
            raise ControlError(f"event {index}: account {account} has no notification hub in {hub}", index=index)
        configuration = spec.get("configuration_arn") or next(iter(state.configurations), None)
        if configuration not in state.configurations:
            raise ControlError(f"event {index}: account {account} has no such notification configuration", index=index)
        event_id = new_id()
        state.events.append({
            "arn": f"arn:aws:notifications:{hub}:{account}:configuration/{configuration.rsplit('/', 1)[-1]}/event/{event_id}",
            "notificationConfigurationArn": configuration,
            "creationTime": moment,
            "hubRegion": hub,
            "content": {
                "schemaVersion": "v1.0",
                "id": event_id,
                "sourceEventMetadata": {
                    "eventTypeVersion": "1.0",
                    "sourceEventId": str(mock_random.uuid4()),
                    "eventOriginRegion": spec.get("origin_region", hub),
                    "relatedAccount": account,
                    "source": "aws.aoss",
                    "eventOccurrenceTime": moment,
                    "eventType": event_type,
                    "relatedResources": [],
                },
                "messageComponents": {
                    "headline": "headline",
                    "paragraphSummary": "summary",
                    "completeDescription": "description",
                },
                "notificationType": "WARNING" if "Approaching" in event_type else "ALERT",
                "eventStatus": "UNHEALTHY",
                "aggregationEventType": "NONE",
                "textParts": {
                    "headline": {"type": "PLAIN_TEXT", "displayText": event_type},
                    "summary": {"type": "PLAIN_TEXT", "displayText": description},
                    "description": {"type": "PLAIN_TEXT", "displayText": description},
                },
                "media": [],
            },
        })
        created += 1
    return {"created": created}
