"""CloudFormation resource types moto does not model, and the template checks it skips.

stacksets/layer-remediation.yaml uses three resource types that moto 5.2.5 has no
CloudFormation model for: AWS::Config::ConfigRule (a Guard custom policy rule,
owner CUSTOM_POLICY), AWS::Config::RemediationConfiguration and
AWS::Scheduler::Schedule. moto skips such a resource: it logs "No Moto
CloudFormation support for <type>" and creates nothing; a `Ref` to it resolves to
nothing (the property that holds it is dropped, `Fn::Sub` leaves `${Name}` as
it is); `Fn::GetAtt` on it fails with ValidationError "Template error: instance
of Fn::GetAtt references undefined resource <name>"; and an output that reads an
attribute of it crashes moto (AttributeError, HTTP 500). So that template never
deploys on plain moto. (AWS::SSM::Document of type Automation, with its content
as a YAML mapping, and AWS::IAM::Role are modelled and work.)

Here each of the three types gets a model backed by moto's own services:

- AWS::Config::ConfigRule goes through moto's Config `put_config_rule`, which is
  taught the CUSTOM_POLICY owner (Guard rules: `CustomPolicyDetails` with
  `PolicyRuntime` guard-2.x.x and `PolicyText`; triggers limited to
  configuration change notifications, as AWS documents); the rule's ARN ends in
  its rule ID (config-rule/config-rule-xxxxxx), `Ref` gives its name,
  `Fn::GetAtt` gives `Arn`, `ConfigRuleId` and `Compliance.Type`. PutConfigRule
  over the wire accepts CUSTOM_POLICY too.
- AWS::Config::RemediationConfiguration is kept beside the rules of moto's
  Config backend of the account and region (one per rule, as AWS allows); the
  rule must exist (NoSuchConfigRuleException). An automatic one is run at once
  (config_remediation.py: AWS Config evaluates a new rule and remediates within
  minutes).
- AWS::Scheduler::Schedule goes through moto's Scheduler `create_schedule`, so
  GetSchedule and ListSchedules see it; the schedule expression must be
  `at(yyyy-mm-ddThh:mm:ss)`, `rate(<n> <unit>)` (singular unit for 1, plural
  otherwise) or `cron(<6 fields>)`. Schedules never fire.

Besides, every stack (CreateStack, UpdateStack and stack set instances) checks
what CloudFormation checks before it creates anything and moto does not:
parameters the template does not declare ("Parameters: [X] do not exist in the
template"), each value against its parameter's `AllowedPattern` (every item of a
list type), `AllowedValues`, `MinLength`/`MaxLength`, `MinValue`/`MaxValue` and
the `Number` type, and the template's `Rules` (assertions built from Fn::And,
Fn::Or, Fn::Not, Fn::Equals, Fn::Contains, Fn::EachMemberEquals,
Fn::EachMemberIn and Ref; a rule using any other function is not checked). A
failure is a ValidationError. When a resource fails to be created, the error
carries its logical ID and type, which stack set instances report in their
status reason.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.config import models as config_models
from moto.config.exceptions import (
    InvalidParameterValueException,
    MissingRequiredConfigRuleParameterException,
    NoSuchConfigRuleException,
)
from moto.config.models import ConfigEmptyDictable, Source, SourceDetail, config_backends
from moto.core.common_models import CloudFormationModel
from moto.moto_api._internal import mock_random
from moto.scheduler.exceptions import ValidationException as SchedulerValidationException
from moto.scheduler.models import scheduler_backends

from . import config_remediation

CUSTOM_POLICY = "CUSTOM_POLICY"
GUARD_RUNTIME = re.compile(r"^guard-2\.x\.x$")
CUSTOM_POLICY_MESSAGE_TYPES = {
    "ConfigurationItemChangeNotification",
    "OversizedConfigurationItemChangeNotification",
}


def install() -> None:
    _install_custom_policy_rules()
    parsing.parse_and_create_resource = _naming_the_failed_resource(parsing.parse_and_create_resource)
    parsing.ResourceMap.load = _checking_parameters_and_rules(parsing.ResourceMap.load)  # type: ignore[method-assign]
    parsing.ResourceMap.update = _checking_parameters_and_rules_on_update(parsing.ResourceMap.update)  # type: ignore[method-assign]
    # moto maps resource types to models from CloudFormationModel's subclasses once
    # (lru_cache); the models below are subclasses now, so forget what it found before.
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()


# --- AWS Config: Guard custom policy rules ------------------------------------


def _install_custom_policy_rules() -> None:
    original = Source.__init__

    @functools.wraps(original)
    def __init__(
        self: Source,
        account_id: str,
        region: str,
        owner: str,
        source_identifier: str | None = None,
        source_details: list[dict[str, Any]] | None = None,
        custom_policy_details: dict[str, Any] | None = None,
    ) -> None:
        if owner != CUSTOM_POLICY:
            if custom_policy_details:
                raise InvalidParameterValueException(
                    "CustomPolicyDetails can be provided only if the owner is CUSTOM_POLICY"
                )
            original(self, account_id, region, owner, source_identifier, source_details)  # type: ignore[arg-type]
            return
        ConfigEmptyDictable.__init__(self, capitalize_start=True, capitalize_arn=False)
        details = custom_policy_details or {}
        if not details.get("PolicyText"):
            raise MissingRequiredConfigRuleParameterException(
                "Missing required parameter in ConfigRule.Source.CustomPolicyDetails: 'PolicyText'"
            )
        runtime = details.get("PolicyRuntime")
        if not runtime or not GUARD_RUNTIME.match(runtime):
            raise InvalidParameterValueException(
                f"The policy runtime {runtime} is not supported. Supported runtimes: guard-2.x.x"
            )
        triggers = [SourceDetail(**config_models.convert_to_class_args(d)) for d in source_details or []]
        for trigger in triggers:
            if trigger.message_type not in CUSTOM_POLICY_MESSAGE_TYPES:
                raise InvalidParameterValueException(
                    f"The message type {trigger.message_type} is not supported for CUSTOM_POLICY "
                    "rules; use ConfigurationItemChangeNotification or "
                    "OversizedConfigurationItemChangeNotification"
                )
        self.owner = owner
        self.source_identifier = None
        self.source_details = triggers or None
        self.custom_policy_details = {
            "PolicyRuntime": runtime,
            "PolicyText": details["PolicyText"],
            "EnableDebugLogDelivery": _boolean(details.get("EnableDebugLogDelivery", False)),
        }

    Source.__init__ = __init__  # type: ignore[method-assign]
    Source.OWNERS = {*Source.OWNERS, CUSTOM_POLICY}


def _boolean(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


class ConfigRuleResource(CloudFormationModel):
    """AWS::Config::ConfigRule, stored as a rule of moto's Config backend."""

    def __init__(self, account_id: str, region: str, name: str):
        self.account_id = account_id
        self.region = region
        self.name = name

    @property
    def rule(self) -> Any:
        return config_backends[self.account_id][self.region].config_rules[self.name]

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ConfigRuleName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Config::ConfigRule"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Arn", "ConfigRuleId", "Compliance.Type")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.rule.config_rule_arn
        if attribute_name == "ConfigRuleId":
            return self.rule.config_rule_id
        if attribute_name == "Compliance.Type":
            return "INSUFFICIENT_DATA"
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ConfigRuleResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        name = properties.get("ConfigRuleName") or resource_name
        rule: dict[str, Any] = {"ConfigRuleName": name}
        for key in ("Description", "Scope", "Source", "MaximumExecutionFrequency", "EvaluationModes"):
            if key in properties:
                rule[key] = properties[key]
        if "InputParameters" in properties:
            value = properties["InputParameters"]
            rule["InputParameters"] = value if isinstance(value, str) else json.dumps(value)
        if "Source" not in rule:
            raise ValidationError(message="Property Source cannot be empty.")
        backend = config_backends[account_id][region_name]
        if name in backend.config_rules:
            raise InvalidParameterValueException(f"A config rule named {name} already exists")
        backend.put_config_rule(rule, None)
        return cls(account_id, region_name, name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: ConfigRuleResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ConfigRuleResource:
        properties = cloudformation_json.get("Properties") or {}
        name = properties.get("ConfigRuleName") or original_resource.name
        if name != original_resource.name:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
        rule = {key: value for key, value in properties.items() if key != "InputParameters"}
        if "InputParameters" in properties:
            value = properties["InputParameters"]
            rule["InputParameters"] = value if isinstance(value, str) else json.dumps(value)
        rule["ConfigRuleName"] = name
        config_backends[account_id][region_name].put_config_rule(rule, None)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls(account_id, region_name, resource_name).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        config_remediation.forget(account_id, region_name, self.name)
        backend = config_backends[account_id][region_name]
        if self.name in backend.config_rules:
            backend.delete_config_rule(self.name)


class RemediationConfigurationResource(CloudFormationModel):
    """AWS::Config::RemediationConfiguration, kept beside the rules of moto's Config backend."""

    def __init__(self, account_id: str, region: str, rule_name: str, configuration: dict[str, Any]):
        self.account_id = account_id
        self.region = region
        self.rule_name = rule_name
        self.configuration = configuration
        self.id = str(mock_random.uuid4())

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Config::RemediationConfiguration"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @property
    def physical_resource_id(self) -> str:
        return self.id

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> RemediationConfigurationResource:
        properties = dict(cloudformation_json.get("Properties") or {})
        rule_name = properties.get("ConfigRuleName")
        for required in ("ConfigRuleName", "TargetId", "TargetType"):
            if not properties.get(required):
                raise ValidationError(message=f"Property {required} cannot be empty.")
        if rule_name not in config_backends[account_id][region_name].config_rules:
            raise NoSuchConfigRuleException(rule_name)
        properties["Automatic"] = _boolean(properties.get("Automatic", False))
        config_remediation.configurations(account_id, region_name)[rule_name] = properties
        # AWS Config evaluates the rule and starts the remediation within minutes; here at once.
        config_remediation.remediate_now(account_id, region_name, rule_name)
        return cls(account_id, region_name, rule_name, properties)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: RemediationConfigurationResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> RemediationConfigurationResource:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        rule_name = (cloudformation_json.get("Properties") or {}).get("ConfigRuleName")
        config_remediation.configurations(account_id, region_name).pop(rule_name, None)

    def delete(self, account_id: str, region_name: str) -> None:
        configurations = config_remediation.configurations(account_id, region_name)
        if configurations.get(self.rule_name) is self.configuration:
            del configurations[self.rule_name]


AT_EXPRESSION = re.compile(r"^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$")
RATE_EXPRESSION = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minutes?|hours?|days?)\)$")
CRON_EXPRESSION = re.compile(r"^cron\((\S+ ){5}\S+\)$")


