"""`turkops concepts score/import/auto-eval` on a study, with the tiny offline model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.concepts.conftest import TINY_NAME
from turkops.cli import app
from turkops.domain import InputError, SamplingStrategy
from turkops.services.concepts import auto_evaluate, import_scores, pearson
from turkops.services.sampling import sample_study
from turkops.services.studies import create_study, load_activations, load_concept_scores
from turkops.wiring import Runtime


@pytest.fixture
def plain_study(rt: Runtime, study_files: dict[str, Path]) -> str:
    create_study(rt, "plain", study_files["inputs"], study_files["activations"],
                 study_files["explanations"])
    return "plain"


def test_score_study_stores_probs_and_hits_the_cache(
    rt: Runtime, plain_study: str, tiny_config: Path, tiny_checkpoints: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", rt.settings.database_url)
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(rt.settings.data_dir))
    args = ["concepts", "score", plain_study, "--model", TINY_NAME, "--pretrained",
            str(tiny_checkpoints["safetensors"]), "--model-config", str(tiny_config),
            "--device", "cpu", "--batch-size", "8", "--workers", "0"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "encoded 30, from cache 0" in first.output
    with rt.transaction() as repo:
        study = repo.study(plain_study)
        scores = load_concept_scores(repo, study)
        meta = repo.array_file(study.id, "concept_probs").meta  # type: ignore[union-attr]
    assert scores is not None and scores.probs.shape == (30, 3)
    assert set(scores.concepts) == {"red", "dog", "cat"}
    assert ((scores.probs >= 0) & (scores.probs <= 1)).all()
    assert meta["model"] == TINY_NAME and meta["calibration"]["kind"] == "model"
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "encoded 0, from cache 30" in second.output
    # The study can now be sampled model-guided.
    summary = sample_study(rt, plain_study, 10, SamplingStrategy.MG_IS, seed=1)
    assert summary.pairs == 4


def test_mg_is_without_scores_says_what_to_do(rt: Runtime, plain_study: str) -> None:
    with pytest.raises(InputError, match="no concept probabilities, so mg-is cannot be used"):
        sample_study(rt, plain_study, 10, SamplingStrategy.MG_IS)
    assert sample_study(rt, plain_study, 10, SamplingStrategy.AG_IS).pairs == 4


def test_import_and_auto_eval(rt: Runtime, plain_study: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no concept probabilities"):
        auto_evaluate(rt, plain_study)
    rng = np.random.default_rng(0)
    probs = rng.uniform(size=(30, 2))
    np.savez(tmp_path / "partial.npz", concepts=np.array(["red", "dog"]), probs=probs)
    with pytest.raises(InputError, match="no column for concept 'cat'"):
        import_scores(rt, plain_study, tmp_path / "partial.npz")
    full = rng.uniform(size=(30, 3))
    np.savez(tmp_path / "full.npz", concepts=np.array(["red", "dog", "cat"]), probs=full)
    assert import_scores(rt, plain_study, tmp_path / "full.npz") == 3
    scores, methods = auto_evaluate(rt, plain_study)
    with rt.transaction() as repo:
        acts = load_activations(repo, repo.study(plain_study)).astype(np.float64)
    expected = np.corrcoef(acts[:, 0], full[:, 0].astype(np.float32))[0, 1]
    red0 = next(s for s in scores if s.neuron == 0 and s.concept == "red")
    assert red0.correlation == pytest.approx(expected, abs=1e-6)
    assert {m.method for m in methods} == {"A", "B"}
    assert pearson(np.ones(5), np.arange(5.0)) is None
