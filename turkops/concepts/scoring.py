"""Encoding images and concept texts with an open_clip model, and scoring every pair.

Speed on a GPU comes from keeping the accelerator fed:
- DataLoader workers decode + resize whole batches (PIL, exactly open_clip's preprocessing) and
  hand back uint8 tensors: 4x less to move through shared memory, pinned memory and PCIe than
  float32; the float conversion and mean/std normalisation run on the device instead.
- pinned host memory + non_blocking uploads on a side stream (overlapping the previous batch's
  compute), bf16 autocast, channels-last inputs, optional torch.compile of the image tower
  (the last batch is padded so it compiles once);
- embeddings come back by a non-blocking copy into pinned memory marked by an event, and the
  host waits for batch i only after batch i+1 is queued, so the GPU does not idle while the
  host writes the cache.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from turkops.concepts.cache import ChunkWriter, EmbeddingCache
from turkops.concepts.calibration import Calibration, apply_calibration
from turkops.domain import InputError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
DEFAULT_PROMPTS: tuple[str, ...] = ("{}",)  # raw concept text, as the published calibration


@dataclass(frozen=True, slots=True)
class ImageEmbeddings:
    """embeddings: (n_images, d) float32, L2-normalised, rows in the order images were given."""

    sha256: tuple[str, ...]
    embeddings: NDArray[np.float32]
    n_encoded: int  # distinct images run through the model in this call
    n_cached: int  # distinct images found in the cache
    encode_seconds: float  # wall time of the encoding loop (decode + model), 0 if all cached


@dataclass(frozen=True, slots=True)
class ConceptScores:
    """probs and cosine: (n_images, n_concepts) float32; probs in [0, 1]."""

    sha256: tuple[str, ...]
    concepts: tuple[str, ...]
    probs: NDArray[np.float32]
    cosine: NDArray[np.float32]
    calibration: Calibration
    n_encoded: int
    n_cached: int
    encode_seconds: float


def default_workers(device: torch.device) -> int:
    """Decode processes: on CUDA enough to keep up with the GPU; on CPU decoding in the main
    process avoids competing with the model for the same cores."""
    if device.type != "cuda":
        return 0
    return max(1, min(12, (os.cpu_count() or 2) - 2))


def check_prompts(prompts: Sequence[str]) -> tuple[str, ...]:
    if not prompts:
        raise InputError("at least one prompt template is needed (the default is '{}')")
    for p in prompts:
        if "{}" not in p:
            raise InputError(f"prompt template {p!r} has no '{{}}' where the concept goes")
    return tuple(prompts)


def split_preprocess(preprocess: Callable[[Any], torch.Tensor]
                     ) -> tuple[Callable[[Any], torch.Tensor], torch.Tensor, torch.Tensor] | None:
    """(PIL part ending in uint8 tensor, mean, std) when `preprocess` ends in ToTensor+Normalize.

    open_clip's eval transforms do; anything else is used as given (float32 from the workers).
    """
    from torchvision.transforms import Compose, Normalize, PILToTensor, ToTensor

    steps = getattr(preprocess, "transforms", None)
    if (not isinstance(preprocess, Compose) or not steps or len(steps) < 2
            or not isinstance(steps[-1], Normalize) or not isinstance(steps[-2], ToTensor)):
        return None
    mean = torch.as_tensor(steps[-1].mean, dtype=torch.float32)
    std = torch.as_tensor(steps[-1].std, dtype=torch.float32)
    return Compose([*steps[:-2], PILToTensor()]), mean, std


class _ImageFiles(Dataset[tuple[int, torch.Tensor | None, str | None]]):
    def __init__(self, paths: Sequence[Path], transform: Callable[[Any], torch.Tensor]) -> None:
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            with Image.open(self.paths[i]) as im:
                return i, self.transform(im), None
        except Exception as exc:  # noqa: BLE001  any decode failure is reported with the path
            # Returned, not raised: a raise in a worker reaches the user as a multi-line
            # "Caught ... in DataLoader worker" traceback instead of one line naming the file.
            return i, None, f"{type(exc).__name__}: {exc}"


def _collate(items: list[tuple[int, torch.Tensor | None, str | None]]
             ) -> tuple[torch.Tensor, torch.Tensor | None, list[tuple[int, str]]]:
    index = torch.tensor([i for i, _, _ in items], dtype=torch.long)
    errors = [(i, e) for i, _, e in items if e is not None]
    good = [t for _, t, _ in items if t is not None]
    return index, (torch.stack(good) if good and not errors else None), errors


@dataclass(frozen=True, slots=True)
class _Encoded:
    """Host embeddings of one batch; on CUDA valid once `ready` has fired."""

    host: torch.Tensor
    ready: torch.cuda.Event | None

    def numpy(self) -> NDArray[np.float32]:
        if self.ready is not None:
            self.ready.synchronize()
        return self.host.numpy()


class _BatchSink:
    """Receives encoded batches: fills the embedding matrix, the cache writer and progress."""

    def __init__(self, unique: list[str], todo: NDArray[np.intp],
                 embeddings: NDArray[np.float32] | None, writer: ChunkWriter | None,
                 progress: Progress | None) -> None:
        self.unique = unique
        self.todo = todo
        self.embeddings = embeddings
        self.writer = writer
        self.progress = progress
        self.done = 0

    def take(self, pos: NDArray[np.intp], feats: _Encoded, *, report: bool) -> None:
        batch = feats.numpy()
        rows = self.todo[pos]
        if self.embeddings is None:
            self.embeddings = np.zeros((len(self.unique), batch.shape[1]), dtype=np.float32)
        self.embeddings[rows] = batch
        if self.writer is not None:
            self.writer.append([self.unique[r] for r in rows], batch)
        self.done += len(rows)
        if report and self.progress is not None:
            self.progress(self.done, len(self.todo))


class SiglipScorer:
    """Scores (image, concept) pairs with an open_clip model (SigLIP or CLIP).

    model: an open_clip CLIP/CustomTextCLIP in eval mode on `device`; preprocess: its eval
    image transform; tokenizer: list[str] -> (n, context) token tensor.
    precision "bf16" runs under bf16 autocast (CUDA or CPU); "fp32" runs plain fp32.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Callable[[Any], torch.Tensor],
        tokenizer: Callable[..., torch.Tensor],
        *,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.precision = precision
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        split = split_preprocess(preprocess)
        if split is None:
            self._worker_transform, self._mean, self._std = preprocess, None, None
        else:
            self._worker_transform = split[0]
            self._mean = split[1].to(self.device).view(1, -1, 1, 1)
            self._std = split[2].to(self.device).view(1, -1, 1, 1)
        self._copy_stream = (torch.cuda.Stream(self.device) if self.device.type == "cuda"
                             else None)
        visual: Callable[[torch.Tensor], torch.Tensor] = model.visual  # type: ignore[assignment]
        self._compiled = compile
        self._visual = torch.compile(visual) if compile else visual

    # -- images --------------------------------------------------------------------------------

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")

    def _upload(self, x: torch.Tensor) -> torch.Tensor:
        if self._copy_stream is None:
            return x.to(self.device, non_blocking=True)
        # On a side stream the upload of batch i+1 overlaps the compute of batch i instead of
        # queueing behind it on the default stream.
        with torch.cuda.stream(self._copy_stream):
            x_dev = x.to(self.device, non_blocking=True)
        current = torch.cuda.current_stream(self.device)
        current.wait_stream(self._copy_stream)
        x_dev.record_stream(current)  # keep the allocator from reusing it too early
        return x_dev

    def _encode_batch(self, x: torch.Tensor, pad_to: int) -> _Encoded:
        """x: (b, 3, H, W) uint8 (or float32 if preprocess could not be split) on the host.

        Returns the (b, d) L2-normalised float32 embeddings on the host; on CUDA the copy is
        only queued (pinned buffer + event) so the caller can queue the next batch first.
        """
        n = x.shape[0]
        with torch.inference_mode():
            x = self._upload(x)
            if self._mean is not None and self._std is not None:
                # Same ops, same order as ToTensor + Normalize: bit-identical in fp32.
                x = x.float().div_(255).sub_(self._mean).div_(self._std)
            if self._compiled and n < pad_to:
                # A short last batch would make torch.compile trace a second graph.
                x = torch.cat([x, x.new_zeros((pad_to - n, *x.shape[1:]))])
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                feats = self._visual(x)[:n]
            feats = F.normalize(feats.float(), dim=-1)
            if self.device.type != "cuda":
                return _Encoded(feats, None)
            host = torch.empty(feats.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(feats, non_blocking=True)
            done = torch.cuda.Event()
            done.record()
        return _Encoded(host, done)

    def image_loader(self, paths: Sequence[Path], *, batch_size: int, workers: int
                     ) -> DataLoader[tuple[int, torch.Tensor | None, str | None]]:
        """Batches of (positions, (b, 3, H, W) uint8 images or None, [(position, error)]).

        Whole batches are decoded and preprocessed inside the worker processes; pinned on CUDA.
        """
        return DataLoader(
            _ImageFiles(paths, self._worker_transform),
            batch_size=batch_size,
            shuffle=False,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=2 if workers > 0 else None,  # batches in flight per worker
        )

    def _iter_device_batches(
        self, paths: Sequence[Path], *, batch_size: int, workers: int
    ) -> Generator[tuple[NDArray[np.intp], _Encoded], None, None]:
        """Yield (positions in `paths`, (b, d) normalised embeddings, maybe still in transit).

        Raises InputError naming the file at the first image that cannot be decoded, after
        yielding every batch before it (so callers can keep them).
        """
        loader = self.image_loader(paths, batch_size=batch_size, workers=workers)
        for index, x, errors in loader:
            if errors:
                i, message = errors[0]
                raise InputError(f"cannot read image {paths[i]}: {message}")
            assert x is not None
            yield index.numpy(), self._encode_batch(x, batch_size)

    def embed_images(
        self,
        images: Sequence[tuple[str, Path]],
        cache: EmbeddingCache | None = None,
        *,
        batch_size: int = 64,
        workers: int = 0,
        progress: Progress | None = None,
        chunk_size: int = 4096,
    ) -> ImageEmbeddings:
        """Embeddings of (sha256, path) images; each distinct sha256 is encoded at most once and
        only if `cache` lacks it. New embeddings go to the cache in chunks of `chunk_size`, and
        whatever was encoded when the loop stops, even by an exception or Ctrl-C, is written
        too: a rerun encodes only what is missing.

        progress(done, total) counts images that need encoding; it is called once with done=0.
        """
        if batch_size < 1 or workers < 0:
            raise InputError("batch size must be >= 1 and workers >= 0")
        if not images:
            raise InputError("no images to score")
        shas = [sha for sha, _ in images]
        first: dict[str, int] = {}
        for i, sha in enumerate(shas):
            first.setdefault(sha, i)
        unique = list(first)
        if cache is not None:
            hit = cache.lookup(unique)
            found, cached = hit.found, hit.embeddings
        else:
            found, cached = np.zeros(len(unique), dtype=bool), None
        todo = np.flatnonzero(~found)
        if progress is not None:
            progress(0, len(todo))
        t0 = time.perf_counter()
        emb = cached
        if len(todo):
            todo_paths = [Path(images[first[unique[i]]][1]) for i in todo]
            writing: AbstractContextManager[ChunkWriter | None] = (
                cache.writer(chunk_size) if cache is not None else nullcontext()
            )
            with writing as writer:
                sink = _BatchSink(unique, todo, cached, writer, progress)
                batches = self._iter_device_batches(todo_paths, batch_size=batch_size,
                                                    workers=workers)
                pending: tuple[NDArray[np.intp], _Encoded] | None = None
                finished = False
                try:
                    for item in batches:
                        # The host waits for batch i only once batch i+1 is queued on the
                        # device, so the GPU does not idle while the host handles batch i.
                        previous, pending = pending, item
                        if previous is not None:
                            sink.take(*previous, report=True)
                    finished = True
                finally:
                    batches.close()  # shuts the DataLoader workers down now, not at GC
                    if pending is not None:
                        last, pending = pending, None
                        sink.take(*last, report=finished)
            emb = sink.embeddings
            if cache is not None:
                cache.maybe_compact()
        seconds = time.perf_counter() - t0 if len(todo) else 0.0
        assert emb is not None
        position = {s: k for k, s in enumerate(unique)}
        rows_for_input = np.fromiter((position[s] for s in shas), dtype=np.intp, count=len(shas))
        return ImageEmbeddings(
            sha256=tuple(shas),
            embeddings=emb[rows_for_input],
            n_encoded=int(len(todo)),
            n_cached=int(found.sum()),
            encode_seconds=seconds,
        )

    # -- texts ---------------------------------------------------------------------------------

    def encode_texts(self, concepts: Sequence[str], prompts: Sequence[str] = DEFAULT_PROMPTS,
                     *, batch_size: int = 256) -> NDArray[np.float32]:
        """(n_concepts, d) float32: per template normalise, average over templates, renormalise.

        Templates put the concept where '{}' is (str.replace, so braces in concepts are safe).
        """
        templates = check_prompts(prompts)
        if not concepts:
            raise InputError("no concepts to score")
        total: torch.Tensor | None = None
        for template in templates:
            texts = [template.replace("{}", c) for c in concepts]
            parts = []
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(texts[start:start + batch_size]).to(self.device)
                with torch.inference_mode(), self._autocast():
                    feats = self.model.encode_text(tokens)  # type: ignore[operator]
                parts.append(F.normalize(feats.float(), dim=-1))
            emb = torch.cat(parts)
            total = emb if total is None else total + emb
        assert total is not None
        return F.normalize(total / len(templates), dim=-1).cpu().numpy()

    # -- both ----------------------------------------------------------------------------------

    def score(
        self,
        images: Sequence[tuple[str, Path]],
        concepts: Sequence[str],
        cache: EmbeddingCache | None,
        *,
        calibration: Calibration,
        batch_size: int = 64,
        workers: int = 0,
        prompts: Sequence[str] = DEFAULT_PROMPTS,
        progress: Progress | None = None,
        chunk_size: int = 4096,
    ) -> ConceptScores:
        """Probability that each concept is present in each image.

        images: (sha256, path) pairs; concepts: texts (scored once each, order kept).
        Returns probs = sigmoid(a * (cos + b)) with cos = <img, txt> of L2-normalised embeddings.
        """
        check_prompts(prompts)
        if not concepts:
            raise InputError("no concepts to score")
        if len(set(concepts)) != len(concepts):
            raise InputError("concepts must be distinct (each is scored once)")
        img = self.embed_images(images, cache, batch_size=batch_size, workers=workers,
                                progress=progress, chunk_size=chunk_size)
        txt = self.encode_texts(concepts, prompts)
        cosine = (img.embeddings @ txt.T).astype(np.float32)
        return ConceptScores(
            sha256=img.sha256,
            concepts=tuple(concepts),
            probs=apply_calibration(cosine, calibration),
            cosine=cosine,
            calibration=calibration,
            n_encoded=img.n_encoded,
            n_cached=img.n_cached,
            encode_seconds=img.encode_seconds,
        )
