"""CloudFormation models for the User Notifications resource types, backed by user_notifications.

stacksets/ocu-notifications.yaml deploys, in us-east-1 of each member account (where the
User Notifications control plane and its CloudFormation types live), an
AWS::NotificationsContacts::EmailContact, an AWS::Notifications::NotificationConfiguration,
one AWS::Notifications::EventRule per OCU event type and an
AWS::Notifications::ChannelAssociation. moto skips resource types it does not know, so
without these models the stacks would "succeed" and create nothing; with them a deployed
stack creates the same records the API calls do, so `govctl ocu notify --plan` after an
apply finds the account set up.

As in the CloudFormation schemas: `Ref` gives the `Arn` of a configuration, a rule and a
contact; `Fn::GetAtt` gives `Arn`, `Status` and `CreationTime` of a configuration, `Arn` of
a rule and a contact. Required properties are checked (`Property X cannot be empty.`). The
rule's `Regions` and `EventPattern` and the configuration's `Name`, `Description` and
`AggregationDuration` are updated in place; any other change replaces the resource, as the
schemas' create-only properties say.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.core.common_models import CloudFormationModel

from . import user_notifications as un


def install() -> None:
    # moto maps resource types to models from CloudFormationModel's subclasses once
    # (lru_cache); the models below are subclasses now, so forget what it found before.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


def _properties(cloudformation_json: dict[str, Any], *required: str) -> dict[str, Any]:
    properties = dict(cloudformation_json.get("Properties") or {})
    for name in required:
        if properties.get(name) in (None, "", []):
            raise ValidationError(message=f"Property {name} cannot be empty.")
    return properties


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return {tag["Key"]: tag["Value"] for tag in value}
    return dict(value or {})


class _Model:
    """What the four models share. Not itself a CloudFormationModel: moto finds models among
    that class's direct subclasses only, so each model names it as a base too."""

    attributes: tuple[str, ...] = ("Arn",)

    def __init__(self, account_id: str, arn: str):
        self.account_id = account_id
        self.arn = arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def is_created(self) -> bool:
        return True

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls(account_id, resource_name).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError


class NotificationConfigurationResource(_Model, CloudFormationModel):
    attributes = ("Arn", "Status", "CreationTime")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Notifications::NotificationConfiguration"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        configuration = un.backend(self.account_id).configuration(self.arn)
        if attribute_name == "Status":
            return configuration["status"]
        if attribute_name == "CreationTime":
            return configuration["creationTime"].isoformat() + "Z"
        return super().get_cfn_attribute(attribute_name)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> NotificationConfigurationResource:
        properties = _properties(cloudformation_json, "Name")
        if "Description" not in properties:
            raise ValidationError(message="Property Description cannot be empty.")
        configuration = un.backend(account_id).create_configuration(
            properties["Name"],
            properties["Description"],
            properties.get("AggregationDuration"),
            _tags(properties.get("Tags")),
        )
        return cls(account_id, configuration["arn"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: NotificationConfigurationResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> NotificationConfigurationResource:
        properties = _properties(cloudformation_json, "Name")
        configuration = un.backend(account_id).configuration(original_resource.arn)
        configuration["name"] = properties["Name"]
        configuration["description"] = properties.get("Description", "")
        configuration["aggregationDuration"] = properties.get("AggregationDuration") or "NONE"
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        state = un.backend(account_id)
        if self.arn in state.configurations:
            state.delete_configuration(self.arn)


class EventRuleResource(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Notifications::EventRule"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> EventRuleResource:
        properties = _properties(cloudformation_json, "EventType", "NotificationConfigurationArn", "Regions", "Source")
        rule = un.backend(account_id).create_rule(
            properties["NotificationConfigurationArn"],
            properties["Source"],
            properties["EventType"],
            properties.get("EventPattern"),
            list(properties["Regions"]),
        )
        return cls(account_id, rule["arn"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: EventRuleResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventRuleResource:
        properties = _properties(cloudformation_json, "EventType", "NotificationConfigurationArn", "Regions", "Source")
        rule = un.backend(account_id).rule(original_resource.arn)
        fixed = (rule["notificationConfigurationArn"], rule["source"], rule["eventType"])
        if fixed != (properties["NotificationConfigurationArn"], properties["Source"], properties["EventType"]):
            return super().update_from_cloudformation_json(
                original_resource, new_resource_name, cloudformation_json, account_id, region_name
            )
        rule["regions"] = list(properties["Regions"])
        rule["statusSummaryByRegion"] = un._active(rule["regions"])
        rule["eventPattern"] = properties.get("EventPattern") or ""
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        state = un.backend(account_id)
        if self.arn in state.rules:
            state.delete_rule(self.arn)


class ChannelAssociationResource(_Model, CloudFormationModel):
    attributes = ()

    def __init__(self, account_id: str, arn: str):
        super().__init__(account_id, arn)
        self.channel, _, self.configuration = arn.partition("|")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Notifications::ChannelAssociation"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> ChannelAssociationResource:
        properties = _properties(cloudformation_json, "Arn", "NotificationConfigurationArn")
        un.backend(account_id).associate(properties["Arn"], properties["NotificationConfigurationArn"])
        return cls(account_id, f"{properties['Arn']}|{properties['NotificationConfigurationArn']}")

    def delete(self, account_id: str, region_name: str) -> None:
        state = un.backend(account_id)
        if self.channel in state.channels.get(self.configuration, []):
            state.disassociate(self.channel, self.configuration)


class EmailContactResource(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::NotificationsContacts::EmailContact"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> EmailContactResource:
        properties = _properties(cloudformation_json, "EmailAddress", "Name")
        contact = un.backend(account_id).create_contact(
            properties["Name"], properties["EmailAddress"], _tags(properties.get("Tags"))
        )
        return cls(account_id, contact["arn"])

    def delete(self, account_id: str, region_name: str) -> None:
        state = un.backend(account_id)
        if self.arn in state.contacts:
            state.delete_contact(self.arn)
