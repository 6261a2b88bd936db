"""Replace old Lambda layer versions with a new one, in place, on one function.

This is the script of the SSM Automation runbook runbooks/replace-layer-version.yaml
(step ReplaceLayerVersion, action aws:executeScript, handler script_handler). The
runbook embeds this exact text; scripts/render-templates copies it there and
tests/templates/test_embedded.py fails when the copies drift apart.

What it does, and why each step is there:
  1. waits until no update of the function is in progress (an update started
     meanwhile would make UpdateFunctionConfiguration fail), then reads the
     function once: its layers, its RevisionId and its tags;
  2. computes the new layer list: the old version it uses (any of the rollout's
     old versions: all those older than the approved one) is swapped for the new
     one AT THE SAME POSITION and every other layer keeps its place, because
     layer order matters (later layers overwrite files of earlier ones). The
     reference runbook removed the old ARN and appended the new one, which
     reordered them;
  3. does nothing when no old version is present (already remediated, or never
     used), and refuses to guess when an old and the new version are both
     present, or two old ones: swapping would list a layer twice and dropping one
     would pick an order nobody chose;
  4. calls UpdateFunctionConfiguration with Layers and the RevisionId read in
     step 1, so a function that changed since it was read is not overwritten
     (Lambda answers PreconditionFailedException and the step fails);
  5. waits, bounded, until LastUpdateStatus is Successful, fails with Lambda's
     reason when it is Failed, and checks that the layers now read back as
     planned;
  6. returns what it did: layers before and after, whether anything changed,
     and the CloudFormation stack that manages the function, if any (tag
     aws:cloudformation:stack-name): changing such a function directly makes
     the stack drift, and the next stack update would put the old layer back.

Only the unpublished version ($LATEST) changes; aliases keep pointing at
published versions until the owners publish a new one.

The SSM runtime is python3.11, the newest Python runtime aws:executeScript
lists. Keep this file importable and free of double curly braces: SSM
Automation would read those as parameter references.
"""

import re
import time

LAYER_VERSION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[a-zA-Z0-9_-]+:[0-9]+$"
)
CFN_STACK_TAG = "aws:cloudformation:stack-name"

# aws:executeScript stops a step after 600 s; the runbook sets timeoutSeconds
# to 540. These two waits together stay well under that.
SETTLE_TIMEOUT_SECONDS = 120
UPDATE_TIMEOUT_SECONDS = 300
POLL_SECONDS = 5

REPLACED = "replaced"
OLD_ABSENT = "old-absent"
ALREADY_NEW = "already-new"


class LayerReplacementError(Exception):
    """The replacement could not be done; the message says why."""


def validate_layer_version_arn(name, arn):
    """Raise ValueError unless arn is a layer version ARN."""
    if not isinstance(arn, str) or not LAYER_VERSION_ARN.fullmatch(arn):
        raise ValueError(
            f"{name} {arn!r} is not a layer version ARN "
            "(arn:aws:lambda:<region>:<account>:layer:<name>:<version>)"
        )


def old_layer_list(value):
    """OldLayerArns as a list: SSM passes a StringList, people may pass "a,b"."""
    if isinstance(value, str):
        value = value.split(",")
    arns = [arn.strip() for arn in value if arn and arn.strip()]
    if not arns:
        raise ValueError("OldLayerArns is empty")
    return arns


def plan_layers(current, old_layer_arns, new_layer_arn):
    """Return (layers, action) for a function whose layers are `current`.

    `old_layer_arns` lists the versions to replace. `layers` is the list to
    write (None when nothing is to change) and `action` is REPLACED, OLD_ABSENT
    or ALREADY_NEW. Pure: no AWS calls.
    """
    current = list(current)
    old = set(old_layer_list(old_layer_arns))
    if new_layer_arn in old:
        raise ValueError(f"the new layer version {new_layer_arn} is also listed as old")
    present = [arn for arn in current if arn in old]
    if not present:
        if new_layer_arn in current:
            return None, ALREADY_NEW
        return None, OLD_ABSENT
    if new_layer_arn in current:
        raise LayerReplacementError(
            f"the function uses both {present[0]} and {new_layer_arn}; "
            "replacing the old one would list the new one twice and dropping it "
            "would choose a layer order on the owners' behalf: fix this function by hand"
        )
    if len(present) > 1:
        raise LayerReplacementError(
            f"the function uses {len(present)} old versions ({', '.join(present)}); "
            "replacing them would list the new one twice: fix it by hand"
        )
    return [new_layer_arn if arn in old else arn for arn in current], REPLACED


def layer_arns(configuration):
    """The layer version ARNs of a function configuration, in order."""
    return [layer["Arn"] for layer in configuration.get("Layers") or []]


def _error_code(error):
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code", "")


def _update_in_progress(configuration):
    return (
        configuration.get("State") == "Pending"
        or configuration.get("LastUpdateStatus") == "InProgress"
    )


