"""Asymmetric (two-coin) simulated crowds and the two-coin aggregators in the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from turkops.cli import app
from turkops.stats.simulation import SimulationConfig, run_simulation
from turkops.stats.synthetic import CrowdSetting, PopulationSetting, simulate_crowd

runner = CliRunner()


def test_two_coin_crowd_draws_rates_from_the_betas() -> None:
    setting = CrowdSetting(
        rater_errors="two-coin",
        n_workers=4000,
        sensitivity_beta=(6.0, 3.0),
        specificity_beta=(30.0, 1.0),
    )
    crowd = simulate_crowd(setting, np.random.default_rng(0))
    assert crowd.rate_if_present.mean() == pytest.approx(6 / 9, abs=0.01)
    assert (1 - crowd.rate_if_absent).mean() == pytest.approx(30 / 31, abs=0.005)
    # Per worker, not one shared pair of rates.
    assert crowd.rate_if_present.std() > 0.1
    with pytest.raises(ValueError):
        CrowdSetting(rater_errors="two-coin", sensitivity_beta=(0.0, 1.0))


def test_two_coin_aggregators_beat_one_coin_on_an_asymmetric_crowd() -> None:
    cfg = SimulationConfig(
        population=PopulationSetting(n_inputs=3000, base_rate=(0.02, 0.05)),
        crowd=CrowdSetting(rater_errors="two-coin", n_workers=40),
        n_pairs=20,
        pairs_per_study=20,
        draws=(200,),
        raters=(3,),
        samplers=("mg-is",),
        aggregators=("ds-model", "two-coin", "ds-act", "two-coin-act"),
    )
    res = run_simulation(cfg, np.random.default_rng(0))
    rce = {a: float(res.rce[0, i, 0, 0]) for i, a in enumerate(cfg.aggregators)}
    assert rce["two-coin"] < rce["ds-model"]
    assert rce["two-coin-act"] < rce["ds-act"]


def test_simulate_cli_takes_an_asymmetric_crowd(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    args = ["simulate", "--pairs", "6", "--inputs", "1000", "--draws", "50", "--raters", "3"]
    res = runner.invoke(
        app,
        [
            *args,
            "--rater-errors",
            "two-coin",
            "--sensitivity",
            "5:5",
            "--specificity",
            "20:1",
            "--aggregators",
            "majority,two-coin,two-coin-act",
            "--json",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "two-coin-act" in res.output
    assert "mg-is+two-coin" in json.loads(out.read_text())["strategies"]
    bad = runner.invoke(app, [*args, "--rater-errors", "two-coin", "--sensitivity", "5"])
    assert bad.exit_code == 2 and "--sensitivity must be A:B" in bad.output
