"""A simulated Prolific per test on an ephemeral loopback port, and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from turkops.prolific.client import ProlificClient, build_http
from turkops.prolific_sim import RunningSimulator, SimState, start_simulator

TOKEN = "tok-5ecret-9f8e7d6c5b4a"  # a fake token; tests assert it never appears in output


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(SimState(token=TOKEN), seed=1)
    yield running
    running.stop()


@pytest.fixture
def client(sim: RunningSimulator) -> Iterator[ProlificClient]:
    http = build_http(sim.url, TOKEN, 10.0)
    yield ProlificClient(http, max_attempts=8, backoff_seconds=0.01)
    http.close()
