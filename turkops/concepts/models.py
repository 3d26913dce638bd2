"""Loading an open_clip model (SigLIP or CLIP) for concept scoring, with one-line errors.

This module imports torch; `turkops.concepts` itself does not, so `import turkops` (and the CLI)
work without the `siglip` extra until a concept command actually runs.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from turkops.concepts.cache import CacheKey, EmbeddingCache
from turkops.concepts.calibration import Calibration, CalibrationMode, choose_calibration
from turkops.concepts.files import sha256_file
from turkops.concepts.scoring import SiglipScorer
from turkops.domain import ModelError, NotFoundError

logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".npz")
PRECISIONS = ("auto", "fp32", "bf16")
# Keys of an open_clip pretrained-tag config that change what a checkpoint computes; a local
# checkpoint file carries none of them, so they are taken from the model's tag (see below).
_TAG_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")
_HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"
_HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"


def import_open_clip() -> ModuleType:
    """Import open_clip with the Hugging Face hub offline unless the user said otherwise.

    huggingface_hub reads HF_HUB_OFFLINE once, when it is first imported (open_clip imports it);
    without it every hub call on a machine with no route out waits ~46 s for a timeout.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import open_clip

    return open_clip


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _one_line(exc: BaseException, limit: int = 240) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class ResolvedWeights:
    """Where the weights of (name, pretrained) are: a local file, or a tag to download."""

    path: Path | None  # None only for a tag not yet downloaded while the hub is online
    tag: str | None
    tag_settings: Mapping[str, Any]  # preprocess keys and quick_gelu from the tag config


@dataclass(frozen=True, slots=True)
class ConceptModel:
    """A loaded model plus what scoring and caching need to know about it."""

    name: str
    pretrained: str
    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]
    tokenizer: Callable[..., torch.Tensor]
    device: torch.device
    precision: str  # "fp32" | "bf16" (bf16 = autocast)
    compile: bool
    cache_key: CacheKey
    logit_scale: float  # as stored: the log of the slope
    logit_bias: float | None  # None for plain CLIP

    def scorer(self) -> SiglipScorer:
        return SiglipScorer(self.model, self.preprocess, self.tokenizer, device=self.device,
                            precision=self.precision, compile=self.compile)

    def cache(self, root: Path) -> EmbeddingCache:
        return EmbeddingCache(root, self.cache_key)

    def calibration(self, mode: CalibrationMode = CalibrationMode.AUTO,
                    user: Calibration | None = None) -> Calibration:
        return choose_calibration(self.name, mode=mode, logit_scale=self.logit_scale,
                                  logit_bias=self.logit_bias, user=user)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ModelError(f"unknown device {device!r}: use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"--device {device} was asked for but no CUDA device is available")
    if dev.type not in ("cpu", "cuda"):
        raise ModelError(f"unsupported device {device!r}: use auto, cpu or cuda[:N]")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        # bf16 autocast roughly 7x's a ViT on an H100; on CPUs it is often slower than fp32.
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def register_model_config(path: Path) -> str:
    """Register an extra open_clip model config (JSON named <model name>.json); returns the name."""
    if not path.is_file():
        raise NotFoundError(f"model config not found: {path}")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"model config {path} is not valid JSON: {_one_line(exc)}") from exc
    if not isinstance(cfg, dict) or not all(k in cfg for k in ("embed_dim", "vision_cfg",
                                                               "text_cfg")):
        raise ModelError(f"model config {path} needs embed_dim, vision_cfg and text_cfg")
    import_open_clip().add_model_config(path)
    return path.stem


