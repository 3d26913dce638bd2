"""Issue 11 item 5: per-worker error rates from the aggregator flag spammers, shown and
logged, blocked only on request (`turkops block --flagged`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import write_study_files
from tests.market_fixtures import mrt, truth_for  # noqa: F401
from tests.mturk.test_lifecycle import poll_until_complete
from turkops.cli import app
from turkops.db.models import BlockedWorker, Event
from turkops.domain import SamplingStrategy
from turkops.marketplace import MarketplaceConfig, RunningMarketplace, start_marketplace
from turkops.services.collect import CollectOptions, collect_study, pseudonym
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.ratings import RatingTable
from turkops.services.sampling import sample_study
from turkops.services.spammers import MIN_RATINGS, fit_workers, flag_spammers
from turkops.services.status import study_status
from turkops.services.studies import create_study
from turkops.wiring import Runtime


def _table(n_items: int, honest: dict[str, float], spammers: list[str], seed: int) -> RatingTable:
    """Every worker rates every item: honest ones flip the truth at their rate, spammers
    answer at random."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n_items) < 0.35
    sample_ids, workers, values = [], [], []
    for worker in [*honest, *spammers]:
        for item in range(n_items):
            if worker in honest:
                v = truth[item] if rng.random() >= honest[worker] else not truth[item]
            else:
                v = rng.random() < 0.5
            sample_ids.append(100 + item)
            workers.append(worker)
            values.append(int(v))
    return RatingTable(np.array(sample_ids), workers, np.array(values))


def test_two_coin_fit_flags_exactly_the_random_raters() -> None:
    honest = {f"H{i}": rate for i, rate in enumerate((0.05, 0.1, 0.15, 0.23, 0.3))}
    table = _table(300, honest, ["S1", "S2"], seed=4)
    fits = {f.worker: f for f in fit_workers(table)}
    assert {w for w, f in fits.items() if f.spammer} == {"S1", "S2"}
    assert all(fits[w].sensitivity + fits[w].specificity > 1.3 for w in honest)


def test_too_few_ratings_are_never_flagged() -> None:
    table = _table(MIN_RATINGS - 1, {"H0": 0.1, "H1": 0.1, "H2": 0.1}, ["S1"], seed=5)
    assert not any(f.spammer for f in fit_workers(table))


@pytest.fixture
def sampled(mrt: Runtime, tmp_path: Path) -> str:  # noqa: F811
    """The market fixtures' study with 60 draws per pair: ~90 distinct images to rate."""
    files = write_study_files(tmp_path / "files")
    create_study(
        mrt, "s", files["inputs"], files["activations"], files["explanations"], files["scores"]
    )
    sample_study(mrt, "s", 60, SamplingStrategy.MG_IS, 0.2, seed=3)
    return "s"


@pytest.fixture
def market(tmp_path: Path) -> Iterator[RunningMarketplace]:
    """Six workers, two of them spammers: with six raters per HIT each rates every image."""
    with start_marketplace(
        MarketplaceConfig(
            db_path=tmp_path / "market.sqlite",
            n_workers=6,
            error_rate=0.05,
            spammer_share=2 / 6,
            seed=2,
            truth=truth_for(30),
        )
    ) as m:
        yield m


def test_spammers_of_a_local_marketplace_study_are_flagged_logged_and_blocked_on_request(
    mrt: Runtime,  # noqa: F811
    sampled: str,  # noqa: F811
    market: RunningMarketplace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spammers = {w.worker_id for w in market.workers if w.spammer}
    assert len(spammers) == 2
    launch_study(mrt, sampled, LaunchOptions(raters=6, images_per_hit=15))
    poll_until_complete(mrt, sampled, timeout=90)
    result = collect_study(mrt, sampled, CollectOptions(n_boot=20, hash_workers=True))
    shown = {w.worker for w in result.workers if w.spammer}
    assert shown and shown <= {pseudonym(w) for w in spammers}  # hashed in the table too
    assert any("look like spammers" in w and "--flagged" in w for w in result.warnings)
    flagged = {f.worker for f in flag_spammers(mrt, sampled)}
    assert {pseudonym(w) for w in flagged} == shown
    report = study_status(mrt, sampled)  # flags again: still one event per worker
    assert report.spammers == len(flagged)
    with mrt.transaction() as repo:
        events = repo.session.scalars(
            select(Event.entity).where(Event.kind == "worker.flagged_spammer")
        ).all()
        assert sorted(events) == sorted(f"worker:{w}" for w in flagged)
        assert repo.session.scalars(select(BlockedWorker)).all() == []  # never silently
    monkeypatch.setenv("TURKOPS_DATABASE_URL", mrt.settings.database_url)
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(mrt.settings.data_dir))
    monkeypatch.setenv("TURKOPS_LOCAL_URL", market.url)
    polled = CliRunner().invoke(app, ["poll", sampled])
    assert polled.exit_code == 0, polled.output
    assert f"{len(flagged)} workers look like spammers" in polled.output
    status = CliRunner().invoke(app, ["status", sampled])
    assert status.exit_code == 0, status.output
    assert "spammers" in status.output and "--flagged" in status.output
    both = CliRunner().invoke(app, ["block", "W1", "--flagged", sampled, "--reason", "x"])
    assert both.exit_code != 0 and "one of them" in both.output
    res = CliRunner().invoke(app, ["block", "--flagged", sampled, "--reason", "random answers"])
    assert res.exit_code == 0, res.output
    assert f"blocked {len(flagged)} of {len(flagged)}" in res.output
    with mrt.transaction() as repo:
        blocked = repo.session.scalars(select(BlockedWorker)).all()
        assert {(b.provider, b.worker_id) for b in blocked} == {("mturk", w) for w in flagged}
