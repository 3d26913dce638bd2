"""collect through the database: known answers, JSON schema, partial and degenerate studies."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.market_fixtures import CONCEPTS, truth_for
from turkops.cli import app
from turkops.db.models import Assignment
from turkops.domain import DEFAULT_AGGREGATION, Aggregation, InputError
from turkops.marketplace import MarketplaceConfig, RunningMarketplace, start_marketplace
from turkops.services.collect import CollectOptions, collect_study
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.services.ratings import load_ratings
from turkops.services.status import expire_study
from turkops.services.studies import load_activations
from turkops.stats.correlation import weighted_correlation
from turkops.stats.sampling import importance_weights
from turkops.wiring import Runtime


def run_to_completion(rt: Runtime, name: str, raters: int = 3) -> None:
    launch_study(rt, name, LaunchOptions(raters=raters))
    deadline = time.monotonic() + 30
    while not poll_study(rt, name).complete:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_error_free_raters_give_the_truth_estimate(mrt: Runtime, sampled: str) -> None:
    """With perfect raters, majority labels are the truth: collect must equal a direct
    computation of the weighted estimator from the stored sample and the true labels."""
    run_to_completion(mrt, sampled)
    result = collect_study(
        mrt, sampled, CollectOptions(aggregations=(Aggregation.MAJORITY,), n_boot=200)
    )
    truth = truth_for(30)
    with mrt.transaction() as repo:
        study = repo.study(sampled)
        pairs, table = load_ratings(repo, study.id)
        acts = load_activations(repo, study).astype(np.float64)
        images = [i.image for i in repo.inputs(study.id)]
    assert set(table.values.tolist()) <= {0, 1} and table.values.size > 0
    by_pair = {(p.neuron, p.concept): p for p in pairs}
    checked = 0
    for rec in result.pairs:
        p = by_pair[(rec.neuron, rec.concept)]
        labels = np.array([float(truth[(images[r], p.concept)]) for r in p.rows])
        column = acts[:, p.neuron]
        a_z = (column[p.rows] - column.mean()) / column.std()
        direct = weighted_correlation(a_z, labels, importance_weights(p.q, 30), p.counts)
        if direct.degenerate:
            assert rec.correlation is None and rec.note
            continue
        assert rec.correlation == pytest.approx(direct.rho, abs=1e-9)
        assert rec.ci_low is not None and rec.ci_high is not None
        assert rec.ci_low <= rec.correlation <= rec.ci_high
        assert rec.n_ratings == 3 * rec.n_images and rec.n_draws == 20
        checked += 1
    assert checked >= 3
    assert result.fleiss_kappa == pytest.approx(1.0)  # perfect raters agree perfectly
    assert all(w.agreement == pytest.approx(1.0) for w in result.workers)
    methods = {m.method: m for m in result.methods}
    assert set(methods) == {"A", "B"} and methods["A"].n_neurons == 3
    with mrt.transaction() as repo:
        n_assignments = repo.session.scalar(select(func.count(Assignment.id)))
    assert result.money_spent == Decimal("0.06") * n_assignments  # $0.05 + $0.01 fee each


def test_json_schema_via_cli(
    mrt: Runtime, sampled: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run_to_completion(mrt, sampled)
    monkeypatch.setenv("TURKOPS_DATABASE_URL", mrt.settings.database_url)
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(mrt.settings.data_dir))
    out = tmp_path / "scores.json"
    res = CliRunner().invoke(
        app,
        [
            "collect",
            sampled,
            "--format",
            "json",
            "--out",
            str(out),
            "--aggregation",
            "all",
            "--eta",
            "auto",
            "--bootstrap",
            "50",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["schema_version"] == 1 and data["study"] == sampled
    assert set(data["aggregations"]) == {a.value for a in Aggregation}
    assert data["eta_source"].startswith("EM under")
    # Each eta-using aggregation reports the eta it used (fitted under its own prior).
    assert set(data["etas"]) == {"bragg-model", "bragg-uniform"}
    assert data["eta"] in data["etas"].values()
    for rec in data["pairs"]:
        for key, kind in [
            ("neuron", int),
            ("method", str),
            ("concept", str),
            ("n_images", int),
            ("n_ratings", int),
        ]:
            assert isinstance(rec[key], kind), key
        for key in ("correlation", "ci_low", "ci_high"):
            assert rec[key] is None or isinstance(rec[key], float)
    for m in data["methods"]:
        assert {"method", "mean", "sem", "n_neurons"} <= set(m)
    csv_res = CliRunner().invoke(app, ["collect", sampled, "--format", "csv", "--bootstrap", "20"])
    assert csv_res.exit_code == 0 and csv_res.output.startswith("aggregation,neuron,method")
    # A folder that does not exist: one line, not a traceback.
    args = ["collect", sampled, "--format", "csv", "--bootstrap", "20", "--out"]
    bad = CliRunner().invoke(app, [*args, str(tmp_path / "no" / "r.csv")])
    assert bad.exit_code == 2 and "cannot write" in bad.output, bad.output
    assert "Traceback" not in bad.output and len(bad.output.strip().splitlines()) == 1
    table = CliRunner().invoke(app, ["collect", sampled, "--bootstrap", "20"])
    assert table.exit_code == 0 and f"methods ({DEFAULT_AGGREGATION})" in table.output


def test_no_ratings_is_a_clear_error(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    market.pause_workers()
    launch_study(mrt, sampled, LaunchOptions(raters=3))
    poll_study(mrt, sampled)
    with pytest.raises(InputError, match="has no ratings yet"):
        collect_study(mrt, sampled, CollectOptions())


def _market_runtime(mrt: Runtime, market: RunningMarketplace) -> Runtime:
    mrt.settings = mrt.settings.model_copy(update={"local_url": market.url})
    mrt.use_gateway(None)
    return mrt


def test_degenerate_pairs_are_null_not_nan(mrt: Runtime, sampled: str, tmp_path: Path) -> None:
    """Raters who never tick anything: every aggregated label of a pair is equal."""
    never = {k: False for k in truth_for(30)}
    config = MarketplaceConfig(
        db_path=tmp_path / "never.sqlite", error_rate=0.0, spammer_share=0.0, truth=never, seed=2
    )
    with start_marketplace(config) as m:
        run_to_completion(_market_runtime(mrt, m), sampled, raters=1)
        result = collect_study(
            mrt, sampled, CollectOptions(aggregations=(Aggregation.MAJORITY,), n_boot=50)
        )
    assert all(p.correlation is None and p.note and "equal" in p.note for p in result.pairs)
    assert all(m.mean is None for m in result.methods)
    assert json.dumps(result.to_json(), allow_nan=False)


def test_partial_study_is_reported(mrt: Runtime, sampled: str, tmp_path: Path) -> None:
    config = MarketplaceConfig(
        db_path=tmp_path / "slow.sqlite",
        error_rate=0.0,
        spammer_share=0.0,
        truth=truth_for(30),
        seed=3,
        pace_seconds=3.0,
    )
    with start_marketplace(config) as m:
        rt = _market_runtime(mrt, m)
        launch_study(rt, sampled, LaunchOptions(raters=1))
        deadline = time.monotonic() + 20
        while (
            m.ctx.store.query("SELECT COUNT(*) FROM assignments WHERE status='Submitted'")[0][0] < 1
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        expire_study(rt, sampled)
        poll_study(rt, sampled)
        result = collect_study(rt, sampled, CollectOptions(n_boot=50))
    rated, shown = result.completeness["images_rated"], result.completeness["images_sampled"]
    assert 0 < rated < shown
    assert any("partial study" in w for w in result.warnings)
    assert any(p.note == "no ratings yet" for p in result.pairs) or rated < shown


def test_one_neuron_method_has_no_sem(mrt: Runtime, tmp_path: Path) -> None:
    from tests.conftest import write_study_files
    from turkops.domain import SamplingStrategy
    from turkops.services.sampling import sample_study
    from turkops.services.studies import create_study

    files = write_study_files(tmp_path / "one", explanations="neuron,method,concept\n0,A,red\n")
    create_study(
        mrt, "one", files["inputs"], files["activations"], files["explanations"], files["scores"]
    )
    sample_study(mrt, "one", 20, SamplingStrategy.UNIFORM, seed=1)
    run_to_completion(mrt, "one")
    result = collect_study(mrt, "one", CollectOptions(n_boot=50))
    (m,) = result.methods
    assert m.n_neurons in (0, 1) and m.sem is None
    assert CONCEPTS[0] == "red"


def test_method_ranking_carries_per_pair_error_and_holm() -> None:
    import numpy as np

    from turkops.services.collect import rank_methods

    rng = np.random.default_rng(0)
    scores = {
        m: {n: 0.3 - shift + 0.03 * rng.standard_normal() for n in range(12)}
        for m, shift in (("A", 0.0), ("B", 0.1), ("C", 0.12))
    }
    tight = {m: {n: 0.01 for n in per} for m, per in scores.items()}
    loose = {m: {n: 0.3 for n in per} for m, per in scores.items()}
    out_tight = {s.method: s for s in rank_methods("x", scores, set(scores), tight)}
    out_loose = {s.method: s for s in rank_methods("x", scores, set(scores), loose)}
    assert out_tight["A"].rank == 1 and out_tight["A"].p_holm is None
    for m in ("B", "C"):
        t, lo = out_tight[m], out_loose[m]
        assert t.p_holm is not None and t.p_vs_best is not None and t.p_holm >= t.p_vs_best
        assert t.diff_low is not None and t.diff_high is not None
        assert t.diff_low <= t.diff_vs_best <= t.diff_high
        # Pairs measured to ±0.3 leave the difference uncertain; to ±0.01 they do not.
        assert t.p_holm < 0.001 and lo.p_holm is not None and lo.p_holm > t.p_holm
        assert lo.diff_high - lo.diff_low > t.diff_high - t.diff_low
    for s in out_tight.values():
        assert s.ci_low is not None and s.ci_low <= s.mean <= s.ci_high
