"""The embedded copies agree with their source files.

The Guard rule is embedded in the template (Fn::Sub PolicyText), the runbook in the
template (the SSM document's Content, compared as parsed YAML), and the script in the
runbook (the aws:executeScript Script). scripts/render-templates writes all three.
"""

import importlib.machinery
import importlib.util
import re
import subprocess
import sys

import yaml

from templates_support import GUARD_RULE, ROOT, RUNBOOK, SCRIPT, TEMPLATE


def _render_module():
    path = ROOT / "scripts" / "render-templates"
    loader = importlib.machinery.SourceFileLoader("render_templates", str(path))
    spec = importlib.util.spec_from_loader("render_templates", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_render_templates_check_passes():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "render-templates"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_template_policy_text_is_the_guard_file(template):
    details = template["Resources"]["LayerVersionRule"]["Properties"]["Source"][
        "CustomPolicyDetails"]
    text, variables = details["PolicyText"]["Fn::Sub"]
    assert text == GUARD_RULE.read_text()
    assert variables == {"OldLayerArnList": {"Fn::Join": ['", "', {"Ref": "OldLayerArns"}]}}


def test_guard_file_has_only_the_old_layers_placeholder():
    assert re.findall(r"\$\{[^}]*\}", GUARD_RULE.read_text()) == ["${OldLayerArnList}"]


def test_template_document_content_is_the_runbook(template):
    content = template["Resources"]["ReplaceLayerVersionDocument"]["Properties"]["Content"]
    assert content == yaml.safe_load(RUNBOOK.read_text())


def test_runbook_script_is_the_python_file(runbook):
    (step,) = [s for s in runbook["mainSteps"] if s["action"] == "aws:executeScript"]
    script = step["inputs"]["Script"]
    assert script == SCRIPT.read_text()
    namespace = {}
    exec(compile(script, "Script", "exec"), namespace)
    assert callable(namespace[step["inputs"]["Handler"]])


def test_render_rewrites_a_changed_copy():
    render = _render_module()
    text = TEMPLATE.read_text()
    tampered = text.replace("configuration.layers[ arn IN %old_layer_versions ] empty",
                            "some configuration.layers[*].arn != %old_layer_version", 1)
    assert tampered != text
    restored = render.embed(tampered, "policies/guard/layer-version.guard",
                            GUARD_RULE.read_text())
    assert restored == text
