"""pytest fixtures for the layer-remediation template tests; helpers live in
templates_support.py. The cfn-guard binaries come from scripts/setup-templates (one per
version in cfn-guard-versions.txt)."""

import pytest
import yaml

from templates_support import RUNBOOK, TOOLS, guard_versions, load_template


@pytest.fixture(scope="session", params=guard_versions())
def cfn_guard(request):
    """Path of one cfn-guard binary; fails (not skips) when it is not installed."""
    version = request.param
    binary = TOOLS / f"cfn-guard-{version}" / "bin" / "cfn-guard"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run scripts/setup-templates")
    return version, binary


@pytest.fixture(scope="session")
def template():
    return load_template()


@pytest.fixture(scope="session")
def runbook():
    return yaml.safe_load(RUNBOOK.read_text())
