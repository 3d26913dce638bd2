"""`turkops aggregate`: file errors, outputs, the same labels as collect, real-crowd targets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from turkops.cli import app
from turkops.domain import Aggregation

CROWD = Path(__file__).parents[1] / "data" / "crowd"
runner = CliRunner()


def _write(path: Path, header: str, rows: list[tuple[object, ...]]) -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def crowd_csv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """The repo's real crowds rewritten as turkops aggregate's long format (labels 0/1)."""
    tmp = tmp_path_factory.mktemp("crowd")
    rte = np.loadtxt(CROWD / "rte.txt", dtype=int)
    rte_gold = np.loadtxt(CROWD / "rte_truth.txt", dtype=int)
    out = {
        "rte": (
            _write(tmp / "rte.csv", "item,worker,label", [(i, w, v - 1) for i, w, v in rte]),
            _write(tmp / "rte_gold.csv", "item,label", [(i, v - 1) for i, v in rte_gold]),
        )
    }
    with open(CROWD / "bluebirds_answer.csv") as f:
        bb = [(r["question"], r["worker"], r["answer"]) for r in csv.DictReader(f)]
    with open(CROWD / "bluebirds_truth.csv") as f:
        bb_gold = [(r["question"], r["truth"]) for r in csv.DictReader(f)]
    out["bluebirds"] = (
        _write(tmp / "bb.csv", "item,worker,label", bb),
        _write(tmp / "bb_gold.csv", "item,label", bb_gold),
    )
    return out


def _pearson(ratings: Path, gold: Path, method: str, *extra: str) -> float:
    result = runner.invoke(
        app,
        [
            "aggregate",
            str(ratings),
            "--method",
            method,
            "--beta",
            "0.5",
            "--gold",
            str(gold),
            "--out",
            "/dev/null",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    line = result.stderr if hasattr(result, "stderr") else result.output
    return float(line.split("Pearson ")[1].split(",")[0])


def _subsampled(ratings: Path, gold: Path, method: str) -> float:
    """Mean Pearson over 5 subsamples of 3 ratings per item (seeds 0-4)."""
    return float(
        np.mean(
            [_pearson(ratings, gold, method, "--per-item", "3", "--seed", str(s)) for s in range(5)]
        )
    )


# Reference figures (tests/data/crowd/README.md): the best of majority, mean, one-coin and
# two-coin Dawid-Skene and GLAD per column. Two-coin reaches three of the four; RTE full
# (GLAD's 0.878) it misses with 0.867, which the test pins so a regression shows.
def test_two_coin_reaches_the_reference_on_bluebirds_full_and_subsampled(crowd_csv) -> None:
    ratings, gold = crowd_csv["bluebirds"]
    assert _pearson(ratings, gold, "two-coin") >= 0.786
    assert _subsampled(ratings, gold, "two-coin") >= 0.458


def test_two_coin_on_rte_full_and_subsampled(crowd_csv) -> None:
    ratings, gold = crowd_csv["rte"]
    full = _pearson(ratings, gold, "two-coin")
    assert full >= 0.866  # one-coin's reference; GLAD's 0.878 is not reached (docs)
    assert _subsampled(ratings, gold, "two-coin") >= 0.741


@pytest.mark.parametrize("name", ["rte", "bluebirds"])
def test_two_coin_beats_every_other_aggregator_on_the_same_subsamples(crowd_csv, name) -> None:
    ratings, gold = crowd_csv[name]
    two = _subsampled(ratings, gold, "two-coin")
    for other in ("majority", "mean", "bragg-uniform", "dawid-skene"):
        assert two > _subsampled(ratings, gold, other), other


def test_majority_reproduces_the_reference(crowd_csv) -> None:
    ratings, gold = crowd_csv["rte"]
    assert _pearson(ratings, gold, "majority") == pytest.approx(0.838, abs=5e-4)


def test_outputs_and_worker_estimates(tmp_path: Path) -> None:
    ratings = _write(
        tmp_path / "r.csv",
        "item,worker,label",
        [("a", "w1", 1), ("a", "w2", 1), ("b", "w1", 0), ("b", "w2", 0), ("c", "w1", 1)],
    )
    out, workers = tmp_path / "out.csv", tmp_path / "w.csv"
    result = runner.invoke(
        app, ["aggregate", str(ratings), "--out", str(out), "--workers-out", str(workers)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["item"] for r in rows] == ["a", "b", "c"]
    post = {r["item"]: float(r["posterior"]) for r in rows}
    assert post["a"] > post["c"] > post["b"]
    w = list(csv.DictReader(workers.open()))
    assert [r["worker"] for r in w] == ["w1", "w2"]
    assert set(w[0]) == {"worker", "ratings", "sensitivity", "specificity", "agreement"}
    assert 0 < float(w[0]["sensitivity"]) < 1 and w[0]["ratings"] == "3"


# ma-act is a correlation estimator, not a label aggregator: rejected by `aggregate`
# (tests/services/test_collect_ma_act.py).
@pytest.mark.parametrize("method", [a.value for a in Aggregation if a != Aggregation.MA_ACT])
def test_every_aggregator_runs_with_priors_and_activations(tmp_path: Path, method: str) -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(60) < 0.3
    rows = [
        (f"i{i}", f"w{(i + r) % 7}", int(truth[i] if rng.random() > 0.2 else not truth[i]))
        for i in range(60)
        for r in range(3)
    ]
    ratings = _write(tmp_path / "r.csv", "item,worker,label", rows)
    priors = _write(
        tmp_path / "p.csv",
        "item,prior,activation,group",
        [
            (f"i{i}", 0.6 if truth[i] else 0.2, float(truth[i]) + rng.normal(), i % 2)
            for i in range(60)
        ],
    )
    result = runner.invoke(
        app,
        [
            "aggregate",
            str(ratings),
            "--method",
            method,
            "--prior",
            str(priors),
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    post = np.array([float(r["posterior"]) for r in csv.DictReader((tmp_path / "o.csv").open())])
    assert post.shape == (60,) and np.all((post >= 0) & (post <= 1))
    assert np.corrcoef(post, truth)[0, 1] > 0.5


@pytest.mark.parametrize(
    ("ratings", "priors", "args", "message"),
    [
        ("item,worker\na,w\n", None, [], "missing column(s) label"),
        ("item,worker,label\na,w,2\n", None, [], "line 2: label must be 0 or 1"),
        ("item,worker,label\na,w,yes\n", None, [], "label must be 0 or 1"),
        ("item,worker,label\na,w,1\n", "item,prior\na,1.5\n", [], "prior must lie in [0, 1]"),
        ("item,worker,label\na,w,1\n", "item,prior\na,0.5\nzz,0.5\n", [], "not in the ratings"),
        ("item,worker,label\na,w,1\nb,w,0\n", "item,prior\na,0.5\n", [], "no prior for 1"),
        ("item,worker,label\na,w,1\n", None, ["--method", "bragg-model"], "needs concept"),
        (
            "item,worker,label\na,w,1\n",
            "item,prior\na,0.5\n",
            ["--method", "ds-act"],
            "needs each item's activation",
        ),
        ("item,worker,label\n", None, [], "no data rows"),
    ],
)
def test_bad_files_give_one_line_errors(
    tmp_path: Path, ratings: str, priors: str | None, args: list[str], message: str
) -> None:
    path = tmp_path / "r.csv"
    path.write_text(ratings)
    extra = list(args)
    if priors is not None:
        (tmp_path / "p.csv").write_text(priors)
        extra += ["--prior", str(tmp_path / "p.csv")]
    result = runner.invoke(app, ["aggregate", str(path), *extra])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["aggregate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "file not found" in result.output


# two-coin-mix (the candidate label model) against every anchor implemented here and the
# README's crowd-kit figures, on the full crowds and on 3 and 5 ratings per item (seeds 0-4).
ANCHORS = ("majority", "dawid-skene", "two-coin", "glad", "mace")
REFERENCE = {  # best crowd-kit figure per column (tests/data/crowd/README.md)
    ("rte", None): 0.878,
    ("rte", 3): 0.741,
    ("bluebirds", None): 0.786,
    ("bluebirds", 3): 0.458,
}
# Measured shortfall (docs/statistics.md, "Real crowds"): on RTE full the candidate does not
# beat our GLAD (0.879 vs 0.882); there it is held to every other anchor, crowd-kit's GLAD
# figure (0.878), and to within the measured gap of ours.
SHORT = {("rte", None): ("glad", 0.005)}


@pytest.fixture(scope="module")
def figures(crowd_csv) -> dict[tuple[str, int | None, str], float]:
    out = {}
    for name, (ratings, gold) in crowd_csv.items():
        for method in (*ANCHORS, "two-coin-mix"):
            out[name, None, method] = _pearson(ratings, gold, method)
            for k in (3, 5):
                out[name, k, method] = float(
                    np.mean(
                        [
                            _pearson(ratings, gold, method, "--per-item", str(k), "--seed", str(s))
                            for s in range(5)
                        ]
                    )
                )
    return out


@pytest.mark.parametrize(
    ("name", "per_item"), [(n, k) for n in ("rte", "bluebirds") for k in (None, 3, 5)]
)
def test_two_coin_mix_is_at_least_every_anchor(figures, name: str, per_item: int | None) -> None:
    mix = figures[name, per_item, "two-coin-mix"]
    short_of, gap = SHORT.get((name, per_item), (None, 0.0))
    for anchor in ANCHORS:
        allowed = gap if anchor == short_of else 0.0
        assert mix >= figures[name, per_item, anchor] - allowed, anchor
    assert mix >= REFERENCE.get((name, per_item), 0.0)


def test_glad_and_mace_match_the_reference_where_it_has_them(figures) -> None:
    # crowd-kit's GLAD: 0.878 (RTE), 0.541 (BlueBirds); ours within 0.01.
    assert figures["rte", None, "glad"] == pytest.approx(0.878, abs=0.01)
    assert figures["bluebirds", None, "glad"] == pytest.approx(0.541, abs=0.01)
    # MACE, like two-coin, models asymmetric answers: far above one-coin on BlueBirds.
    assert figures["bluebirds", None, "mace"] > figures["bluebirds", None, "dawid-skene"] + 0.1


def test_the_default_method_is_the_best_real_crowd_label_model(crowd_csv) -> None:
    ratings, gold = crowd_csv["bluebirds"]
    res = runner.invoke(
        app, ["aggregate", str(ratings), "--beta", "0.5", "--gold", str(gold), "--out", "/dev/null"]
    )
    assert res.exit_code == 0, res.output
    said = res.stderr if hasattr(res, "stderr") else res.output
    default = float(said.split("Pearson ")[1].split(",")[0])
    assert default == _pearson(ratings, gold, "two-coin-mix")
