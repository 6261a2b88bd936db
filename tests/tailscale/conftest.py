"""The fake Tailscale server shared by this directory's tests (one per session)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent / "server.py"


class Fake:
    """A running server.py: its URL, and what it printed (checked when it stops)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", "0", "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        prefix, _, self.url = line.rstrip("\n").partition(" ")
        assert prefix == "TAILSCALE_FAKE_READY", line

    def stop(self) -> tuple[bytes, bytes]:
        out, err = self.process.communicate(timeout=10)  # closes stdin: the server exits
        assert self.process.returncode == 0
        return out, err


@pytest.fixture(scope="session")
def fake() -> Iterator[Fake]:
    server = Fake()
    yield server
    out, err = server.stop()
    # Nothing but the ready line, ever: keys and secrets must not reach any log.
    assert out == b"", out
    assert err == b"", err
