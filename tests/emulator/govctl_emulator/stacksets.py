"""CloudFormation StackSet operations the way AWS runs them, on moto's StackSets.

govctl rolls a remediation out through a StackSet, wave by wave, and relies on what
moto 5.2.5 gets wrong or leaves out:

- the caller's `OperationId` is the operation's ID and an idempotency token: moto ignores
  it and makes up another, so a resumed apply could never find the operation it started.
  Here the caller's ID is kept, and reusing one answers `OperationIdAlreadyExistsException`
  (409) for CreateStackInstances, DeleteStackInstances, UpdateStackSet and
  UpdateStackInstances; an unknown ID answers `OperationNotFoundException` (404) to
  DescribeStackSetOperation and ListStackSetOperationResults (moto: a ValidationError
  about a missing stack);
- a stack instance whose stack fails: moto lets the error escape CreateStackInstances
  (an HTTP error for the whole call). Here the operation answers at once, as AWS does, and
  the failure shows where AWS shows it: the operation `FAILED` once the failures of a
  region exceed the failure tolerance (later instances `CANCELLED`), the instance
  `OUTDATED` with detailed status `FAILED`, both with a status reason naming the resource
  (`ResourceLogicalId:..., ResourceType:..., ResourceStatusReason:...`). The failed stack
  is rolled back (its resources deleted) and kept as `ROLLBACK_COMPLETE`; another
  CreateStackInstances for that account and region tries again;
- self-managed permissions: the execution role must exist in the target account (the
  status reason says which role is missing, as AWS words it);
- parameter overrides are merged into the StackSet's parameters (moto replaced them), the
  stack is named `StackSet-<name>-<uuid>` as AWS names it (moto's `StackSet:<name>` put a
  colon into the names of the IAM roles the template creates), and UpdateStackSet and
  UpdateStackInstances really update the stacks (moto only records the new values);
- ListStackSetOperations, ListStackSetOperationResults and ListStackInstances answer in
  the shapes of the API reference, per account and region, with `MaxResults`/`NextToken`.

Operations still finish within the request (`SUCCEEDED` or `FAILED`, never `RUNNING`),
instances of a region go `MaxConcurrentCount` (or percentage) at a time in `RegionOrder`,
and regions one after the other. Everything lives on moto's StackSet objects, so a reset
clears it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from moto.cloudformation.exceptions import (
    CloudFormationError,
    StackInstanceNotFound,
    ValidationError,
)
from moto.cloudformation.models import (
    CloudFormationBackend,
    Stack,
    StackInstance,
    StackSet,
    cloudformation_backends,
)
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.exceptions import ServiceException, _RESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

from . import cfn_resources

logger = logging.getLogger(__name__)

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
CANCELLED_REASON = "Cancelled since failure tolerance has exceeded"
DEFAULT_PAGE = 100

# One operation at a time across all stack sets: moto's state is not thread-safe, and the
# server answers requests on several threads.
_LOCK = threading.RLock()


class OperationIdAlreadyExists(CloudFormationError):
    code = "OperationIdAlreadyExistsException"


class OperationNotFound(CloudFormationError):
    code = "OperationNotFoundException"


def install() -> None:
    for name, method in _RESPONSES.items():
        setattr(CloudFormationResponse, name, method)
    StackInstance.to_dict = _instance_dict  # type: ignore[method-assign]


# --- instances ------------------------------------------------------------------------


def _new_instance(stackset: StackSet, account: str, region: str) -> StackInstance:
    """A stack instance without its stack yet (moto's constructor creates the stack)."""
    instance = StackInstance.__new__(StackInstance)
    instance.account_id = account
    instance.region_name = region
    instance.stackset_id = stackset.id
    instance.stack_name = f"StackSet-{stackset.name}"
    instance.name = stackset.name
    instance.template = stackset.template
    instance.parameters = []
    instance.permission_model = stackset.permission_model
    instance.stack = None
    instance.status = "OUTDATED"
    instance.detailed_status = "PENDING"
    instance.status_reason = None
    instance.last_operation_id = None
    return instance


def _instance_dict(self: StackInstance) -> dict[str, Any]:
    """StackInstance / StackInstanceSummary of the API reference."""
    stack = getattr(self, "stack", None)
    result: dict[str, Any] = {
        "StackSetId": self.stackset_id,
        "Region": self.region_name,
        "Account": self.account_id,
        "Status": getattr(self, "status", "CURRENT"),
        "StackInstanceStatus": {"DetailedStatus": getattr(self, "detailed_status", SUCCEEDED)},
        "ParameterOverrides": self.parameters,
    }
    if stack is not None:
        result["StackId"] = stack.stack_id
    if getattr(self, "status_reason", None):
        result["StatusReason"] = self.status_reason
    if getattr(self, "last_operation_id", None):
        result["LastOperationId"] = self.last_operation_id
    return result


def _find_instance(stackset: StackSet, account: str, region: str) -> StackInstance | None:
    for instance in stackset.instances.stack_instances:
        if instance.account_id == account and instance.region_name == region:
            return instance
    return None


def _parameters(stackset: StackSet, overrides: list[dict[str, Any]]) -> dict[str, Any]:
    """The StackSet's parameters with the instance's overrides on top."""
    merged = dict(stackset.parameters or {})
    for override in overrides:
        if override.get("UsePreviousValue") in (True, "true"):
            continue
        merged[override["ParameterKey"]] = override.get("ParameterValue", "")
    return merged


def _execution_role_problem(stackset: StackSet, account: str) -> str | None:
    if stackset.permission_model != "SELF_MANAGED":
        return None
    partition = get_partition(stackset.arn.split(":")[3])
    roles = iam_backends[account][partition].roles.values()
    if any(role.name == stackset.execution_role_name for role in roles):
        return None
    admin_role = stackset.administration_role_arn.rsplit("/", 1)[-1]
    return (
        f"Account {account} should have '{stackset.execution_role_name}' role with trust "
        f"relationship to Role '{admin_role}'."
    )


def _failure_reason(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    resource = cfn_resources.failed_resource(error)
    if resource is None:
        return message
    logical_id, resource_type = resource
    return (
        f"ResourceLogicalId:{logical_id}, ResourceType:{resource_type}, "
        f"ResourceStatusReason:{message}."
    )


def _log_unexpected(error: BaseException, account: str, region: str) -> None:
    """A failure that is not an AWS error is a bug here or in moto: say where."""
    if not isinstance(error, (ServiceException, _RESTError)):
        logger.exception("stack instance %s/%s failed", account, region, exc_info=error)


def _create_stack(stackset: StackSet, instance: StackInstance) -> str | None:
    """Creates the instance's stack; a failure is rolled back and returned as the reason."""
    problem = _execution_role_problem(stackset, instance.account_id)
    if problem:
        return problem
    backend: CloudFormationBackend = cloudformation_backends[instance.account_id][
        instance.region_name
    ]
    name = f"StackSet-{stackset.name}-{uuid.uuid4()}"
    try:
        instance.stack = backend.create_stack(
            name=name,
            template=stackset.template,
            parameters=_parameters(stackset, instance.parameters),
        )
    except Exception as error:  # any failure of any resource fails the instance
        _log_unexpected(error, instance.account_id, instance.region_name)
        instance.stack = _roll_back(backend, name)
        return _failure_reason(error)
    return None


def _roll_back(backend: CloudFormationBackend, name: str) -> Stack | None:
    stack = next((s for s in backend.stacks.values() if s.name == name), None)
    if stack is None:
        return None
    try:
        stack.resource_map.delete()
    except Exception as error:  # a resource that cannot go stays, as in AWS
        logger.warning("rolling back %s: %s", name, error)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
    return stack


def _update_stack(stackset: StackSet, instance: StackInstance) -> str | None:
    stack = instance.stack
    if stack is None or stack.status == "ROLLBACK_COMPLETE":
        if stack is not None:
            _delete_stack(instance)
        return _create_stack(stackset, instance)
    problem = _execution_role_problem(stackset, instance.account_id)
    if problem:
        return problem
    try:
        stack.update(
            template=stackset.template, parameters=_parameters(stackset, instance.parameters)
        )
    except Exception as error:
        _log_unexpected(error, instance.account_id, instance.region_name)
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        return _failure_reason(error)
    return None


def _delete_stack(instance: StackInstance) -> None:
    stack = instance.stack
    if stack is None:
        return
    backend = cloudformation_backends[instance.account_id][instance.region_name]
    if stack.stack_id in backend.stacks:
        backend.delete_stack(stack.stack_id)
    instance.stack = None


def _settle(instance: StackInstance, operation_id: str, reason: str | None) -> tuple[str, str | None]:
    instance.last_operation_id = operation_id
    instance.status_reason = reason
    if reason is None:
        instance.status, instance.detailed_status = "CURRENT", SUCCEEDED
        return SUCCEEDED, None
    instance.status, instance.detailed_status = "OUTDATED", FAILED
    return FAILED, reason


# --- operations -----------------------------------------------------------------------


def _operation_id(stackset: StackSet, requested: str | None) -> str:
    operation_id = requested or str(uuid.uuid4())
    if any(op["OperationId"] == operation_id for op in stackset.operations):
        raise OperationIdAlreadyExists(f"The operation id {operation_id} already exists")
    return operation_id


def _operation(stackset: StackSet, operation_id: str) -> dict[str, Any]:
    for operation in stackset.operations:
        if operation["OperationId"] == operation_id:
            return operation
    raise OperationNotFound(f"Operation {operation_id} not found")


def _number(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _at_once(preferences: dict[str, Any], accounts: int) -> int:
    count = _number(preferences.get("MaxConcurrentCount"))
    if count is not None:
        return max(count, 1)
    percentage = _number(preferences.get("MaxConcurrentPercentage"))
    if percentage is not None:
        return max(accounts * percentage // 100, 1)
    return 1


def _tolerated(preferences: dict[str, Any], accounts: int) -> int:
    count = _number(preferences.get("FailureToleranceCount"))
    if count is not None:
        return count
    percentage = _number(preferences.get("FailureTolerancePercentage"))
    return accounts * percentage // 100 if percentage is not None else 0


def _ordered_regions(regions: list[str], preferences: dict[str, Any]) -> list[str]:
    order = [r for r in preferences.get("RegionOrder") or [] if r in regions]
    return order + [r for r in regions if r not in order]


def _run(
    stackset: StackSet,
    operation_id: str,
    action: str,
    accounts: list[str],
    regions: list[str],
    preferences: dict[str, Any],
    step: Callable[[str, str], tuple[str, str | None]],
    **extra: Any,
) -> dict[str, Any]:
    """Runs `step` per account and region as AWS schedules it; records the operation."""
    started = utcnow()
    results: list[dict[str, Any]] = []
    failed_total = 0
    exceeded = False
    for region in _ordered_regions(regions, preferences):
        at_once = _at_once(preferences, len(accounts))
        tolerated = _tolerated(preferences, len(accounts))
        failed = 0
        for start in range(0, len(accounts), at_once):
            for account in accounts[start : start + at_once]:
                if exceeded:
                    results.append(_result(account, region, CANCELLED, CANCELLED_REASON))
                    continue
                status, reason = step(account, region)
                results.append(_result(account, region, status, reason))
                failed += status == FAILED
            if failed > tolerated:
                exceeded = True
        failed_total += failed
    operation = {
        "OperationId": operation_id,
        "Action": action,
        "Status": FAILED if exceeded else SUCCEEDED,
        "CreationTimestamp": started,
        "EndTimestamp": utcnow(),
        "Instances": [{r["Account"]: r["Region"]} for r in results],  # moto's own field
        "Results": results,
        "StatusDetails": {"FailedStackInstancesCount": failed_total},
        "OperationPreferences": preferences,
        **extra,
    }
    stackset.operations.append(operation)
    return operation


def _result(account: str, region: str, status: str, reason: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "Account": account,
        "Region": region,
        "Status": status,
        "AccountGateResult": {
            "Status": "SKIPPED",
            "StatusReason": f"Function not found: arn:{get_partition(region)}:lambda:{region}:"
            f"{account}:function:AWSCloudFormationStackSetAccountGate",
        },
    }
    if reason:
        result["StatusReason"] = reason
    return result


# --- targets --------------------------------------------------------------------------


def _target_accounts(stackset: StackSet, accounts: list[str], targets: dict[str, Any] | None) -> list[str]:
    """Accounts named directly, or by DeploymentTargets (accounts, or OUs and their children)."""
    targets = targets or {}
    if stackset.permission_model == "SERVICE_MANAGED":
        if "OrganizationalUnitIds" not in targets:
            raise ValidationError(
                message="StackSets with SERVICE_MANAGED permission model can only have "
                "OrganizationalUnit as target"
            )
    elif "OrganizationalUnitIds" in targets:
        raise ValidationError(
            message="StackSets with SELF_MANAGED permission model can only have accounts as target"
        )
    wanted = list(accounts) + list(targets.get("Accounts") or [])
    units = set(targets.get("OrganizationalUnitIds") or [])
    if units:
        organizations = stackset.instances.org_backend
        while True:
            children = {ou.id for ou in organizations.ou if ou.parent_id in units} - units
            if not children:
                break
            units |= children
        wanted += [a.id for a in organizations.accounts if a.parent_id in units]
    unique = list(dict.fromkeys(wanted))
    if not unique:
        raise ValidationError(message="Accounts or DeploymentTargets must be specified")
    return unique


def _require_regions(regions: list[str]) -> None:
    if not regions:
        raise ValidationError(message="Regions must be specified")


# --- the calls ------------------------------------------------------------------------


def _stackset(response: CloudFormationResponse) -> StackSet:
    return response.cloudformation_backend.describe_stack_set(response._get_param("StackSetName"))


def _preferences(response: CloudFormationResponse) -> dict[str, Any]:
    return response._get_param("OperationPreferences") or {}


def create_stack_instances(self: CloudFormationResponse) -> ActionResult:
    with _LOCK:
        stackset = _stackset(self)
        operation_id = _operation_id(stackset, self._get_param("OperationId"))
        regions = self._get_param("Regions", [])
        _require_regions(regions)
        accounts = _target_accounts(
            stackset, self._get_param("Accounts", []), self._get_params().get("DeploymentTargets")
        )
        overrides = self._get_param("ParameterOverrides", [])

        def step(account: str, region: str) -> tuple[str, str | None]:
            instance = _find_instance(stackset, account, region)
            if instance is not None and instance.status == "CURRENT":
                return _settle(instance, operation_id, None)  # nothing to do, as in AWS
            if instance is None:
                instance = _new_instance(stackset, account, region)
                stackset.instances.stack_instances.append(instance)
            else:
                _delete_stack(instance)  # a failed one: try again from scratch
            instance.parameters = overrides
            return _settle(instance, operation_id, _create_stack(stackset, instance))

        _run(stackset, operation_id, "CREATE", accounts, regions, _preferences(self), step)
    return ActionResult({"OperationId": operation_id})


def delete_stack_instances(self: CloudFormationResponse) -> ActionResult:
    with _LOCK:
        stackset = _stackset(self)
        operation_id = _operation_id(stackset, self._get_param("OperationId"))
        regions = self._get_param("Regions", [])
        _require_regions(regions)
        accounts = _target_accounts(
            stackset, self._get_param("Accounts", []), self._get_params().get("DeploymentTargets")
        )
        retain = self._get_param("RetainStacks") in (True, "true")

        def step(account: str, region: str) -> tuple[str, str | None]:
            instance = _find_instance(stackset, account, region)
            if instance is None:
                return SUCCEEDED, None
            if not retain:
                try:
                    _delete_stack(instance)
                except Exception as error:
                    _log_unexpected(error, account, region)
                    instance.status, instance.detailed_status = "INOPERABLE", "INOPERABLE"
                    instance.status_reason = _failure_reason(error)
                    return FAILED, instance.status_reason
            stackset.instances.stack_instances.remove(instance)
            return SUCCEEDED, None

        _run(
            stackset, operation_id, "DELETE", accounts, regions, _preferences(self), step,
            RetainStacks=retain,
        )
    return ActionResult({"OperationId": operation_id})


def update_stack_set(self: CloudFormationResponse) -> ActionResult:
    with _LOCK:
        stackset = _stackset(self)
        operation_id = _operation_id(stackset, self._get_param("OperationId"))
        template = self._get_param("TemplateBody")
        if self._get_param("TemplateURL"):
            template = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
        if template:
            stackset.template = template
            stackset.instances.template = template
        parameters = self._get_param("Parameters", [])
        if parameters:
            previous = dict(stackset.parameters or {})
            stackset.parameters = {
                p["ParameterKey"]: previous.get(p["ParameterKey"])
                if p.get("UsePreviousValue") in (True, "true")
                else p.get("ParameterValue")
                for p in parameters
            }
        for attribute, name in (
            ("description", "Description"),
            ("administration_role_arn", "AdministrationRoleARN"),
            ("execution_role_name", "ExecutionRoleName"),
        ):
            if self._get_param(name) is not None:
                setattr(stackset, attribute, self._get_param(name))
        if self._get_param("Tags") is not None:
            stackset.tags = {t["Key"]: t["Value"] for t in self._get_param("Tags")}
        _update_instances(self, stackset, operation_id, None)
    return ActionResult({"OperationId": operation_id})


def update_stack_instances(self: CloudFormationResponse) -> ActionResult:
    with _LOCK:
        stackset = _stackset(self)
        operation_id = _operation_id(stackset, self._get_param("OperationId"))
        _update_instances(self, stackset, operation_id, self._get_param("ParameterOverrides", []))
    return ActionResult({"OperationId": operation_id})


def _update_instances(
    response: CloudFormationResponse,
    stackset: StackSet,
    operation_id: str,
    overrides: list[dict[str, Any]] | None,
) -> None:
    """Updates the stacks of the named instances (all of them when none are named)."""
    regions = response._get_param("Regions", [])
    named = response._get_param("Accounts", []) or response._get_params().get("DeploymentTargets")
    existing = stackset.instances.stack_instances
    if named:
        accounts = _target_accounts(
            stackset, response._get_param("Accounts", []),
            response._get_params().get("DeploymentTargets"),
        )
    else:
        accounts = list(dict.fromkeys(i.account_id for i in existing))
    if not regions:
        regions = list(dict.fromkeys(i.region_name for i in existing))
    if overrides is not None:
        for account in accounts:
            for region in regions:
                if _find_instance(stackset, account, region) is None:
                    raise StackInstanceNotFound()

    def step(account: str, region: str) -> tuple[str, str | None]:
        instance = _find_instance(stackset, account, region)
        if instance is None:
            return SUCCEEDED, None  # this account has no instance in this region
        if overrides is not None:
            instance.parameters = overrides
        instance.template = stackset.template
        return _settle(instance, operation_id, _update_stack(stackset, instance))

    _run(stackset, operation_id, "UPDATE", accounts, regions, _preferences(response), step)


def describe_stack_set_operation(self: CloudFormationResponse) -> ActionResult:
    stackset = _stackset(self)
    operation = _operation(stackset, self._get_param("OperationId"))
    described = {
        **_summary(operation),
        "StackSetId": stackset.id,
        "AdministrationRoleARN": stackset.administration_role_arn,
        "ExecutionRoleName": stackset.execution_role_name,
    }
    if "RetainStacks" in operation:
        described["RetainStacks"] = operation["RetainStacks"]
    return ActionResult({"StackSetOperation": described})


def _summary(operation: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "OperationId", "Action", "Status", "CreationTimestamp", "EndTimestamp",
        "StatusReason", "StatusDetails", "OperationPreferences",
    )
    return {key: operation[key] for key in keys if operation.get(key) is not None}


def list_stack_set_operations(self: CloudFormationResponse) -> ActionResult:
    operations = [_summary(op) for op in _stackset(self).operations]
    return ActionResult(_page(self, operations))


def list_stack_set_operation_results(self: CloudFormationResponse) -> ActionResult:
    operation = _operation(_stackset(self), self._get_param("OperationId"))
    return ActionResult(_page(self, operation.get("Results", [])))


def list_stack_instances(self: CloudFormationResponse) -> ActionResult:
    account = self._get_param("StackInstanceAccount")
    region = self._get_param("StackInstanceRegion")
    filters = {f["Name"]: f["Values"] for f in self._get_param("Filters", []) or []}
    instances = []
    for instance in _stackset(self).instances.stack_instances:
        summary = instance.to_dict()
        summary.pop("ParameterOverrides", None)
        if account and instance.account_id != account:
            continue
        if region and instance.region_name != region:
            continue
        if "DETAILED_STATUS" in filters and (
            summary["StackInstanceStatus"]["DetailedStatus"] != filters["DETAILED_STATUS"]
        ):
            continue
        if "LAST_OPERATION_ID" in filters and (
            summary.get("LastOperationId") != filters["LAST_OPERATION_ID"]
        ):
            continue
        instances.append(summary)
    return ActionResult(_page(self, instances))


def describe_stack_instance(self: CloudFormationResponse) -> ActionResult:
    stackset = _stackset(self)
    instance = _find_instance(
        stackset, self._get_param("StackInstanceAccount"), self._get_param("StackInstanceRegion")
    )
    if instance is None:
        raise StackInstanceNotFound()
    return ActionResult({"StackInstance": instance.to_dict()})


def _page(response: CloudFormationResponse, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One page of `items` (`MaxResults`, `NextToken` = the index to continue from)."""
    items = list(items)
    size = _number(response._get_param("MaxResults")) or DEFAULT_PAGE
    token = response._get_param("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationError(message=f"Invalid NextToken {token}") from None
    page: dict[str, Any] = {"Summaries": items[start : start + size]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page


def delete_stack_set(self: CloudFormationResponse) -> EmptyResult:
    with _LOCK:
        self.cloudformation_backend.delete_stack_set(self._get_param("StackSetName"))
    return EmptyResult()


_RESPONSES: dict[str, Callable[[CloudFormationResponse], Any]] = {
    "create_stack_instances": create_stack_instances,
    "delete_stack_instances": delete_stack_instances,
    "update_stack_set": update_stack_set,
    "update_stack_instances": update_stack_instances,
    "describe_stack_set_operation": describe_stack_set_operation,
    "list_stack_set_operations": list_stack_set_operations,
    "list_stack_set_operation_results": list_stack_set_operation_results,
    "list_stack_instances": list_stack_instances,
    "describe_stack_instance": describe_stack_instance,
    "delete_stack_set": delete_stack_set,
}