def read_settled_function(client, function_name, *, timeout, poll, sleep, clock):
    """GetFunction, repeated while an update of the function is in progress."""
    deadline = clock() + timeout
    while True:
        response = client.get_function(FunctionName=function_name)
        if not _update_in_progress(response["Configuration"]):
            return response
        if clock() >= deadline:
            raise LayerReplacementError(
                f"an update of {function_name} was still in progress after {timeout} s; "
                "not changed"
            )
        sleep(poll)


def wait_until_updated(client, function_name, *, timeout, poll, sleep, clock):
    """Poll GetFunctionConfiguration until LastUpdateStatus is Successful."""
    deadline = clock() + timeout
    while True:
        configuration = client.get_function_configuration(FunctionName=function_name)
        status = configuration.get("LastUpdateStatus", "Successful")
        if status == "Successful":
            return configuration
        if status == "Failed":
            raise LayerReplacementError(
                f"Lambda reports the update of {function_name} as Failed: "
                f"{configuration.get('LastUpdateStatusReasonCode', 'no reason code')}: "
                f"{configuration.get('LastUpdateStatusReason', 'no reason given')}"
            )
        if clock() >= deadline:
            raise LayerReplacementError(
                f"the update of {function_name} was still {status} after {timeout} s"
            )
        sleep(poll)


def replace_layer_version(
    client,
    function_name,
    old_layer_arns,
    new_layer_arn,
    *,
    settle_timeout=SETTLE_TIMEOUT_SECONDS,
    update_timeout=UPDATE_TIMEOUT_SECONDS,
    poll=POLL_SECONDS,
    sleep=time.sleep,
    clock=time.monotonic,
):
    """Swap whichever of old_layer_arns the function uses for new_layer_arn.

    `client` is a boto3 Lambda client. Raises LayerReplacementError (or the
    client's own error) when the function cannot be changed as planned.
    """
    if not function_name:
        raise ValueError("FunctionName is empty")
    old_layer_arns = old_layer_list(old_layer_arns)
    for arn in old_layer_arns:
        validate_layer_version_arn("OldLayerArns", arn)
    validate_layer_version_arn("NewLayerArn", new_layer_arn)

    function = read_settled_function(
        client, function_name, timeout=settle_timeout, poll=poll, sleep=sleep, clock=clock
    )
    configuration = function["Configuration"]
    before = layer_arns(configuration)
    revision_before = configuration.get("RevisionId", "")
    tags = function.get("Tags") or {}
    managed_by = tags.get(CFN_STACK_TAG, "")
    report = {
        "FunctionName": configuration.get("FunctionName", function_name),
        "FunctionArn": configuration.get("FunctionArn", ""),
        "OldLayerArns": old_layer_arns,
        "NewLayerArn": new_layer_arn,
        "LayersBefore": before,
        "LayersAfter": before,
        "Changed": False,
        "Action": "",
        "RevisionIdBefore": revision_before,
        "RevisionIdAfter": revision_before,
        "ManagedByStack": managed_by,
        # Lambda leaves Tags out (and sets TagsError) when lambda:ListTags is denied.
        "TagsRead": "TagsError" not in function,
        "Message": "",
    }

    target, action = plan_layers(before, old_layer_arns, new_layer_arn)
    report["Action"] = action
    if target is None:
        report["Message"] = (
            f"{report['FunctionName']} uses none of {', '.join(old_layer_arns)}"
            + (" and already uses the new version" if action == ALREADY_NEW else "")
            + "; nothing changed"
        )
        return report

    update = {"FunctionName": function_name, "Layers": target}
    if revision_before:  # Lambda always returns one; some emulators do not
        update["RevisionId"] = revision_before
    try:
        client.update_function_configuration(**update)
    except Exception as error:  # botocore ClientError; no botocore import needed
        code = _error_code(error)
        if code == "PreconditionFailedException":
            raise LayerReplacementError(
                f"{function_name} changed after it was read (RevisionId {revision_before} "
                "is stale); not updated. AWS Config retries the remediation."
            ) from error
        if code == "ResourceConflictException":
            raise LayerReplacementError(
                f"another update of {function_name} started meanwhile; not updated"
            ) from error
        raise

    after_configuration = wait_until_updated(
        client, function_name, timeout=update_timeout, poll=poll, sleep=sleep, clock=clock
    )
    after = layer_arns(after_configuration)
    if after != target:
        raise LayerReplacementError(
            f"{function_name} reads back layers {after}, expected {target}"
        )
    report.update(
        LayersAfter=after,
        Changed=True,
        RevisionIdAfter=after_configuration.get("RevisionId", ""),
        Message=f"{report['FunctionName']}: replaced "
        + ", ".join(arn for arn in before if arn not in after)
        + f" with {new_layer_arn} in place"
        + (
            f"; the function belongs to CloudFormation stack {managed_by}, which now drifts:"
            " update its template too"
            if managed_by
            else ""
        ),
    )
    return report


def script_handler(events, context):
    """Entry point of the aws:executeScript step."""
    import boto3
    from botocore.config import Config

    # aws:executeScript does not retry throttled calls itself.
    client = boto3.client(
        "lambda", config=Config(retries={"mode": "standard", "max_attempts": 8})
    )
    return replace_layer_version(
        client,
        events["FunctionName"],
        events["OldLayerArns"],
        events["NewLayerArn"],
    )
