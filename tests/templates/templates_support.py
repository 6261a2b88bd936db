"""Helpers for the layer-remediation template tests (tests/templates/).

Paths of the files under test, a YAML loader that understands CloudFormation's short
intrinsic tags, the intrinsics this template uses (Fn::Sub, Fn::Join, Ref), the runbook's
script as a module, and the cfn-guard versions to test with. A module of its own name, so
that it cannot clash with another directory's conftest.py.
"""

import importlib.util
import os
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "stacksets" / "layer-remediation.yaml"
RUNBOOK = ROOT / "runbooks" / "replace-layer-version.yaml"
SCRIPT = ROOT / "runbooks" / "replace_layer_version.py"
GUARD_RULE = ROOT / "policies" / "guard" / "layer-version.guard"
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
GUARD_VERSIONS_FILE = pathlib.Path(__file__).resolve().parent / "cfn-guard-versions.txt"
TOOLS = pathlib.Path(os.environ.get("GOVCTL_TOOLS_DIR") or ROOT / ".tools")


class CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short forms (!Ref, !Sub, !GetAtt, ...)."""


def _cfn_tag(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + tag_suffix: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path=TEMPLATE):
    return yaml.load(path.read_text(), Loader=CfnLoader)


def fn_sub(text, values):
    """Fn::Sub on a string: every ${Name} must be in values; ${!x} is a literal ${x}."""

    def replace(match):
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name not in values:
            raise KeyError(f"Fn::Sub variable ${{{name}}} has no value")
        return values[name]

    return re.sub(r"\$\{([^}]*)\}", replace, text)


def load_script():
    """runbooks/replace_layer_version.py as a module."""
    spec = importlib.util.spec_from_file_location("replace_layer_version", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resolve(value, params):
    """Evaluate the intrinsics this template uses (Ref, Fn::Sub, Fn::Join, Fn::GetAtt).

    `params` maps parameter names (and pseudo parameters, and logical IDs for Ref) to
    values; list parameters map to lists. Fn::GetAtt resolves to "<Logical>.<Attr>".
    """
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return params[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        return ".".join(value["Fn::GetAtt"])
    if set(value) == {"Fn::Join"}:
        separator, items = value["Fn::Join"]
        items = resolve(items, params)
        return separator.join(resolve(i, params) for i in items)
    if set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        if isinstance(sub, str):
            return fn_sub(sub, params)
        text, variables = sub
        return fn_sub(text, {**params, **{k: resolve(v, params) for k, v in variables.items()}})
    return {k: resolve(v, params) for k, v in value.items()}


def guard_versions():
    return [
        line.strip()
        for line in GUARD_VERSIONS_FILE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
