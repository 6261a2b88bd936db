"""AWS Config's automatic remediation of the layer rollout, done at once.

In AWS, once stacksets/layer-remediation.yaml is deployed in an account and region, AWS
Config evaluates the new Guard rule against every Lambda function there, and the
automatic remediation configuration runs the SSM Automation runbook on each function the
rule flags; the runbook swaps the old layer version for the new one in place. moto has
neither Guard evaluation, nor remediation, nor Automation executions, so without this
nothing would change and govctl's apply could not be tested end to end.

Here, when an automatic remediation configuration is created (through CloudFormation:
cfn_resources.py calls `remediate_now`), every `$LATEST` function of that account and
region is evaluated and, when NON_COMPLIANT, changed through moto's Lambda backend, the
call UpdateFunctionConfiguration reaches: the layer versions resolve in their owner's
account with its permission (lambda_layers.py), the `RevisionId` read first is the
precondition and is renewed (lambda_revisions.py), and the aggregate query sees the new
layers (lambda_state.py). Simplifications, each a shortcut of the real timing, not of
the result:

- evaluation and remediation happen within the request that creates the stack, instead
  of minutes later; the Guard policy text is not run: a function is NON_COMPLIANT when
  any of its layers is one of the configuration's `OldLayerArns` (which is what
  policies/guard/layer-version.guard says, and tests/templates/ check with real Guard);
- only a configuration whose target is an Automation document in the account and region
  and whose parameters are this template's (`FunctionName` = `RESOURCE_ID`, static
  `OldLayerArns` and `NewLayerArn`) is run; the runbook's script is not executed: its
  rules are emulated (runbooks/replace_layer_version.py): the old version is swapped at
  the same position, other layers kept; a function using the new version and an old
  one, or two old ones, is left alone and the execution FAILED, as the script refuses;
- functions are evaluated once, when the configuration is created: a later change to a
  function does not trigger the rule, and the schedule never fires;
- the automation role's policy is not evaluated, and attempts are not retried.

Config's DescribeRemediationConfigurations and DescribeRemediationExecutionStatus
(which moto lacks) answer from the same state, so tests can see what ran.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from moto.awslambda.utils import get_backend
from moto.config.exceptions import InvalidNextTokenException
from moto.config.models import config_backends
from moto.config.responses import ConfigResponse
from moto.core.exceptions import JsonRESTError, ServiceException
from moto.ssm.models import ssm_backends

from . import lambda_state
from .lambda_layers import LayerPermissionMissing

LAMBDA_FUNCTION = "AWS::Lambda::Function"
RUNBOOK_STEP = "ReplaceLayerVersion"


class NoSuchRemediationConfigurationException(JsonRESTError):
    code = 400

    def __init__(self, rule_name: str):
        super().__init__(
            "NoSuchRemediationConfigurationException",
            f"No RemediationConfiguration for rule exists with name {rule_name}",
        )


def install() -> None:
    ConfigResponse.describe_remediation_configurations = _describe_configurations  # type: ignore[attr-defined]
    ConfigResponse.describe_remediation_execution_status = _describe_executions  # type: ignore[attr-defined]


# --- state on moto's Config backend ----------------------------------------------------


def configurations(account_id: str, region: str) -> dict[str, dict[str, Any]]:
    """Remediation configurations by rule name (reset clears them with the backend)."""
    backend = config_backends[account_id][region]
    if not hasattr(backend, "govctl_remediation_configurations"):
        backend.govctl_remediation_configurations = {}  # type: ignore[attr-defined]
    return backend.govctl_remediation_configurations  # type: ignore[attr-defined,no-any-return]


def executions(account_id: str, region: str) -> dict[str, list[dict[str, Any]]]:
    """RemediationExecutionStatus entries by rule name, newest last."""
    backend = config_backends[account_id][region]
    if not hasattr(backend, "govctl_remediation_executions"):
        backend.govctl_remediation_executions = {}  # type: ignore[attr-defined]
    return backend.govctl_remediation_executions  # type: ignore[attr-defined,no-any-return]


def forget(account_id: str, region: str, rule_name: str) -> None:
    configurations(account_id, region).pop(rule_name, None)
    executions(account_id, region).pop(rule_name, None)


# --- evaluation and remediation ---------------------------------------------------------


def remediate_now(account_id: str, region: str, rule_name: str) -> None:
    """Evaluates the rule's functions and remediates the NON_COMPLIANT ones, if automatic."""
    configuration = configurations(account_id, region).get(rule_name)
    if not configuration or not configuration.get("Automatic"):
        return
    swap = _layer_swap(account_id, region, configuration)
    if swap is None:
        return
    old, new = swap
    runs = executions(account_id, region).setdefault(rule_name, [])
    for function in list(lambda_state.latest_functions(account_id, [region])):
        layers = [layer["Arn"] for layer in function.layers or []]
        if any(arn in old for arn in layers):
            runs.append(_run_runbook(account_id, region, function.function_name, layers, old, new))


