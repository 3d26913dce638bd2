"""A marketplace per test on an ephemeral loopback port, and a real boto3 client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.marketplace.helpers import base_config, make_client
from turkops.marketplace import RunningMarketplace, start_marketplace


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RunningMarketplace]]:
    """start(**config changes) -> a running marketplace, stopped after the test."""
    running: list[RunningMarketplace] = []

    def _start(**changes: Any) -> RunningMarketplace:
        m = start_marketplace(base_config(tmp_path, **changes))
        running.append(m)
        return m

    yield _start
    for m in running:
        m.stop()


@pytest.fixture
def market(start: Callable[..., RunningMarketplace]) -> RunningMarketplace:
    return start()


@pytest.fixture
def paused(start: Callable[..., RunningMarketplace]) -> RunningMarketplace:
    """A marketplace whose simulated crowd does nothing unless resumed."""
    m = start()
    m.pause_workers()
    return m


@pytest.fixture
def client(market: RunningMarketplace) -> Any:
    return make_client(market.url)


@pytest.fixture
def pclient(paused: RunningMarketplace) -> Any:
    return make_client(paused.url)
