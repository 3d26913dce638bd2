"""`turkops concepts score-files` and `turkops concepts calibrate` through Typer's CliRunner."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from tests.concepts.conftest import TINY_NAME
from turkops.cli import app
from turkops.concepts.calibration import Calibration, CalibrationKind
from turkops.concepts.files import ScoresFile, read_calibration, read_scores, write_scores

runner = CliRunner()
Images = Callable[[int], list[tuple[str, Path]]]


def _inputs(tmp_path: Path, images: list[tuple[str, Path]]) -> tuple[Path, Path]:
    csv = tmp_path / "inputs.csv"
    rows = [f"in{i},{p.relative_to(tmp_path)}" for i, (_, p) in enumerate(images)]
    csv.write_text("input_id,image\n" + "\n".join(rows) + "\n")
    concepts = tmp_path / "concepts.txt"
    concepts.write_text("dog\n\nstriped shirt\ndog\nred car\n")
    return csv, concepts


def _score_args(csv: Path, concepts: Path, out: Path, tiny_config: Path, ckpt: Path,
                tmp_path: Path) -> list[str]:
    return ["concepts", "score-files", "--images", str(csv), "--concepts", str(concepts),
            "--out", str(out), "--model", TINY_NAME, "--pretrained", str(ckpt),
            "--model-config", str(tiny_config), "--device", "cpu", "--batch-size", "4",
            "--cache-dir", str(tmp_path / "cache")]


@pytest.mark.torch
def test_score_files_writes_npz_and_reuses_the_cache(
        tiny_config: Path, tiny_checkpoints: dict[str, Path], make_images: Images,
        tmp_path: Path) -> None:
    images = make_images(6)
    csv, concepts = _inputs(tmp_path, images)
    out = tmp_path / "scores.npz"
    args = _score_args(csv, concepts, out, tiny_config, tiny_checkpoints["safetensors"],
                       tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # The summary wraps at 80 columns wherever the temporary path's length puts the break.
    said = " ".join(result.output.split())
    assert "scored 6 images x 3 concepts" in said
    assert "encoded 6, cached 0" in said
    assert "img/s" in said and "calibration: model" in said
    scores = read_scores(out)
    assert scores.input_ids == tuple(f"in{i}" for i in range(6))
    assert scores.concepts == ("dog", "striped shirt", "red car")
    assert scores.probs.shape == (6, 3) and scores.cosine is not None
    assert np.all((scores.probs >= 0) & (scores.probs <= 1))
    assert scores.calibration is not None and scores.calibration.kind == "model"
    assert TINY_NAME in scores.model
    # Explicit constants, second run: images come from the cache.
    again = runner.invoke(app, [*args, "--calib-a", "40", "--calib-b", "-0.1"])
    assert again.exit_code == 0, again.output
    assert "encoded 0, cached 6" in " ".join(again.output.split())
    rescored = read_scores(out)
    assert rescored.calibration == Calibration(CalibrationKind.USER, 40.0, -0.1,
                                               "given on the command line")
    np.testing.assert_allclose(rescored.probs, expit(40 * (scores.cosine - 0.1)), atol=1e-6)


@pytest.mark.torch
def test_score_files_errors_are_one_line(
        tiny_config: Path, tiny_checkpoints: dict[str, Path], make_images: Images,
        tmp_path: Path) -> None:
    images = make_images(3)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG nope")
    csv, concepts = _inputs(tmp_path, [*images, ("x", broken)])
    out = tmp_path / "scores.npz"
    args = _score_args(csv, concepts, out, tiny_config, tiny_checkpoints["pt"], tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: cannot read image {broken}: ")
    assert result.output.strip().count("\n") == 0, result.output
    assert not out.exists()

    offline = runner.invoke(app, ["concepts", "score-files", "--images", str(csv), "--concepts",
                                  str(concepts), "--out", str(out), "--model",
                                  "ViT-L-16-SigLIP-384", "--pretrained", "webli"])
    assert offline.exit_code == 2
    assert offline.output.strip() == (
        "error: weights for ViT-L-16-SigLIP-384/webli are not available offline: pass a local "
        "checkpoint path with --pretrained /path/to/open_clip_model.safetensors or pre-populate "
        "the HF cache"
    )
    half = runner.invoke(app, [*args, "--calib-a", "40"])
    assert half.exit_code == 2 and "go together" in half.output


def _write_labelled_scores(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(11)
    cos = rng.normal(0.1, 0.05, size=(300, 4)).astype(np.float32)
    published = Calibration(CalibrationKind.PUBLISHED, 58.0, -0.13, "METHOD.md")
    ids = tuple(f"in{i}" for i in range(300))
    concepts = ("dog", "cat", "car", "tree")
    write_scores(tmp_path / "scores.npz", ScoresFile(ids, concepts, expit(58 * (cos - 0.13)),
                                                     cos, published, "ViT-SO400M-14-SigLIP-384"))
    truth = expit(40.0 * (cos - 0.08))
    labels = rng.random(cos.shape) < truth
    lines = ["input_id,concept,label"]
    for i in range(300):
        for j in range(4):
            lines.append(f"{ids[i]},{concepts[j]},{int(labels[i, j])}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "scores.npz", tmp_path / "labels.csv", cos


def test_calibrate_fits_and_writes_json(tmp_path: Path) -> None:
    scores, labels, _ = _write_labelled_scores(tmp_path)
    out = tmp_path / "calibration.json"
    result = runner.invoke(app, ["concepts", "calibrate", "--scores", str(scores), "--labels",
                                 str(labels), "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "fitted on 1200 labelled pairs" in said
    assert "BCE of the calibration in scores.npz (published A = 58, B = -0.13)" in said
    cal = read_calibration(out)
    assert cal.kind == "fitted" and cal.a == pytest.approx(40, rel=0.25)
    assert cal.b == pytest.approx(-0.08, abs=0.01)


def test_calibrate_rejects_unknown_rows(tmp_path: Path) -> None:
    scores, labels, _ = _write_labelled_scores(tmp_path)
    labels.write_text("input_id,concept,label\nin0,zebra,1\n")
    result = runner.invoke(app, ["concepts", "calibrate", "--scores", str(scores), "--labels",
                                 str(labels)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {labels}:2: concept 'zebra' is not in the scores"


def test_importing_turkops_and_its_cli_does_not_import_torch() -> None:
    code = ("import sys, turkops, turkops.cli, turkops.concepts, turkops.concepts.calibration, "
            "turkops.concepts.cache, turkops.concepts.files; "
            "bad = [m for m in ('torch', 'open_clip', 'torchvision') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
