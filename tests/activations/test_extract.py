"""Activation extraction against direct forward passes of tiny torchvision / timm / open_clip
models, the resumable cache, neuron selection and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.activations.conftest import MakeInputs, image_paths
from tests.concepts.conftest import TINY_NAME
from turkops.activations.extract import extract_activations
from turkops.activations.models import load_vision_model
from turkops.activations.spec import ExtractionSpec, Pool, Token, parse_model
from turkops.domain import InputError, ModelError, NotFoundError

pytestmark = pytest.mark.torch


def _batch(preprocess: object, csv: Path) -> torch.Tensor:
    out = []
    for p in image_paths(csv):
        with Image.open(p) as im:
            out.append(preprocess(im))  # type: ignore[operator]
    return torch.stack(out)


def _extract(spec: ExtractionSpec, csv: Path, tmp_path: Path, **kw: object) -> np.ndarray:
    out = tmp_path / "acts.npy"
    summary = extract_activations(spec, csv, out, cache_root=tmp_path / "cache", device="cpu",
                                  batch_size=2, **kw)  # type: ignore[arg-type]
    assert summary is not None
    return np.load(out)


@pytest.mark.parametrize("pool", [Pool.MEAN, Pool.MAX])
def test_torchvision_resnet_layer4_equals_a_direct_forward_pass(
        resnet18_weights: Path, make_inputs: MakeInputs, tmp_path: Path, pool: Pool) -> None:
    import torchvision

    csv = make_inputs(5)
    acts = _extract(ExtractionSpec(parse_model("torchvision:resnet18"), resnet18_weights,
                                   "layer4", pool), csv, tmp_path)
    m = torchvision.models.resnet18(weights=None)
    m.load_state_dict(torch.load(resnet18_weights, weights_only=True))
    m.eval()
    x = _batch(load_vision_model(parse_model("torchvision:resnet18"),
                                 resnet18_weights).preprocess, csv)
    with torch.no_grad():
        y = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
    expected = y.mean(dim=(2, 3)) if pool is Pool.MEAN else y.amax(dim=(2, 3))
    assert acts.shape == (5, 512) and acts.dtype == np.float32
    assert (acts >= 0).all()  # layer4 ends in ReLU: post-activation values
    np.testing.assert_allclose(acts, expected.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("token", [Token.CLS, Token.MEAN])
def test_timm_vit_block_tokens_equal_a_direct_forward_pass(
        timm_vit_weights: Path, make_inputs: MakeInputs, tmp_path: Path, token: Token) -> None:
    import timm
    from safetensors.torch import load_file

    csv = make_inputs(4)
    spec = ExtractionSpec(parse_model("timm:test_vit"), timm_vit_weights, "blocks.2",
                          token=token, neurons="10:20")
    acts = _extract(spec, csv, tmp_path)
    m = timm.create_model("test_vit", pretrained=False)
    m.load_state_dict(load_file(str(timm_vit_weights)))
    m.eval()
    x = _batch(load_vision_model(spec.model, timm_vit_weights).preprocess, csv)
    with torch.no_grad():
        t = m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))
        for block in m.blocks[:3]:
            t = block(t)
    expected = t[:, 0] if token is Token.CLS else t[:, m.num_prefix_tokens:].mean(dim=1)
    assert acts.shape == (4, 10)
    np.testing.assert_allclose(acts, expected[:, 10:20].numpy(), rtol=1e-5, atol=1e-5)


def test_open_clip_block_equals_a_hook_on_the_full_forward_pass(
        tiny_config: Path, tiny_checkpoints: dict[str, Path], make_inputs: MakeInputs,
        tmp_path: Path) -> None:
    csv = make_inputs(3)
    spec = ExtractionSpec(parse_model(f"open_clip:{TINY_NAME}"), tiny_checkpoints["pt"],
                          "visual.transformer.resblocks.0", token=Token.MEAN)
    acts = _extract(spec, csv, tmp_path, model_config=tiny_config)
    vm = load_vision_model(spec.model, tiny_checkpoints["pt"])
    seen: list[torch.Tensor] = []
    vm.module("visual.transformer.resblocks.0").register_forward_hook(
        lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        vm.root.encode_image(_batch(vm.preprocess, csv))  # type: ignore[operator]
    expected = seen[0][:, 1:].mean(dim=1)  # one class token in front
    assert acts.shape == (3, 32)
    np.testing.assert_allclose(acts, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_rerun_uses_the_cache_and_an_interrupted_run_resumes(
        timm_vit_weights: Path, make_inputs: MakeInputs, tmp_path: Path) -> None:
    csv = make_inputs(6)
    spec = ExtractionSpec(parse_model("timm:test_vit"), timm_vit_weights, "blocks.0")
    out = tmp_path / "acts.npy"

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_activations(spec, csv, out, cache_root=tmp_path / "cache", device="cpu",
                            batch_size=2, chunk_size=2, progress=stop_after_two)
    assert not out.exists()
    resumed = extract_activations(spec, csv, out, cache_root=tmp_path / "cache", device="cpu",
                                  batch_size=2)
    assert resumed is not None
    # The interrupt came once batch 1 was taken; batch 2 was already computed and is written
    # on the way out too, so only the last batch is left.
    assert (resumed.n_encoded, resumed.n_cached) == (2, 4)
    again = extract_activations(spec, csv, tmp_path / "again.npy",
                                cache_root=tmp_path / "cache", device="cpu")
    assert again is not None and (again.n_encoded, again.n_cached) == (0, 6)
    fresh = extract_activations(spec, csv, tmp_path / "fresh.npy",
                                cache_root=tmp_path / "other", device="cpu", batch_size=3)
    assert fresh is not None and fresh.n_encoded == 6
    np.testing.assert_allclose(np.load(out), np.load(tmp_path / "fresh.npy"), atol=1e-5)
    # Another readout of the same layer is another cache entry, not a stale hit.
    mean = extract_activations(ExtractionSpec(spec.model, spec.weights, "blocks.0",
                                              token=Token.MEAN), csv, tmp_path / "mean.npy",
                               cache_root=tmp_path / "cache", device="cpu")
    assert mean is not None and mean.n_encoded == 6


def test_one_line_errors(resnet18_weights: Path, timm_vit_weights: Path,
                         make_inputs: MakeInputs, tmp_path: Path) -> None:
    csv = make_inputs(2)
    tv = parse_model("torchvision:resnet18")
    with pytest.raises(ModelError, match=r"no layer 'layer5'; close matches: layer4"):
        load_vision_model(tv, resnet18_weights).module("layer5")
    with pytest.raises(ModelError, match="never downloads weights"):
        load_vision_model(tv, Path("IMAGENET1K_V1"))
    with pytest.raises(NotFoundError, match="weights file not found"):
        load_vision_model(tv, tmp_path / "missing.pth")
    with pytest.raises(ModelError, match=r"does not fit torchvision:resnet34"):
        load_vision_model(parse_model("torchvision:resnet34"), resnet18_weights)
    with pytest.raises(ModelError, match=r"unknown torchvision model 'resnet51'; did you mean"):
        load_vision_model(parse_model("torchvision:resnet51"), resnet18_weights)
    with pytest.raises(ModelError, match="does not fit timm:test_vit"):
        load_vision_model(parse_model("timm:test_vit"), resnet18_weights)
    with pytest.raises(InputError, match="expected FAMILY:NAME"):
        parse_model("keras:resnet50")
    with pytest.raises(InputError, match="the layer has 64 channels"):
        extract_activations(ExtractionSpec(parse_model("timm:test_vit"), timm_vit_weights,
                                           "blocks.0", neurons="0:65"),
                            csv, tmp_path / "a.npy", cache_root=tmp_path / "c", device="cpu")


def test_two_extractors_on_one_model_do_not_interfere(
        timm_vit_weights: Path, make_inputs: MakeInputs) -> None:
    from turkops.activations.extract import ActivationExtractor

    csv = make_inputs(2)
    images = [(f"{i:064x}", p) for i, p in enumerate(image_paths(csv))]
    vm = load_vision_model(parse_model("timm:test_vit"), timm_vit_weights)
    early = ActivationExtractor(vm, "blocks.0")
    late = ActivationExtractor(vm, "blocks.4")
    a = early.embed_images(images).embeddings
    b = late.embed_images(images).embeddings
    alone = ActivationExtractor(load_vision_model(vm.ref, timm_vit_weights), "blocks.4")
    np.testing.assert_array_equal(b, alone.embed_images(images).embeddings)
    np.testing.assert_array_equal(a, early.embed_images(images).embeddings)
    assert not np.allclose(a, b)


def test_open_clip_model_whose_tags_disagree_needs_preprocess_like(
        tiny_checkpoints: dict[str, Path]) -> None:
    ref = parse_model("open_clip:ViT-B-16")
    with pytest.raises(ModelError, match="preprocess differently: say which one"):
        load_vision_model(ref, tiny_checkpoints["pt"])
    with pytest.raises(ModelError, match="--preprocess-like 'webli' is not a tag of ViT-B-16"):
        load_vision_model(ref, tiny_checkpoints["pt"], preprocess_like="webli")
    with pytest.raises(ModelError, match="apply to open_clip models only"):
        load_vision_model(parse_model("timm:test_vit"), tiny_checkpoints["pt"],
                          preprocess_like="openai")
