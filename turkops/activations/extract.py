"""Forward hooks on a named layer: (n_images, n_channels) activations, cached and resumable.

The hooked module's output is what is kept, i.e. the layer's post-activation values when the
module ends in its nonlinearity (ResNet `layer4` ends in ReLU; a ViT block's output is the
residual stream after its MLP). Conv maps (b, C, H, W) are pooled over space (mean or max; a
4-D output is taken to be channels-first, as torchvision's and timm's CNNs are, not NHWC like
timm's Swin stages); token sequences (b, T, D) give the class token or the mean of the patch
tokens; (b, D) is kept.
The forward pass stops at the hooked layer, so the layers after it cost nothing.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from turkops.activations.models import VisionModel, load_vision_model
from turkops.activations.spec import ExtractionSpec, Pool, Token, select_neurons
from turkops.arrays import sha256_file
from turkops.concepts.cache import CacheKey, EmbeddingCache
from turkops.concepts.distributed import Ranks
from turkops.concepts.encoding import ImageEncoder, Progress, default_workers
from turkops.domain import InputError, ModelError

logger = logging.getLogger(__name__)


class _Reached(Exception):
    """Raised by the hook to stop the forward pass once the layer's output is captured."""


class ActivationExtractor(ImageEncoder):
    """Features = the pooled output of `layer` of `vm` (see the module docstring)."""

    def __init__(self, vm: VisionModel, layer: str, *, pool: Pool = Pool.MEAN,
                 token: Token | None = None, device: torch.device | str = "cpu",
                 precision: str = "fp32") -> None:
        super().__init__(vm.preprocess, device=device, precision=precision)
        self.vm = vm
        self.layer = layer
        self.pool = Pool(pool)
        self.token = token if token is not None else (Token.CLS if vm.prefix_tokens
                                                      else Token.MEAN)
        self._module = vm.module(layer)
        vm.root.to(self.device)
        if self.channels_last:
            vm.root.to(memory_format=torch.channels_last)
        self._captured: torch.Tensor | None = None

    def _hook(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
            output = output[0]
        if not isinstance(output, torch.Tensor):
            raise ModelError(f"layer {self.layer!r} returns {type(output).__name__}, not a "
                             "tensor: pick another layer")
        self._captured = output
        raise _Reached

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        self._captured = None
        # Hooked for this call only, so two extractors on one model never see each other's hook.
        handle = self._module.register_forward_hook(self._hook)
        try:
            self.vm.model(x)
        except _Reached:
            pass
        finally:
            handle.remove()
        out = self._captured
        self._captured = None
        if out is None:
            raise ModelError(f"layer {self.layer!r} is not used by {self.vm.ref}'s forward pass")
        return self._reduce(out.float(), x.shape[0])

    def _reduce(self, out: torch.Tensor, batch: int) -> torch.Tensor:
        if out.shape[0] != batch:
            raise ModelError(f"layer {self.layer!r} output {tuple(out.shape)} is not "
                             f"batch-first: pick another layer")
        if out.ndim == 4:  # (b, C, H, W)
            return out.mean(dim=(2, 3)) if self.pool is Pool.MEAN else out.amax(dim=(2, 3))
        if out.ndim == 3:  # (b, T, D)
            if self.token is Token.CLS:
                if self.vm.prefix_tokens == 0:
                    raise ModelError(f"{self.vm.ref} has no class token: use --token mean")
                return out[:, 0]
            return out[:, self.vm.prefix_tokens:].mean(dim=1)
        if out.ndim == 2:
            return out
        raise ModelError(f"layer {self.layer!r} output has shape {tuple(out.shape)}: expected "
                         "(b, C, H, W), (b, tokens, D) or (b, D)")

    def cache_key(self) -> CacheKey:
        readout = {"preprocess": json.loads(self.vm.preprocess_desc) if
                   self.vm.preprocess_desc.startswith("{") else self.vm.preprocess_desc,
                   "layer": self.layer, "pool": str(self.pool), "token": str(self.token)}
        return CacheKey(model_name=f"{self.vm.ref}/{self.layer}", weights=self.vm.weights_id,
                        precision=self.precision,
                        preprocess=json.dumps(readout, sort_keys=True, default=str))

    def cache(self, root: Path) -> EmbeddingCache:
        return EmbeddingCache(root, self.cache_key())


def pick_columns(acts: NDArray[np.float32], columns: Sequence[int] | None
                 ) -> NDArray[np.float32]:
    """(n, C) -> (n, len(columns)) float32, C-contiguous, ready for np.save."""
    out = acts if columns is None else acts[:, list(columns)]
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class ExtractionSummary:
    n_images: int
    n_neurons: int
    n_channels: int  # of the layer, before --neurons
    n_encoded: int  # over all ranks
    n_cached: int
    encode_seconds: float
    model: str
    layer: str
    readout: str  # how conv maps and token sequences were reduced


def extract_activations(
    spec: ExtractionSpec,
    inputs_csv: Path,
    out: Path,
    *,
    cache_root: Path,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 64,
    workers: int | None = None,
    chunk_size: int = 4096,
    model_config: Path | None = None,
    ranks: Ranks | None = None,
    progress: Progress | None = None,
) -> ExtractionSummary | None:
    """Write the (n_inputs, n_neurons) float32 activations of inputs.csv's images to `out`.

    Row i is row i of inputs.csv, as `study create` expects. With several ranks (torchrun;
    the caller has joined the process group) each encodes its slice into the shared cache and
    only the main rank writes `out` and gets a summary (the others get None).
    """
    from turkops.concepts.models import resolve_device, resolve_precision
    from turkops.studyfiles import read_inputs

    ranks = ranks or Ranks()
    rows = read_inputs(inputs_csv)
    urls = [r for r in rows if r.image_path is None]
    if urls:
        raise InputError(f"input {urls[0].input_id!r} is a URL ({urls[0].image}); activation "
                         "extraction needs local image files")
    images = [(sha256_file(r.image_path), r.image_path) for r in rows if r.image_path]
    vm = load_vision_model(spec.model, spec.weights, model_config=model_config,
                           preprocess_like=spec.preprocess_like)
    dev = resolve_device(ranks.device(device))
    extractor = ActivationExtractor(vm, spec.layer, pool=spec.pool, token=spec.token,
                                    device=dev, precision=resolve_precision(precision, dev))
    cache = extractor.cache(cache_root)
    n_workers = default_workers(dev) if workers is None else workers
    shard = None
    if ranks.distributed:
        shard = extractor.embed_shard(images, cache, ranks, batch_size=batch_size,
                                      workers=n_workers, progress=progress,
                                      chunk_size=chunk_size)
        if not ranks.is_main:
            return None
    result = extractor.embed_images(images, cache, batch_size=batch_size, workers=n_workers,
                                    progress=None if shard else progress, chunk_size=chunk_size)
    if shard is not None and result.n_encoded:
        logger.warning("%d images were not in the cache after all ranks finished: is %s on a "
                       "filesystem every rank shares?", result.n_encoded, cache_root)
    columns = select_neurons(spec.neurons, result.embeddings.shape[1])
    acts = pick_columns(result.embeddings, columns)
    write_npy(out, acts)
    readout = f"conv maps: {extractor.pool} over space; tokens: {extractor.token}"
    return ExtractionSummary(
        n_images=len(images), n_neurons=acts.shape[1], n_channels=result.embeddings.shape[1],
        n_encoded=shard.n_encoded if shard else result.n_encoded,
        n_cached=shard.n_cached if shard else result.n_cached,
        encode_seconds=shard.encode_seconds if shard else result.encode_seconds,
        model=str(spec.model), layer=spec.layer, readout=readout)


def write_npy(path: Path, array: NDArray[np.float32]) -> None:
    """np.save to a temporary name, then rename: a crash never leaves half a file at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