def _check_name(open_clip: ModuleType, name: str) -> None:
    if name.startswith(("hf-hub:", "local-dir:")):
        raise ModelError(f"{name}: pass a built-in open_clip model name and the weights with "
                         "--pretrained (hf-hub:/local-dir: schemas are not supported)")
    models: list[str] = open_clip.list_models()
    if name not in models:
        close = difflib.get_close_matches(name, models, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown open_clip model {name!r}{hint}")


def tag_settings(open_clip: ModuleType, name: str, tag: str | None) -> dict[str, Any]:
    """Preprocessing + quick_gelu of the tag, or shared by all tags of the model.

    A bare checkpoint file does not say how its images were normalised or whether it uses
    QuickGELU: open_clip would fall back to OpenAI mean/std and 'shortest' resizing, which is
    wrong for SigLIP (mean/std 0.5, 'squash'). The model's own tag configs know.
    """
    tags: list[str] = list(open_clip.list_pretrained_tags_by_model(name))
    if tag is not None:
        chosen = [tag]
    elif not tags:
        return {}  # a custom config: open_clip's defaults (or the config's own) apply
    else:
        chosen = tags

    def settings_of(t: str) -> dict[str, Any]:
        cfg = open_clip.get_pretrained_cfg(name, t)
        out = {k: cfg[k] for k in _TAG_PREPROCESS_KEYS if k in cfg}
        out["quick_gelu"] = bool(cfg.get("quick_gelu", False))
        return out

    variants = [settings_of(t) for t in chosen]
    if any(v != variants[0] for v in variants[1:]):
        raise ModelError(f"{name}'s pretrained tags ({', '.join(tags)}) preprocess differently: "
                         "say which one the checkpoint is with --preprocess-like TAG")
    return variants[0]


def _cached_tag_file(cfg: Mapping[str, Any]) -> Path | None:
    """The tag's weights in the local HF (or OpenAI) cache, without touching the network."""
    if cfg.get("file") and Path(cfg["file"]).is_file():
        return Path(cfg["file"])
    hf_hub = str(cfg.get("hf_hub") or "")
    if hf_hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hf_hub)
        filename = filename or _HF_WEIGHTS_NAME
        # open_clip prefers a .safetensors twin of the file when the repo has one.
        candidates = [_HF_SAFE_WEIGHTS_NAME] if filename == _HF_WEIGHTS_NAME else []
        if filename.endswith((".bin", ".pth")) and filename != _HF_WEIGHTS_NAME:
            candidates.append(filename[:-4] + ".safetensors")
        for fname in [*candidates, filename]:
            hit = try_to_load_from_cache(repo_id=repo_id, filename=fname)
            if isinstance(hit, str) and os.path.isfile(hit):
                return Path(hit)
    url = str(cfg.get("url") or "")
    if url:
        legacy = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if legacy.is_file():
            return legacy
    return None


def resolve_weights(name: str, pretrained: str, *, preprocess_like: str | None = None
                    ) -> ResolvedWeights:
    """Decide whether `pretrained` is a checkpoint file or a tag, and find the file offline."""
    open_clip = import_open_clip()
    _check_name(open_clip, name)
    if not pretrained.strip():
        raise ModelError("--pretrained is empty: give a checkpoint file or a pretrained tag")
    tags = list(open_clip.list_pretrained_tags_by_model(name))
    if preprocess_like is not None and preprocess_like not in tags:
        raise ModelError(f"--preprocess-like {preprocess_like!r} is not a tag of {name} "
                         f"(tags: {', '.join(tags) or 'none'})")
    candidate = Path(pretrained).expanduser()
    if candidate.is_file():
        if candidate.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise ModelError(f"{candidate}: not a checkpoint file (expected one of "
                             f"{', '.join(CHECKPOINT_SUFFIXES)})")
        return ResolvedWeights(candidate, None, tag_settings(open_clip, name, preprocess_like))
    if candidate.is_dir():
        raise ModelError(f"{candidate} is a directory: pass the checkpoint file inside it")
    looks_like_path = (os.sep in pretrained or "/" in pretrained
                       or candidate.suffix.lower() in CHECKPOINT_SUFFIXES)
    cfg = open_clip.get_pretrained_cfg(name, pretrained) if not looks_like_path else {}
    if not cfg:
        if looks_like_path:
            raise NotFoundError(f"checkpoint file not found: {candidate}")
        raise ModelError(f"{pretrained!r} is neither a checkpoint file nor a pretrained tag of "
                         f"{name} (tags: {', '.join(tags) or 'none'})")
    settings = tag_settings(open_clip, name, pretrained)
    cached = _cached_tag_file(cfg)
    if cached is not None:
        return ResolvedWeights(cached, pretrained, settings)
    if hub_offline():
        raise ModelError(
            f"weights for {name}/{pretrained} are not available offline: pass a local checkpoint "
            "path with --pretrained /path/to/open_clip_model.safetensors or pre-populate the HF "
            "cache"
        )
    return ResolvedWeights(None, pretrained, settings)


