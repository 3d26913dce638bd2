"""A local marketplace on an ephemeral loopback port and a Runtime wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import write_study_files
from turkops.config import Settings
from turkops.domain import SamplingStrategy
from turkops.marketplace import MarketplaceConfig, RunningMarketplace, start_marketplace
from turkops.services.sampling import sample_study
from turkops.services.studies import create_study
from turkops.wiring import Runtime, open_runtime

CONCEPTS = ("red", "dog", "cat")


def truth_for(n_inputs: int) -> dict[tuple[str, str], bool]:
    return {
        (f"img/{i}.png", c): (i + j) % 3 == 0
        for i in range(n_inputs)
        for j, c in enumerate(CONCEPTS)
    }


def market_config(db_path: Path, error_rate: float = 0.0, seed: int = 1) -> MarketplaceConfig:
    """12 workers who err on error_rate of the 30 test images, no spammers."""
    return MarketplaceConfig(
        db_path=db_path,
        n_workers=12,
        error_rate=error_rate,
        spammer_share=0.0,
        seed=seed,
        truth=truth_for(30),
    )


@pytest.fixture
def market(tmp_path: Path) -> Iterator[RunningMarketplace]:
    with start_marketplace(market_config(tmp_path / "market.sqlite")) as m:
        yield m


@pytest.fixture
def mrt(db_url: str, tmp_path: Path, market: RunningMarketplace) -> Iterator[Runtime]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=db_url,
        data_dir=tmp_path / "data",
        endpoint="local",
        local_url=market.url,
        _env_file=None,
    )
    rt = open_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def sampled(mrt: Runtime, tmp_path: Path) -> str:
    files = write_study_files(tmp_path / "files")
    create_study(
        mrt, "s", files["inputs"], files["activations"], files["explanations"], files["scores"]
    )
    sample_study(mrt, "s", 20, SamplingStrategy.MG_IS, 0.2, seed=3)
    return "s"
