"""Helpers shared by the emulator's test modules: a server process, reset, control endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.py"


def start_server(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """Starts server.py on a free port; returns the process and its URL."""
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    prefix, _, url = line.rstrip("\n").partition(" ")
    assert prefix == "GOVCTL_EMULATOR_READY", line
    return process, url


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Lets a server started with --exit-on-stdin-eof go, the way the Rust tests do."""
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=10) == 0


def reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))


def control(url: str, method: str, path: str, document: Any = None) -> tuple[int, Any]:
    """Calls a /_govctl/ endpoint; returns (HTTP status, JSON answer)."""
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(f"{url}/_govctl/{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