def _layer_swap(
    account_id: str, region: str, configuration: dict[str, Any]
) -> tuple[list[str], str] | None:
    """(old layer ARNs, new layer ARN) when this is the layer rollout's remediation."""
    if configuration.get("TargetType") != "SSM_DOCUMENT":
        return None
    documents = ssm_backends[account_id][region]._documents
    document = documents.get(configuration.get("TargetId"))
    if document is None or document.get_default_version().document_type != "Automation":
        return None
    parameters = configuration.get("Parameters") or {}
    resource = (parameters.get("FunctionName") or {}).get("ResourceValue") or {}
    old = _static(parameters, "OldLayerArns")
    new = _static(parameters, "NewLayerArn")
    if resource.get("Value") != "RESOURCE_ID" or not old or not new or len(new) != 1:
        return None
    return old, new[0]


def _static(parameters: dict[str, Any], name: str) -> list[str]:
    values = ((parameters.get(name) or {}).get("StaticValue") or {}).get("Values") or []
    if isinstance(values, str):
        values = values.split(",")
    return [str(value).strip() for value in values if str(value).strip()]


def _run_runbook(
    account_id: str, region: str, name: str, layers: list[str], old: list[str], new: str
) -> dict[str, Any]:
    """The runbook's step on one function; its RemediationExecutionStatus."""
    started = _now()
    error = None
    present = [arn for arn in layers if arn in old]
    if new in layers:
        error = (
            f"the function uses both {present[0]} and {new}; replacing the old one would list "
            "the new one twice and dropping it would choose a layer order on the owners' "
            "behalf: fix this function by hand"
        )
    elif len(present) > 1:
        error = (
            f"the function uses {len(present)} old versions ({', '.join(present)}); replacing "
            "them would list the new one twice: fix it by hand"
        )
    else:
        target = [new if arn in old else arn for arn in layers]
        backend = get_backend(account_id, region)
        function = backend.get_function(name, None)
        try:
            backend.update_function_configuration(
                name, None, {"Layers": target, "RevisionId": function.revision_id}
            )
        except LayerPermissionMissing as missing:
            error = f"AccessDeniedException: not authorized to perform {missing.action} on {missing.resource}"
        except (JsonRESTError, ServiceException) as failure:
            error = f"{_code(failure)}: {getattr(failure, 'message', failure)}"
    state = "FAILED" if error else "SUCCEEDED"
    step: dict[str, Any] = {
        "Name": RUNBOOK_STEP,
        "State": state,
        "StartTime": started,
        "StopTime": _now(),
    }
    if error:
        step["ErrorMessage"] = error
    return {
        "ResourceKey": {"resourceType": LAMBDA_FUNCTION, "resourceId": name},
        "State": state,
        "StepDetails": [step],
        "InvocationTime": started,
        "LastUpdatedTime": _now(),
    }


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _code(error: Exception) -> str:
    return str(getattr(error, "error_type", None) or getattr(error, "code", type(error).__name__))


# --- the Describe calls ----------------------------------------------------------------


def _describe_configurations(self: ConfigResponse) -> str:
    stored = configurations(self.current_account, self.region)
    names = self._get_param("ConfigRuleNames") or []
    found = [_configuration_view(stored[name]) for name in names if name in stored]
    return json.dumps({"RemediationConfigurations": found})


def _configuration_view(configuration: dict[str, Any]) -> dict[str, Any]:
    view = dict(configuration)
    for key in ("MaximumAutomaticAttempts", "RetryAttemptSeconds"):
        if key in view:
            view[key] = int(view[key])
    controls = (view.get("ExecutionControls") or {}).get("SsmControls")
    if controls:
        view["ExecutionControls"] = {"SsmControls": {k: int(v) for k, v in controls.items()}}
    return view


def _describe_executions(self: ConfigResponse) -> str:
    rule_name = self._get_param("ConfigRuleName")
    if rule_name not in configurations(self.current_account, self.region):
        raise NoSuchRemediationConfigurationException(rule_name)
    runs = executions(self.current_account, self.region).get(rule_name, [])
    keys = self._get_param("ResourceKeys")
    if keys:
        wanted = {(k["resourceType"], k["resourceId"]) for k in keys}
        runs = [r for r in runs if (r["ResourceKey"]["resourceType"], r["ResourceKey"]["resourceId"]) in wanted]
    limit = int(self._get_param("Limit") or 0) or 100
    token = self._get_param("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise InvalidNextTokenException() from None
    page: dict[str, Any] = {"RemediationExecutionStatuses": [_dated(r) for r in runs[start : start + limit]]}
    if start + limit < len(runs):
        page["NextToken"] = str(start + limit)
    return json.dumps(page)


def _dated(value: Any) -> Any:
    """Timestamps as JSON 1.1 sends them: seconds since the epoch."""
    if isinstance(value, dict):
        return {key: _dated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dated(item) for item in value]
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return value
