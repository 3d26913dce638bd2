"""The CLI on Prolific: launch --dry-run prices, a whole launch/poll/status, token hygiene."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from tests.conftest import write_study_files
from tests.prolific.conftest import TOKEN
from turkops.cli import app
from turkops.prolific_sim import RunningSimulator

runner = CliRunner()


@pytest.fixture
def env(db_url: str, tmp_path: Path, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", db_url)
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TURKOPS_PROVIDER", "prolific")
    monkeypatch.setenv("TURKOPS_PROLIFIC_URL", sim.url)
    monkeypatch.setenv("TURKOPS_PROLIFIC_TOKEN", TOKEN)
    monkeypatch.setenv("TURKOPS_PROLIFIC_WORKSPACE", "ws1")
    files = write_study_files(tmp_path / "files")
    ok = runner.invoke(
        app,
        [
            "study", "create", "s",
            "--inputs", str(files["inputs"]),
            "--activations", str(files["activations"]),
            "--explanations", str(files["explanations"]),
            "--concept-scores", str(files["scores"]),
        ],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(app, ["sample", "s", "--per-pair", "20", "--strategy", "uniform"])
    assert ok.exit_code == 0, ok.output
    return db_url


def test_dry_run_prints_places_reward_fee_total(env: str, sim: RunningSimulator) -> None:
    result = runner.invoke(
        app, ["launch", "s", "--dry-run", "--raters", "3", "--tasks-per-session", "4"]
    )
    assert result.exit_code == 0, result.output
    for word in ("places", "reward", "fee", "total", "dry run"):
        assert word in result.output
    assert "$12.00/h" in result.output and "33.3%" in result.output
    assert not sim.state.studies
    # The launch names where it publishes: Prolific's API (here the simulator), not MTurk's.
    first = result.output.splitlines()[0]
    assert first.startswith("endpoint: Prolific API at " + sim.url), first
    assert "marketplace" not in first


def test_below_minimum_rate_is_one_line(env: str) -> None:
    result = runner.invoke(app, ["launch", "s", "--hourly-rate", "6"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "minimum" in errors[0] and "Traceback" not in result.output


def test_token_never_appears_in_output_logs_or_database(
    env: str,
    sim: RunningSimulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs = []
    for args in (
        ["-v", "launch", "s", "--tasks-per-session", "4"],
        ["-v", "poll", "s"],
        ["-v", "status", "s"],
        ["-v", "expire", "s"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code in (0, 10), result.output
        outputs.append(result.output)
    assert any("published Prolific study" in o for o in outputs)
    ref = next(iter(sim.state.studies))
    assert f"prolific {ref}" in outputs[2]  # status names the provider and its study
    monkeypatch.setenv("TURKOPS_PROLIFIC_TOKEN", "wrong" + TOKEN)
    monkeypatch.setenv("TURKOPS_PROVIDER", "prolific")
    bad = runner.invoke(app, ["-v", "poll", "s"])
    assert bad.exit_code == 2 and "TURKOPS_PROLIFIC_TOKEN" in bad.output
    outputs.append(bad.output)
    for shown in [*outputs, caplog.text]:
        assert TOKEN not in shown
    engine = create_engine(env)
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert TOKEN not in str(row), table
    engine.dispose()


def test_marketplace_serve_prolific_runs_the_simulator(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    import httpx

    env = {**os.environ, "TURKOPS_PROLIFIC_TOKEN": TOKEN, "PYTHONPATH": str(Path.cwd())}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen(
        [sys.executable, "-m", "turkops", "marketplace", "serve", "--provider", "prolific",
         "--port", "0", "--workers", "3", "--fault-429-every", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first
        url = first.split("listening on ")[1].strip()
        headers = {"Authorization": f"Token {TOKEN}"}
        ok = httpx.get(f"{url}/api/v1/studies/", headers=headers)
        assert ok.status_code == 200 and ok.json()["results"] == []
        denied = httpx.get(f"{url}/api/v1/studies/", headers={"Authorization": "Token x"})
        assert denied.status_code == 401 and denied.json()["error"]["status"] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "simulator stopped" in out and TOKEN not in first + out


def test_marketplace_serve_prolific_needs_a_token() -> None:
    result = runner.invoke(app, ["marketplace", "serve", "--provider", "prolific"])
    assert result.exit_code == 2 and "TURKOPS_PROLIFIC_TOKEN" in result.output


def test_a_dry_run_needs_no_token_but_a_launch_does(
    env: str, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TURKOPS_PROLIFIC_TOKEN")
    dry = runner.invoke(app, ["launch", "s", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    real = runner.invoke(app, ["launch", "s"])
    assert real.exit_code == 2 and "TURKOPS_PROLIFIC_TOKEN is not set" in real.output
    assert not sim.state.studies
