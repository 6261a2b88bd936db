"""The emulator server shared by the test modules of this directory (one per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import start_server, stop_server


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    process, url = start_server("--exit-on-stdin-eof")
    yield url
    stop_server(process)
