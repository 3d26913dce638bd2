"""`turkops activations ...` and `study create --activations-from-model` through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.activations.conftest import MakeInputs
from turkops.cli import app

runner = CliRunner()


@pytest.mark.torch
def test_study_create_with_activations_from_model(
        timm_vit_weights: Path, study_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(tmp_path / "data"))
    base = ["study", "create", "fromvit", "--inputs", str(study_files["inputs"]),
            "--explanations", str(study_files["explanations"])]
    spec = f"timm:test_vit,weights={timm_vit_weights},layer=blocks.1,token=mean,neurons=0:4"
    created = runner.invoke(app, [*base, "--activations-from-model", spec])
    assert created.exit_code == 0, created.output
    assert "extracted 30 x 4 activations from timm:test_vit blocks.1" in created.output
    assert "created study fromvit" in created.output
    acts = np.load(tmp_path / "data" / "activations" / "fromvit.npy")
    assert acts.shape == (30, 4) and np.isfinite(acts).all()
    shown = runner.invoke(app, ["study", "show", "fromvit"])
    assert shown.exit_code == 0 and "inputs" in shown.output

    neither = runner.invoke(app, base)
    assert neither.exit_code == 2
    assert neither.output.strip() == ("error: give either --activations or "
                                      "--activations-from-model")
    bad = runner.invoke(app, [*base[:2], "other", *base[3:], "--activations-from-model",
                              "timm:test_vit,layer=blocks.1"])
    assert bad.exit_code == 2
    assert bad.output.strip().startswith("error: --activations-from-model needs weights=...")


@pytest.mark.torch
def test_extract_errors_are_one_line_and_layers_lists_names(
        timm_vit_weights: Path, make_inputs: MakeInputs, tmp_path: Path) -> None:
    csv = make_inputs(2)
    args = ["activations", "extract", "--model", "timm:test_vit", "--weights",
            str(timm_vit_weights), "--inputs", str(csv), "--out", str(tmp_path / "a.npy"),
            "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, [*args, "--layer", "block.1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: timm:test_vit has no layer 'block.1'")
    assert "close matches: blocks.1" in lines[0]
    result = runner.invoke(app, [*args[:5], "DEFAULT", *args[6:], "--layer", "blocks.1"])
    assert result.exit_code == 2 and "never downloads weights" in result.output
    result = runner.invoke(app, [*args, "--layer", "blocks.1", "--neurons", "a:b"])
    assert result.exit_code == 2 and "expected START:STOP" in result.output
    listed = runner.invoke(app, ["activations", "layers", "--model", "timm:test_vit",
                                 "--contains", "blocks.1."])
    assert listed.exit_code == 0
    assert "blocks.1.attn  Attention" in listed.output and "blocks.2" not in listed.output


def test_the_activations_cli_does_not_import_torch() -> None:
    code = ("import sys, turkops.cli, turkops.cli.activations, turkops.activations, "
            "turkops.activations.spec, turkops.concepts.distributed; "
            "from turkops.cli import app; "
            "bad = [m for m in ('torch', 'open_clip', 'torchvision', 'timm') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
