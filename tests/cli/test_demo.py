"""`turkops demo`, the README's main job, runs end to end and ranks the methods correctly."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from turkops.cli import app
from turkops.demo.pipeline import METHODS, DemoConfig, run_demo


def test_demo_ranks_the_correct_method_first(tmp_path: Path) -> None:
    result = run_demo(DemoConfig(workdir=tmp_path / "demo", seed=0))
    ranking = [m.method for m in sorted(result.collect.methods, key=lambda m: m.rank)]
    truth_order = sorted(METHODS, key=lambda m: -result.true_method_means[m])
    assert ranking == truth_order == ["correlation-probe", "top-shape", "random"]
    assert result.report_path.is_file() and result.report_path.stat().st_size > 10_000
    assert result.collect.completeness["share"] == 1.0
    assert result.seconds < 120


def test_demo_cli_prints_ranking(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "d"), "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert "true mean corr" in res.output and "report:" in res.output
    assert (tmp_path / "d" / "report.html").is_file()
