"""Building a torchvision / timm / open_clip vision model from a local weights file.

Nothing here downloads: torchvision and timm models are built with random weights and then
loaded from the user's file; open_clip weights are a file, or a tag already in the local HF
cache. Every failure a user can cause is one ModelError line.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from turkops.activations.spec import ModelRef
from turkops.arrays import sha256_file
from turkops.domain import ModelError, NotFoundError

logger = logging.getLogger(__name__)

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")


@dataclass(frozen=True, slots=True)
class VisionModel:
    """model: what runs on a batch (its forward takes (b, 3, H, W) images); layer names are
    those of `root.named_modules()` (the whole open_clip model, whose image tower is model)."""

    ref: ModelRef
    model: torch.nn.Module
    root: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    prefix_tokens: int  # class (and register) tokens in front of the patch tokens
    weights_id: str  # "sha256:<hex>" of the weights file
    preprocess_desc: str  # canonical description, part of the cache key

    def module(self, layer: str) -> torch.nn.Module:
        modules = dict(self.root.named_modules())
        found = modules.get(layer) if layer else None
        if found is None:
            names = [n for n in modules if n]
            close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise ModelError(f"{self.ref} has no layer {layer!r}{hint} (list them with "
                             f"`turkops activations layers --model {self.ref}`)")
        return found


def to_rgb(image: Any) -> Any:
    """PIL image in RGB (grey and RGBA files are common in probing sets)."""
    return image.convert("RGB")


def _with_rgb(preprocess: Any) -> Any:
    from torchvision import transforms as T

    steps = list(getattr(preprocess, "transforms", [preprocess]))
    return T.Compose([T.Lambda(to_rgb), *steps])


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unknown(ref: ModelRef, names: list[str]) -> ModelError:
    close = difflib.get_close_matches(ref.name, names, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ModelError(f"unknown {ref.family} model {ref.name!r}{hint}")


def _local_weights(ref: ModelRef, weights: Path) -> Path:
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise ModelError(f"{path} is a directory: pass the weights file inside it")
    text = str(weights)
    if "/" in text or "\\" in text or path.suffix:
        raise NotFoundError(f"weights file not found: {path}")
    raise ModelError(f"--weights {text!r} is not a file: turkops never downloads weights; save "
                     f"the {ref} checkpoint to a file once (on a machine with internet) and pass "
                     "its path")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file or a torch state-dict file (loaded weights_only)."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (pickle, zip, safetensors errors: one story)
        raise ModelError(f"cannot read weights {path}: {_one_line(exc)}") from exc
    for key in _WRAPPER_KEYS:  # training checkpoints wrap the state dict
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ModelError(f"{path} is not a state dict of tensors (a whole pickled model is not "
                         "accepted: save model.state_dict())")
    # DataParallel / DDP checkpoints prefix every key.
    if raw and all(k.startswith("module.") for k in raw):
        raw = {k[len("module."):]: v for k, v in raw.items()}
    return raw


def _load_weights(model: torch.nn.Module, path: Path, ref: ModelRef) -> None:
    state = read_state_dict(path)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ModelError(f"{path} does not fit {ref}: {_one_line(exc)}") from exc
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
        raise ModelError(f"{path} does not fit {ref}: {'; '.join(parts)}")


def _torchvision(ref: ModelRef, weights: Path) -> VisionModel:
    import torchvision
    from torchvision import transforms as T

    names = list(torchvision.models.list_models())
    if ref.name not in names:
        raise _unknown(ref, names)
    model = torchvision.models.get_model(ref.name, weights=None)
    _load_weights(model, weights, ref)
    # The preprocessing of torchvision's default weights for this architecture (building the
    # transform downloads nothing); ImageNet's 256/224 when it has none.
    resize, crop = 256, 224
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    interpolation = T.InterpolationMode.BILINEAR
    try:
        tf: Any = torchvision.models.get_model_weights(ref.name).DEFAULT.transforms()
        resize, crop = int(tf.resize_size[0]), int(tf.crop_size[0])
        mean, std, interpolation = list(tf.mean), list(tf.std), tf.interpolation
    except (ValueError, AttributeError, IndexError, TypeError):
        pass
    preprocess = T.Compose([T.Lambda(to_rgb), T.Resize(resize, interpolation=interpolation),
                            T.CenterCrop(crop), T.ToTensor(), T.Normalize(mean, std)])
    vit = type(model).__name__ == "VisionTransformer"
    desc = {"resize": resize, "crop": crop, "mean": mean, "std": std,
            "interpolation": str(interpolation)}
    return VisionModel(ref, model, model, preprocess, 1 if vit else 0,
                       f"sha256:{sha256_file(weights)}", json.dumps(desc, sort_keys=True))


def _timm(ref: ModelRef, weights: Path) -> VisionModel:
    try:
        import timm
        from timm.data import create_transform, resolve_data_config
    except ImportError:
        raise ModelError("timm models need the 'timm' package (pip install timm)") from None
    names = list(timm.list_models())
    if ref.name not in names:
        raise _unknown(ref, names)
    model = timm.create_model(ref.name, pretrained=False)
    _load_weights(model, weights, ref)
    cfg = resolve_data_config({}, model=model)
    preprocess = _with_rgb(create_transform(**cfg, is_training=False))
    return VisionModel(ref, model, model, preprocess, int(getattr(model, "num_prefix_tokens", 0)),
                       f"sha256:{sha256_file(weights)}",
                       json.dumps(cfg, sort_keys=True, default=str))


def _open_clip(ref: ModelRef, weights: Path, model_config: Path | None,
               preprocess_like: str | None) -> VisionModel:
    from turkops.concepts.models import import_open_clip, register_model_config, resolve_weights

    if model_config is not None:
        register_model_config(model_config)
    open_clip = import_open_clip()
    resolved = resolve_weights(ref.name, str(weights), preprocess_like=preprocess_like)
    if resolved.path is None:
        raise ModelError(f"weights {weights} of {ref} are not in the local cache: turkops never "
                         "downloads weights; pass the checkpoint file")
    settings = dict(resolved.tag_settings)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            ref.name, pretrained=str(resolved.path), precision="fp32", device="cpu",
            force_quick_gelu=bool(settings.get("quick_gelu", False)),
            image_mean=settings.get("mean"), image_std=settings.get("std"),
            image_interpolation=settings.get("interpolation"),
            image_resize_mode=settings.get("resize_mode"), weights_only=True)
    except Exception as exc:  # noqa: BLE001  (open_clip raises RuntimeError, KeyError, ...)
        raise ModelError(f"cannot load {resolved.path} as {ref}: {_one_line(exc)}") from exc
    visual = model.visual
    prefix = 1 if getattr(visual, "class_embedding", None) is not None else 0
    desc = json.dumps(getattr(visual, "preprocess_cfg", None) or {}, sort_keys=True, default=str)
    return VisionModel(ref, visual, model, preprocess, prefix,
                       f"sha256:{sha256_file(resolved.path)}", desc)


def load_vision_model(ref: ModelRef, weights: Path, *, model_config: Path | None = None,
                      preprocess_like: str | None = None) -> VisionModel:
    """The model in eval mode on the CPU with the weights of `weights` (a local file).

    model_config and preprocess_like: open_clip only (a config JSON to register; the pretrained
    tag whose preprocessing a bare checkpoint file uses, when the model's tags disagree).
    """
    if ref.family == "open_clip":
        vm = _open_clip(ref, weights, model_config, preprocess_like)
    else:
        if model_config is not None or preprocess_like is not None:
            raise ModelError("--model-config and --preprocess-like apply to open_clip models "
                             "only")
        path = _local_weights(ref, weights)
        vm = _torchvision(ref, path) if ref.family == "torchvision" else _timm(ref, path)
    vm.root.eval().requires_grad_(False)
    logger.info("loaded %s from %s", ref, weights)
    return vm


def layer_names(ref: ModelRef, *, model_config: Path | None = None) -> list[tuple[str, str]]:
    """(name, module class) of every named module of a randomly initialised `ref`."""
    if ref.family == "open_clip":
        from turkops.concepts.models import import_open_clip, register_model_config

        if model_config is not None:
            register_model_config(model_config)
        open_clip = import_open_clip()
        if ref.name not in open_clip.list_models():
            raise _unknown(ref, list(open_clip.list_models()))
        root: torch.nn.Module = open_clip.create_model(ref.name, pretrained=None)
    elif ref.family == "torchvision":
        import torchvision

        if ref.name not in torchvision.models.list_models():
            raise _unknown(ref, list(torchvision.models.list_models()))
        root = torchvision.models.get_model(ref.name, weights=None)
    else:
        import timm

        if ref.name not in timm.list_models():
            raise _unknown(ref, list(timm.list_models()))
        root = timm.create_model(ref.name, pretrained=False)
    return [(n, type(m).__name__) for n, m in root.named_modules() if n]