def _check_schedule_expression(expression: str) -> None:
    rate = RATE_EXPRESSION.match(expression)
    if rate is not None:
        plural = rate["unit"].endswith("s")
        if int(rate["value"]) < 1 or plural != (int(rate["value"]) != 1):
            raise SchedulerValidationException(f"Invalid Schedule Expression {expression}.")
        return
    if not (AT_EXPRESSION.match(expression) or CRON_EXPRESSION.match(expression)):
        raise SchedulerValidationException(f"Invalid Schedule Expression {expression}.")


class ScheduleResource(CloudFormationModel):
    """AWS::Scheduler::Schedule, created in moto's Scheduler backend."""

    def __init__(self, account_id: str, region: str, group_name: str | None, name: str):
        self.account_id = account_id
        self.region = region
        self.group_name = group_name
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.schedule.arn
        raise UnformattedGetAttTemplateException()

    @property
    def schedule(self) -> Any:
        return scheduler_backends[self.account_id][self.region].get_schedule(self.group_name, self.name)

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ScheduleResource:
        properties = cloudformation_json.get("Properties") or {}
        for required in ("ScheduleExpression", "FlexibleTimeWindow", "Target"):
            if not properties.get(required):
                raise ValidationError(message=f"Property {required} cannot be empty.")
        _check_schedule_expression(properties["ScheduleExpression"])
        name = properties.get("Name") or resource_name[:64]
        schedule = scheduler_backends[account_id][region_name].create_schedule(
            description=properties.get("Description"),
            end_date=properties.get("EndDate"),
            flexible_time_window=properties["FlexibleTimeWindow"],
            group_name=properties.get("GroupName"),
            kms_key_arn=properties.get("KmsKeyArn"),
            name=name,
            schedule_expression=properties["ScheduleExpression"],
            schedule_expression_timezone=properties.get("ScheduleExpressionTimezone"),
            start_date=properties.get("StartDate"),
            state=properties.get("State"),
            target=properties["Target"],
            action_after_completion=None,
        )
        return cls(account_id, region_name, schedule.group_name, name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: ScheduleResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ScheduleResource:
        original_resource.delete(account_id, region_name)
        name = (cloudformation_json.get("Properties") or {}).get("Name") or original_resource.name
        return cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        group = (cloudformation_json.get("Properties") or {}).get("GroupName")
        cls(account_id, region_name, group, resource_name).delete(account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        scheduler_backends[account_id][region_name].delete_schedule(self.group_name, self.name)


# --- which resource failed ---------------------------------------------------


def _naming_the_failed_resource(create: Any) -> Any:
    """Marks an error raised while creating a resource with the resource's logical ID and type."""

    @functools.wraps(create)
    def wrapper(logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return create(logical_id, resource_json, *args, **kwargs)
        except Exception as error:
            if not hasattr(error, "govctl_resource"):
                error.govctl_resource = (logical_id, resource_json.get("Type", ""))  # type: ignore[attr-defined]
            raise

    return wrapper


def failed_resource(error: BaseException) -> tuple[str, str] | None:
    """(logical ID, type) of the resource whose creation raised `error`, if known."""
    return getattr(error, "govctl_resource", None)


# --- parameters and rules ------------------------------------------------------


def _checking_parameters_and_rules(load: Any) -> Any:
    @functools.wraps(load)
    def wrapper(self: parsing.ResourceMap) -> None:
        _check_declared(self)
        load(self)
        check_parameters(self._template, self.input_parameters)
        check_rules(self._template, self.resolved_parameters, self._parsed_resources)

    return wrapper


def _checking_parameters_and_rules_on_update(update: Any) -> Any:
    @functools.wraps(update)
    def wrapper(self: parsing.ResourceMap, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
        inputs = parameters if parameters else self.input_parameters
        declared = template.get("Parameters") or {}
        _refuse_undeclared(inputs, declared)
        check_parameters(template, inputs)
        update(self, template, parameters)
        check_rules(template, self.resolved_parameters, self._parsed_resources)

    return wrapper


def _check_declared(resource_map: parsing.ResourceMap) -> None:
    _refuse_undeclared(resource_map.input_parameters, resource_map._template.get("Parameters") or {})


def _refuse_undeclared(inputs: dict[str, Any], declared: dict[str, Any]) -> None:
    undeclared = [key for key in inputs if key not in declared]
    if undeclared:
        raise ValidationError(message=f"Parameters: [{', '.join(undeclared)}] do not exist in the template")


def check_parameters(template: dict[str, Any], inputs: dict[str, Any]) -> None:
    """The constraints of each declared parameter, on the value given (or its default)."""
    for name, slot in (template.get("Parameters") or {}).items():
        value = inputs.get(name, slot.get("Default"))
        if value is None or not isinstance(slot, dict):
            continue
        kind = slot.get("Type", "String")
        if kind.startswith("AWS::SSM::Parameter::"):
            continue
        listed = kind == "CommaDelimitedList" or kind.startswith("List<")
        if isinstance(value, list):
            items = [str(item) for item in value]
        else:
            items = [item.strip() for item in str(value).split(",")] if listed else [str(value)]
        for item in items:
            problem = _parameter_problem(name, slot, kind, item)
            if problem:
                raise ValidationError(message=problem)


def _parameter_problem(name: str, slot: dict[str, Any], kind: str, value: str) -> str | None:
    described = slot.get("ConstraintDescription")

    def failed(default: str) -> str:
        return f"Parameter {name} failed to satisfy constraint: {described}" if described else default

    if kind in ("Number", "List<Number>"):
        try:
            number = float(value)
        except ValueError:
            return f"Parameter '{name}' must be a number."
        if "MinValue" in slot and number < float(slot["MinValue"]):
            return failed(f"Parameter '{name}' must be a number not less than {slot['MinValue']}")
        if "MaxValue" in slot and number > float(slot["MaxValue"]):
            return failed(f"Parameter '{name}' must be a number not greater than {slot['MaxValue']}")
    if "AllowedValues" in slot and value not in [str(v) for v in slot["AllowedValues"]]:
        return failed(f"Parameter '{name}' must be one of AllowedValues")
    if "AllowedPattern" in slot and re.fullmatch(slot["AllowedPattern"], value) is None:
        return failed(f"Parameter '{name}' must match pattern {slot['AllowedPattern']}")
    if "MinLength" in slot and len(value) < int(slot["MinLength"]):
        return failed(f"Parameter '{name}' must contain at least {slot['MinLength']} characters")
    if "MaxLength" in slot and len(value) > int(slot["MaxLength"]):
        return failed(f"Parameter '{name}' must contain at most {slot['MaxLength']} characters")
    return None


class _Unsupported(Exception):
    """A rule uses a function this emulator does not evaluate: the rule is not checked."""


def check_rules(template: dict[str, Any], parameters: dict[str, Any], pseudo: dict[str, Any]) -> None:
    """The template's Rules: a failed assertion is a ValidationError worded by its AssertDescription."""
    for name, rule in (template.get("Rules") or {}).items():
        try:
            if "RuleCondition" in rule and not _truth(rule["RuleCondition"], parameters, pseudo):
                continue
            for assertion in rule.get("Assertions") or []:
                if not _truth(assertion.get("Assert"), parameters, pseudo):
                    raise ValidationError(
                        message=assertion.get("AssertDescription") or f"Template rule {name} failed"
                    )
        except _Unsupported:
            continue


def _truth(expression: Any, parameters: dict[str, Any], pseudo: dict[str, Any]) -> bool:
    value = _value(expression, parameters, pseudo)
    if not isinstance(value, bool):
        raise _Unsupported()
    return value


def _value(expression: Any, parameters: dict[str, Any], pseudo: dict[str, Any]) -> Any:
    if isinstance(expression, (str, int, float, bool)):
        return expression
    if isinstance(expression, list):
        return [_value(item, parameters, pseudo) for item in expression]
    if not isinstance(expression, dict) or len(expression) != 1:
        raise _Unsupported()
    (function, argument), = expression.items()
    if function == "Ref":
        if argument in parameters:
            return parameters[argument]
        if isinstance(argument, str) and argument.startswith("AWS::") and argument in pseudo:
            return pseudo[argument]
        raise _Unsupported()
    arguments = argument if isinstance(argument, list) else [argument]
    if function == "Fn::Not":
        return not _truth(arguments[0], parameters, pseudo)
    if function == "Fn::And":
        return all(_truth(item, parameters, pseudo) for item in arguments)
    if function == "Fn::Or":
        return any(_truth(item, parameters, pseudo) for item in arguments)
    values = [_value(item, parameters, pseudo) for item in arguments]
    if function == "Fn::Equals" and len(values) == 2:
        return _text(values[0]) == _text(values[1])
    if function == "Fn::Contains" and len(values) == 2 and isinstance(values[0], list):
        return _text(values[1]) in [_text(item) for item in values[0]]
    if function == "Fn::EachMemberEquals" and len(values) == 2 and isinstance(values[0], list):
        return all(_text(item) == _text(values[1]) for item in values[0])
    if function == "Fn::EachMemberIn" and len(values) == 2 and isinstance(values[0], list):
        allowed = [_text(item) for item in values[1]] if isinstance(values[1], list) else []
        return all(_text(item) in allowed for item in values[0])
    raise _Unsupported()


def _text(value: Any) -> str:
    return str(value)
