"""A task server on a real uvicorn socket (127.0.0.1, free port) over the test database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from turkops.taskserver.runner import RunningTaskServer, running_taskserver
from turkops.wiring import Runtime


@pytest.fixture
def server(rt: Runtime) -> Iterator[RunningTaskServer]:
    with running_taskserver(rt, sweep_seconds=3600) as running:
        yield running
