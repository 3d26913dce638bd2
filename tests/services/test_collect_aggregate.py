"""collect and `turkops aggregate` share one aggregation path: same ratings, same labels."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.market_fixtures import market_config
from turkops.cli import app
from turkops.domain import Aggregation
from turkops.marketplace import start_marketplace
from turkops.services.collect import CollectOptions, collect_study
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.services.ratings import load_ratings
from turkops.services.studies import load_concept_scores
from turkops.wiring import Runtime


@pytest.mark.parametrize("aggregation", [Aggregation.TWO_COIN, Aggregation.DAWID_SKENE])
def test_aggregate_reproduces_collect_labels(
    mrt: Runtime, sampled: str, tmp_path: Path, aggregation: Aggregation
) -> None:
    with start_marketplace(market_config(tmp_path / "noisy.sqlite", 0.25, seed=4)) as market:
        mrt.settings = mrt.settings.model_copy(update={"local_url": market.url})
        mrt.use_gateway(None)
        launch_study(mrt, sampled, LaunchOptions(raters=3))
        deadline = time.monotonic() + 30
        while not poll_study(mrt, sampled).complete:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    result = collect_study(mrt, sampled, CollectOptions(aggregations=(aggregation,), n_boot=20))
    with mrt.transaction() as repo:
        study = repo.study(sampled)
        pairs, table = load_ratings(repo, study.id)
        scores = load_concept_scores(repo, study)
    assert scores is not None  # the fixture study has concept scores: collect uses them as prior
    ratings = tmp_path / "ratings.csv"
    with ratings.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item", "worker", "label"])
        w.writerows(
            zip(table.sample_ids.tolist(), table.worker_ids, table.values.tolist(), strict=True)
        )
    priors = tmp_path / "priors.csv"
    column = {c: j for j, c in enumerate(scores.concepts)}
    rated = set(table.sample_ids.tolist())
    with priors.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item", "prior"])
        for p in pairs:
            for sid, row in zip(p.sample_ids.tolist(), p.rows.tolist(), strict=True):
                if sid in rated:
                    w.writerow([sid, float(scores.probs[row, column[p.concept]])])
    out = tmp_path / "out.csv"
    cli = CliRunner().invoke(
        app,
        [
            "aggregate",
            str(ratings),
            "--method",
            str(aggregation),
            "--prior",
            str(priors),
            "--out",
            str(out),
        ],
    )
    assert cli.exit_code == 0, cli.output
    mine = {int(r["item"]): float(r["posterior"]) for r in csv.DictReader(out.open())}
    theirs = result.sample_labels
    assert len(mine) >= 20
    for sid, label in mine.items():
        assert label == pytest.approx(theirs[sid], abs=2e-6)
    assert np.std(list(mine.values())) > 0.1  # noisy raters: not a trivial 0/1 agreement
