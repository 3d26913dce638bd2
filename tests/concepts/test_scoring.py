"""Scoring with the tiny model: exact agreement with a direct computation, caching, resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.concepts.conftest import TINY_NAME
from turkops.concepts.calibration import Calibration, CalibrationKind
from turkops.concepts.models import ConceptModel, load_concept_model
from turkops.domain import InputError

pytestmark = pytest.mark.torch

Images = Callable[[int], list[tuple[str, Path]]]
CONCEPTS = ["dog", "striped shirt", "a {weird} concept", "red car"]


@pytest.fixture
def cm(tiny_checkpoints: dict[str, Path]) -> ConceptModel:
    return load_concept_model(TINY_NAME, str(tiny_checkpoints["safetensors"]), device="cpu")


class EncodeCounter:
    """Counts images that actually pass through the image tower."""

    def __init__(self, model: Any) -> None:
        self.images = 0
        model.visual.register_forward_hook(self._hook)

    def _hook(self, module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: object) -> None:
        self.images += args[0].shape[0]


def _direct_probs(cm: ConceptModel, paths: list[Path], concepts: list[str],
                  templates: tuple[str, ...] = ("{}",)) -> np.ndarray:
    """The textbook computation, written without any turkops code."""
    model: Any = cm.model
    with torch.no_grad():
        x = torch.stack([cm.preprocess(Image.open(p)) for p in paths])
        img = model.encode_image(x, normalize=True)
        txt = torch.stack([
            model.encode_text(cm.tokenizer([t.replace("{}", c) for c in concepts]),
                              normalize=True)
            for t in templates
        ]).mean(0)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        logits = model.logit_scale.exp() * img @ txt.T + model.logit_bias
    return torch.sigmoid(logits).numpy()


def test_probabilities_match_direct_computation(cm: ConceptModel, make_images: Images,
                                                tmp_path: Path) -> None:
    images = make_images(7)
    result = cm.scorer().score(images, CONCEPTS, cm.cache(tmp_path / "cache"),
                               calibration=cm.calibration(), batch_size=3)
    expected = _direct_probs(cm, [p for _, p in images], CONCEPTS)
    assert result.probs.shape == (7, 4) and result.probs.dtype == np.float32
    np.testing.assert_allclose(result.probs, expected, rtol=1e-5, atol=1e-6)
    assert result.calibration.kind == "model" and result.concepts == tuple(CONCEPTS)
    assert (result.n_encoded, result.n_cached) == (7, 0)
    # Random weights still spread the scores: the comparison is not between constants.
    assert result.probs.std() > 1e-3


def test_prompt_templates_are_averaged(cm: ConceptModel, make_images: Images) -> None:
    images = make_images(3)
    templates = ("a photo of {}", "{} in the picture")
    result = cm.scorer().score(images, CONCEPTS, None, calibration=cm.calibration(),
                               prompts=templates)
    expected = _direct_probs(cm, [p for _, p in images], CONCEPTS, templates)
    np.testing.assert_allclose(result.probs, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="no '{}'"):
        cm.scorer().encode_texts(CONCEPTS, ["a photo of"])


def test_cache_hit_on_second_run_and_for_new_concepts(cm: ConceptModel, make_images: Images,
                                                      tmp_path: Path) -> None:
    images = make_images(6)
    images.append(images[0])  # the same image listed twice is encoded once
    cache = cm.cache(tmp_path / "cache")
    counter = EncodeCounter(cm.model)
    cal = cm.calibration()
    first = cm.scorer().score(images, CONCEPTS, cache, calibration=cal, batch_size=4)
    assert counter.images == 6 and (first.n_encoded, first.n_cached) == (6, 0)
    np.testing.assert_array_equal(first.probs[0], first.probs[-1])
    second = cm.scorer().score(images, ["zebra", *CONCEPTS], cache, calibration=cal)
    assert counter.images == 6 and (second.n_encoded, second.n_cached) == (0, 6)
    np.testing.assert_allclose(second.probs[:, 1:], first.probs, rtol=0, atol=1e-7)
    # A second "study" sharing some images only encodes the new ones.
    more = images[:3] + make_images(2)
    third = cm.scorer().score(more, CONCEPTS, cache, calibration=cal)
    assert counter.images == 8 and (third.n_encoded, third.n_cached) == (2, 3)


def test_interrupted_run_resumes_without_encoding_twice(cm: ConceptModel, make_images: Images,
                                                        tmp_path: Path) -> None:
    images = make_images(10)
    cache = cm.cache(tmp_path / "cache")
    counter = EncodeCounter(cm.model)
    calls: list[tuple[int, int]] = []

    def stop_after_six(done: int, total: int) -> None:
        calls.append((done, total))
        if done >= 6:
            raise KeyboardInterrupt  # what Ctrl-C looks like inside the loop

    with pytest.raises(KeyboardInterrupt):
        cm.scorer().score(images, CONCEPTS, cache, calibration=cm.calibration(), batch_size=2,
                          chunk_size=4, progress=stop_after_six)
    # The batch in flight when the loop stopped (images 6-7) is kept too, not thrown away.
    assert calls == [(0, 10), (2, 10), (4, 10), (6, 10)] and counter.images == 8
    calls.clear()
    resumed = cm.scorer().score(images, CONCEPTS, cache, calibration=cm.calibration(),
                                batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert counter.images == 10 and (resumed.n_encoded, resumed.n_cached) == (2, 8)
    assert calls == [(0, 2), (2, 2)]
    expected = _direct_probs(cm, [p for _, p in images], CONCEPTS)
    np.testing.assert_allclose(resumed.probs, expected, rtol=1e-5, atol=1e-6)


def test_unreadable_image_is_named_and_earlier_batches_are_kept(
        cm: ConceptModel, make_images: Images, tmp_path: Path) -> None:
    images = make_images(6)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not really a jpeg")
    images.insert(4, ("0" * 64, broken))
    cache = cm.cache(tmp_path / "cache")
    with pytest.raises(InputError) as exc:
        cm.scorer().score(images, CONCEPTS, cache, calibration=cm.calibration(), batch_size=2)
    text = str(exc.value)
    assert "\n" not in text and text.startswith(f"cannot read image {broken}: ")
    assert cache.lookup([sha for sha, _ in images[:4]]).found.all()


def test_workers_give_the_same_embeddings(cm: ConceptModel, make_images: Images) -> None:
    images = make_images(9)
    scorer = cm.scorer()
    in_process = scorer.embed_images(images, None, batch_size=4, workers=0)
    with_workers = scorer.embed_images(images, None, batch_size=4, workers=2)
    np.testing.assert_array_equal(in_process.embeddings, with_workers.embeddings)
    norms = np.linalg.norm(in_process.embeddings, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)


def test_explicit_calibration_and_bf16(cm: ConceptModel, make_images: Images,
                                       tiny_checkpoints: dict[str, Path]) -> None:
    images = make_images(3)
    user = Calibration(CalibrationKind.USER, 50.0, -0.1, "test")
    fp32 = cm.scorer().score(images, CONCEPTS, None, calibration=user)
    np.testing.assert_allclose(fp32.probs, 1 / (1 + np.exp(-50.0 * (fp32.cosine - 0.1))),
                               rtol=1e-5, atol=1e-6)
    bf16 = load_concept_model(TINY_NAME, str(tiny_checkpoints["pt"]), device="cpu",
                              precision="bf16")
    low = bf16.scorer().score(images, CONCEPTS, None, calibration=user)
    np.testing.assert_allclose(low.cosine, fp32.cosine, atol=0.05)


def test_bad_arguments(cm: ConceptModel, make_images: Images) -> None:
    images = make_images(2)
    scorer = cm.scorer()
    cal = cm.calibration()
    with pytest.raises(InputError, match="distinct"):
        scorer.score(images, ["dog", "dog"], None, calibration=cal)
    with pytest.raises(InputError, match="no concepts"):
        scorer.score(images, [], None, calibration=cal)
    with pytest.raises(InputError, match="no images"):
        scorer.score([], ["dog"], None, calibration=cal)
