"""Secrets never leak; untrusted text is escaped everywhere it is rendered."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import write_study_files
from turkops.cli import app
from turkops.db.models import Assignment, Event, Hit
from turkops.marketplace import (
    FaultConfig,
    MarketplaceConfig,
    RunningMarketplace,
    start_marketplace,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY42"
EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def test_credentials_never_appear(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    market: RunningMarketplace,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full study with real-looking credentials in the environment (explicit-URL endpoint,
    so boto3's normal chain signs every request), verbose logging and a failing call: the
    secret is nowhere in output, logs, events, answers or the report."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("TURKOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'sec.sqlite'}")
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TURKOPS_ENDPOINT", market.url)
    monkeypatch.setenv("TURKOPS_API_MAX_ATTEMPTS", "2")
    files = write_study_files(
        tmp_path / "f",
        explanations=f"neuron,method,concept\n0,A,red\n1,B,{EVIL}\n",
        concepts=("red", EVIL),
    )
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str) -> int:
        res = runner.invoke(app, ["--verbose", *args])
        outputs.append(res.output + (str(res.exception) if res.exception else ""))
        return res.exit_code

    assert (
        run(
            "study",
            "create",
            "sec",
            "--inputs",
            str(files["inputs"]),
            "--activations",
            str(files["activations"]),
            "--explanations",
            str(files["explanations"]),
            "--concept-scores",
            str(files["scores"]),
        )
        == 0
    )
    assert run("sample", "sec", "--per-pair", "15") == 0
    # Images are local files and the endpoint is not `local`: a clear refusal, no secret.
    assert run("launch", "sec") == 2
    assert run("launch", "sec", "--base-url", "https://images.example.org/probe") == 0
    deadline = time.monotonic() + 30
    while run("poll", "sec") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    market.set_faults(FaultConfig(service_fault_every_n=1))
    assert run("status", "sec") == 0
    market.set_faults(FaultConfig())
    report = tmp_path / "r.html"
    assert run("report", "sec", "--out", str(report), "--bootstrap", "50") == 0
    html = report.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    from turkops.config import Settings
    from turkops.wiring import open_runtime

    rt = open_runtime(Settings(_env_file=None))  # type: ignore[call-arg]
    with rt.transaction() as repo:
        stored = " ".join(
            [str(e.detail) for e in repo.session.scalars(select(Event)).all()]
            + [a.answer_raw for a in repo.session.scalars(select(Assignment)).all()]
        )
        hits = repo.session.scalars(select(Hit)).all()
    rt.close()
    assert hits and stored
    # The task page escaped the concept: simulated workers read it back as plain text.
    question = market.ctx.store.query("SELECT question FROM hits LIMIT 1")[0][0]
    assert "<script>alert" not in question
    everything = "\n".join(outputs) + caplog.text + stored + html
    assert SECRET not in everything
    assert SECRET[:20] not in everything


def test_marketplace_binds_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        MarketplaceConfig(host="0.0.0.0", db_path=tmp_path / "m.sqlite")
    with start_marketplace(MarketplaceConfig(db_path=tmp_path / "m.sqlite")) as m:
        assert m.url.startswith("http://127.0.0.1:")
