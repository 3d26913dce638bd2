"""Issue 10 item 13: replacing concept probabilities of a study with ratings needs --force, is
in the event log, and collect's JSON and the report name the probabilities' source."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from turkops.arrays import sha256_file
from turkops.cli import app
from turkops.concepts.calibration import Calibration, CalibrationKind
from turkops.concepts.files import ScoresFile, write_scores
from turkops.db.models import Event
from turkops.report.html import build_report
from turkops.services.collect import CollectOptions, collect_study
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.wiring import Runtime


def _rated(rt: Runtime, name: str) -> None:
    launch_study(rt, name, LaunchOptions(raters=2))
    deadline = time.monotonic() + 30
    while not poll_study(rt, name).complete:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_import_on_a_rated_study_needs_force_and_is_named(
    mrt: Runtime, sampled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rated(mrt, sampled)
    options = CollectOptions(n_boot=20)
    before = collect_study(mrt, sampled, options)
    assert before.concept_scores is not None
    assert before.concept_scores["description"].startswith("imported from ")
    new = tmp_path / "rescored.npz"
    rng = np.random.default_rng(5)
    write_scores(
        new,
        ScoresFile(
            input_ids=tuple(f"in{i}" for i in range(30)),
            concepts=("red", "dog", "cat"),
            probs=rng.uniform(size=(30, 3)).astype(np.float32),
            cosine=None,
            calibration=Calibration(CalibrationKind.USER, 10.0, -0.1, "given on the command line"),
            model="tiny-model webli 0123456789abcdef fp32",
        ),
    )
    monkeypatch.setenv("TURKOPS_DATABASE_URL", mrt.settings.database_url)
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(mrt.settings.data_dir))
    refused = CliRunner().invoke(app, ["concepts", "import", sampled, "--scores", str(new)])
    assert refused.exit_code == 2, refused.output
    assert "already has" in refused.output and "--force" in refused.output
    assert len(refused.output.strip().splitlines()) == 1, refused.output
    unchanged = collect_study(mrt, sampled, options)
    assert unchanged.to_json() == before.to_json()

    forced = CliRunner().invoke(
        app, ["concepts", "import", sampled, "--scores", str(new), "--force"]
    )
    assert forced.exit_code == 0, forced.output
    with mrt.transaction() as repo:
        events = repo.session.scalars(
            select(Event).where(Event.kind == "concepts.replaced_after_ratings")
        ).all()
    assert len(events) == 1 and events[0].detail["sha256"] == sha256_file(new)
    after = collect_study(mrt, sampled, options)
    source = after.concept_scores
    assert source is not None
    text = str(source["description"])
    assert text.startswith(f"imported from {new.resolve()} sha256 {sha256_file(new)[:16]}")
    assert "tiny-model webli" in text and "calibration user a=10.0 b=-0.1" in text
    assert json.loads(json.dumps(after.to_json()))["concept_scores"]["sha256"] == sha256_file(new)
    html = build_report(mrt, sampled, options)
    assert "concept probabilities: imported from" in html and sha256_file(new)[:16] in html
