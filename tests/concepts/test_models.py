"""Loading goes through the same function users call: a model name plus a checkpoint or tag."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from tests.concepts.conftest import TINY_NAME
from turkops.concepts.models import load_concept_model
from turkops.domain import ModelError, NotFoundError, TurkopsError

pytestmark = pytest.mark.torch


def _one_line(exc: pytest.ExceptionInfo[TurkopsError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 400, text
    return text


@pytest.mark.parametrize("kind", ["safetensors", "pt"])
def test_loads_local_checkpoint_with_the_saved_weights(kind: str,
                                                       tiny_checkpoints: dict[str, Path]) -> None:
    cm = load_concept_model(TINY_NAME, str(tiny_checkpoints[kind]), device="cpu")
    from safetensors.torch import load_file

    saved = load_file(str(tiny_checkpoints["safetensors"]))
    for name, value in cm.model.state_dict().items():
        torch.testing.assert_close(value, saved[name], rtol=0, atol=0)
    assert cm.device.type == "cpu" and cm.precision == "fp32"
    assert cm.cache_key.weights.startswith("sha256:") and cm.cache_key.model_name == TINY_NAME
    assert cm.logit_bias == pytest.approx(-1.0)
    assert not cm.model.training
    assert cm.calibration().kind == "model"  # not a listed model, but it has a logit_bias
    tokens = cm.tokenizer(["a dog", "stripes"])
    assert tokens.shape == (2, 16)


def test_same_weights_same_cache_key_across_formats(tiny_checkpoints: dict[str, Path]) -> None:
    a = load_concept_model(TINY_NAME, str(tiny_checkpoints["pt"]), device="cpu")
    b = load_concept_model(TINY_NAME, str(tiny_checkpoints["pt"]), device="cpu")
    c = load_concept_model(TINY_NAME, str(tiny_checkpoints["pt"]), device="cpu",
                           precision="bf16")
    assert a.cache_key == b.cache_key and a.cache_key != c.cache_key


def test_unknown_model_name_suggests_close_names(tiny_checkpoints: dict[str, Path]) -> None:
    with pytest.raises(ModelError) as exc:
        load_concept_model("ViT-SO400M-14-SigLIP-386", str(tiny_checkpoints["pt"]))
    text = _one_line(exc)
    assert "unknown open_clip model" in text and "ViT-SO400M-14-SigLIP-384" in text


def test_missing_checkpoint_file(tiny_config: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as exc:
        load_concept_model(TINY_NAME, str(tmp_path / "nope.safetensors"))
    assert "checkpoint file not found" in _one_line(exc)


def test_unknown_tag(tiny_config: Path) -> None:
    with pytest.raises(ModelError) as exc:
        load_concept_model("ViT-L-16-SigLIP-384", "laion2b")
    assert "neither a checkpoint file nor a pretrained tag" in _one_line(exc)
    assert "webli" in str(exc.value)


def test_hub_tag_offline_fails_fast_with_a_clear_line() -> None:
    started = time.monotonic()
    with pytest.raises(ModelError) as exc:
        load_concept_model("ViT-SO400M-14-SigLIP-384", "webli", device="cpu")
    assert time.monotonic() - started < 10  # no ~46 s hub timeout
    assert _one_line(exc) == (
        "weights for ViT-SO400M-14-SigLIP-384/webli are not available offline: pass a local "
        "checkpoint path with --pretrained /path/to/open_clip_model.safetensors or pre-populate "
        "the HF cache"
    )


def test_real_model_tokenizer_offline_is_one_line(tmp_path: Path) -> None:
    # A real SigLIP name with a local file goes through the same path; its HF tokenizer is not
    # in the cache here, which must be said before a 400M-parameter model is built.
    fake = tmp_path / "open_clip_model.safetensors"
    fake.write_bytes(b"\0")
    started = time.monotonic()
    with pytest.raises(ModelError) as exc:
        load_concept_model("ViT-L-16-SigLIP-384", str(fake), device="cpu")
    assert time.monotonic() - started < 10
    text = _one_line(exc)
    assert "tokenizer of ViT-L-16-SigLIP-384" in text and "timm/ViT-B-16-SigLIP" in text


def test_checkpoint_of_another_architecture(tiny_config: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pt"
    torch.save({"visual.proj": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ModelError) as exc:
        load_concept_model(TINY_NAME, str(wrong), device="cpu")
    assert _one_line(exc).startswith(f"cannot load {wrong} as {TINY_NAME}:")


def test_not_a_checkpoint_and_bad_device(tiny_checkpoints: dict[str, Path],
                                         tmp_path: Path) -> None:
    notes = tmp_path / "weights.txt"
    notes.write_text("x")
    with pytest.raises(ModelError, match="not a checkpoint file"):
        load_concept_model(TINY_NAME, str(notes))
    with pytest.raises(ModelError, match="unknown precision"):
        load_concept_model(TINY_NAME, str(tiny_checkpoints["pt"]), precision="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError) as exc:
            load_concept_model(TINY_NAME, str(tiny_checkpoints["pt"]), device="cuda")
        assert "no CUDA device" in _one_line(exc)