def load_tokenizer(name: str) -> Callable[..., torch.Tensor]:
    open_clip = import_open_clip()
    cfg = open_clip.get_model_config(name) or {}
    hf_name = (cfg.get("text_cfg") or {}).get("hf_tokenizer_name")
    try:
        tokenizer: Callable[..., torch.Tensor] = open_clip.get_tokenizer(name)
    except Exception as exc:  # noqa: BLE001  (ImportError, OSError, HTTP errors: all one story)
        where = f"the Hugging Face tokenizer {hf_name}" if hf_name else "its tokenizer"
        raise ModelError(
            f"the tokenizer of {name} cannot be loaded ({_one_line(exc, 160)}): {where} must be "
            "in the local HF cache and the 'transformers' package installed"
        ) from exc
    return tokenizer


def load_concept_model(
    name: str,
    pretrained: str,
    *,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    preprocess_like: str | None = None,
    model_config: Path | None = None,
) -> ConceptModel:
    """Load open_clip model `name` with weights `pretrained` (a tag or a checkpoint file).

    Every failure a user can cause (unknown name, missing or unloadable checkpoint, weights or
    tokenizer not available offline, CUDA absent) raises ModelError/NotFoundError with one line.
    `model_config`: an extra open_clip config JSON to register first (its stem is the name).
    """
    if model_config is not None:
        register_model_config(model_config)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    weights = resolve_weights(name, pretrained, preprocess_like=preprocess_like)
    # The tokenizer first: it is the other thing that may need the network, and is cheap to try
    # compared with building a 400M-parameter model.
    tokenizer = load_tokenizer(name)
    open_clip = import_open_clip()
    settings = dict(weights.tag_settings)
    source = str(weights.path) if weights.path is not None else weights.tag
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            name,
            pretrained=source,
            precision="fp32",  # bf16 is autocast at run time: weights stay fp32
            device="cpu",
            force_quick_gelu=bool(settings.get("quick_gelu", False)),
            image_mean=settings.get("mean"),
            image_std=settings.get("std"),
            image_interpolation=settings.get("interpolation"),
            image_resize_mode=settings.get("resize_mode"),
            weights_only=True,
        )
    except Exception as exc:  # noqa: BLE001  (open_clip raises RuntimeError, KeyError, ...)
        raise ModelError(f"cannot load {source} as {name}: {_one_line(exc)}") from exc
    path = weights.path
    if path is None and weights.tag is not None:  # downloaded just now: hash the cached file
        path = _cached_tag_file(open_clip.get_pretrained_cfg(name, weights.tag))
    identity = (f"sha256:{sha256_file(path)}" if path is not None else f"tag:{weights.tag}")
    model.eval().requires_grad_(False)
    model.to(dev)
    if dev.type == "cuda":
        # Only the patch-embedding conv cares, but it reads NHWC inputs faster on tensor cores.
        model.to(memory_format=torch.channels_last)
    visual = getattr(model, "visual", None)
    preprocess_cfg = getattr(visual, "preprocess_cfg", None) or {}
    logit_bias = getattr(model, "logit_bias", None)
    logger.info("loaded %s (%s) on %s, %s", name, source, dev, prec)
    return ConceptModel(
        name=name,
        pretrained=pretrained,
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        device=dev,
        precision=prec,
        compile=compile,
        cache_key=CacheKey(
            model_name=name,
            weights=identity,
            precision=prec,
            preprocess=json.dumps(preprocess_cfg, sort_keys=True, default=str),
        ),
        logit_scale=float(model.logit_scale.detach().float().cpu().reshape(-1)[0]),
        logit_bias=(None if logit_bias is None
                    else float(logit_bias.detach().float().cpu().reshape(-1)[0])),
    )
