"""Running an image model over image files, batch by batch, with a resumable on-disk cache.

`ImageEncoder` is the shared engine of concept scoring (SiglipScorer: normalised SigLIP
embeddings) and activation extraction (turkops.activations: a layer's pooled outputs); a
subclass only says what one batch of images becomes (`_features`).

Speed on a GPU comes from keeping the accelerator fed:
- DataLoader workers decode + resize whole batches (PIL, exactly the model's preprocessing) and
  hand back uint8 tensors: 4x less to move through shared memory, pinned memory and PCIe than
  float32; the float conversion and mean/std normalisation run on the device instead.
- pinned host memory + non_blocking uploads on a side stream (overlapping the previous batch's
  compute), bf16 autocast, channels-last inputs, optional torch.compile (the last batch is
  padded so it compiles once);
- features come back by a non-blocking copy into pinned memory marked by an event, and the
  host waits for batch i only after batch i+1 is queued, so the GPU does not idle while the
  host writes the cache.

Several processes (torchrun ranks) split the images with `embed_shard`: each encodes a
contiguous slice of the distinct images into the shared cache; the main rank then reads the
whole result from it (see turkops.concepts.distributed).
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
from numpy.typing import NDArray
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from turkops.concepts.cache import ChunkWriter, EmbeddingCache
from turkops.concepts.distributed import Ranks, ShardStats, gather_shard_stats
from turkops.domain import InputError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ImageEmbeddings:
    """embeddings: (n_images, d) float32, rows in the order images were given (L2-normalised
    for SiglipScorer, raw layer outputs for activation extraction)."""

    sha256: tuple[str, ...]
    embeddings: NDArray[np.float32]
    n_encoded: int  # distinct images run through the model in this call
    n_cached: int  # distinct images found in the cache
    encode_seconds: float  # wall time of the encoding loop (decode + model), 0 if all cached


def default_workers(device: torch.device) -> int:
    """Decode processes: on CUDA enough to keep up with the GPU; on CPU decoding in the main
    process avoids competing with the model for the same cores."""
    if device.type != "cuda":
        return 0
    return max(1, min(12, (os.cpu_count() or 2) - 2))


def split_preprocess(preprocess: Callable[[Any], torch.Tensor]
                     ) -> tuple[Callable[[Any], torch.Tensor], torch.Tensor, torch.Tensor] | None:
    """(PIL part ending in uint8 tensor, mean, std) when `preprocess` ends in ToTensor+Normalize.

    open_clip's, timm's and torchvision's eval transforms do; anything else is used as given
    (float32 from the workers).
    """
    from torchvision.transforms import Compose, Normalize, PILToTensor, ToTensor

    steps = getattr(preprocess, "transforms", None)
    if (not isinstance(preprocess, Compose) or not steps or len(steps) < 2
            or not isinstance(steps[-1], Normalize)
            # timm's MaybeToTensor is ToTensor for PIL images
            or not (isinstance(steps[-2], ToTensor)
                    or type(steps[-2]).__name__ == "MaybeToTensor")):
        return None
    mean = torch.as_tensor(steps[-1].mean, dtype=torch.float32)
    std = torch.as_tensor(steps[-1].std, dtype=torch.float32)
    return Compose([*steps[:-2], PILToTensor()]), mean, std


def unique_images(images: Sequence[tuple[str, Path]]) -> tuple[list[str], dict[str, int]]:
    """Distinct sha256s in first-seen order, and the first position of each in `images`."""
    first: dict[str, int] = {}
    for i, (sha, _) in enumerate(images):
        first.setdefault(sha, i)
    return list(first), first


class ImageFiles(Dataset[tuple[int, torch.Tensor | None, str | None]]):
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


def collate_images(items: list[tuple[int, torch.Tensor | None, str | None]]
                   ) -> tuple[torch.Tensor, torch.Tensor | None, list[tuple[int, str]]]:
    index = torch.tensor([i for i, _, _ in items], dtype=torch.long)
    errors = [(i, e) for i, _, e in items if e is not None]
    good = [t for _, t, _ in items if t is not None]
    return index, (torch.stack(good) if good and not errors else None), errors


@dataclass(frozen=True, slots=True)
class _Encoded:
    """Host features of one batch; on CUDA valid once `ready` has fired."""

    host: torch.Tensor
    ready: torch.cuda.Event | None

    def numpy(self) -> NDArray[np.float32]:
        if self.ready is not None:
            self.ready.synchronize()
        return self.host.numpy()


class _BatchSink:
    """Receives encoded batches: fills the feature matrix, the cache writer and progress."""

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


class ImageEncoder:
    """Turns image files into (n, d) float32 feature rows with `_features`, cached by sha256.

    preprocess: the model's eval image transform (PIL image -> (3, H, W) float tensor).
    precision "bf16" runs under bf16 autocast (CUDA or CPU); "fp32" runs plain fp32.
    """

    def __init__(
        self,
        preprocess: Callable[[Any], torch.Tensor],
        *,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
        self.preprocess = preprocess
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
        self._compiled = compile

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """(b, 3, H, W) normalised images on the device -> (b, d) features (any float dtype)."""
        raise NotImplementedError

    def _finish(self, feats: torch.Tensor) -> torch.Tensor:
        """(b, d) float32 features, outside autocast; e.g. normalisation."""
        return feats

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

        Returns the (b, d) float32 features on the host; on CUDA the copy is only queued
        (pinned buffer + event) so the caller can queue the next batch first.
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
                feats = self._features(x)[:n]
            feats = self._finish(feats.float())
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
            ImageFiles(paths, self._worker_transform),
            batch_size=batch_size,
            shuffle=False,
            num_workers=workers,
            collate_fn=collate_images,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=2 if workers > 0 else None,  # batches in flight per worker
        )

    def _iter_device_batches(
        self, paths: Sequence[Path], *, batch_size: int, workers: int
    ) -> Generator[tuple[NDArray[np.intp], _Encoded], None, None]:
        """Yield (positions in `paths`, (b, d) features, maybe still in transit).

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

    def _encode_missing(
        self, unique: list[str], paths: list[Path], cache: EmbeddingCache | None, *,
        batch_size: int, workers: int, progress: Progress | None, chunk_size: int,
        chunk_tag: str = "",
    ) -> tuple[NDArray[np.float32] | None, NDArray[np.bool_], int, float]:
        """Features of `unique` images (paths aligned), encoding only what the cache lacks.

        Returns (features or None if nothing at all, found-in-cache mask, n encoded, seconds).
        """
        if cache is not None:
            hit = cache.lookup(unique)
            found, cached = hit.found, hit.embeddings
        else:
            found, cached = np.zeros(len(unique), dtype=bool), None
        todo = np.flatnonzero(~found)
        if progress is not None:
            progress(0, len(todo))
        if not len(todo):
            return cached, found, 0, 0.0
        t0 = time.perf_counter()
        todo_paths = [paths[i] for i in todo]
        writing: AbstractContextManager[ChunkWriter | None] = (
            cache.writer(chunk_size, tag=chunk_tag) if cache is not None else nullcontext()
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
        return sink.embeddings, found, int(len(todo)), time.perf_counter() - t0

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
        """Features of (sha256, path) images; each distinct sha256 is encoded at most once and
        only if `cache` lacks it. New features go to the cache in chunks of `chunk_size`, and
        whatever was encoded when the loop stops, even by an exception or Ctrl-C, is written
        too: a rerun encodes only what is missing.

        progress(done, total) counts images that need encoding; it is called once with done=0.
        """
        _check_run(images, batch_size, workers)
        shas = [sha for sha, _ in images]
        unique, first = unique_images(images)
        paths = [Path(images[first[s]][1]) for s in unique]
        emb, found, n_encoded, seconds = self._encode_missing(
            unique, paths, cache, batch_size=batch_size, workers=workers, progress=progress,
            chunk_size=chunk_size)
        if n_encoded and cache is not None:
            cache.maybe_compact()
        assert emb is not None
        position = {s: k for k, s in enumerate(unique)}
        rows_for_input = np.fromiter((position[s] for s in shas), dtype=np.intp, count=len(shas))
        return ImageEmbeddings(
            sha256=tuple(shas),
            embeddings=emb[rows_for_input],
            n_encoded=n_encoded,
            n_cached=int(found.sum()),
            encode_seconds=seconds,
        )

    def embed_shard(
        self,
        images: Sequence[tuple[str, Path]],
        cache: EmbeddingCache,
        ranks: Ranks,
        *,
        batch_size: int = 64,
        workers: int = 0,
        progress: Progress | None = None,
        chunk_size: int = 4096,
    ) -> ShardStats:
        """Collective (every rank calls it with the same images): encode this rank's slice.

        The distinct images, in first-seen order, are cut into `ranks.world_size` contiguous
        slices of whole batches (batch counts differ by at most one; no image is padded in
        twice, unlike DistributedSampler), so a fresh run gives bit-identical features to one
        process with the same batch size. Each rank looks up only its slice in the cache, so
        ranks never race on a shared to-do list, and a rerun after any rank died encodes exactly
        what no chunk holds. Chunks are tagged with the rank. Returns the totals over all
        ranks once every rank has finished; an error on any rank is raised on all of them.
        """
        _check_run(images, batch_size, workers)
        unique, first = unique_images(images)
        start, stop = ranks.bounds(len(unique), unit=batch_size)
        mine = unique[start:stop]
        paths = [Path(images[first[s]][1]) for s in mine]
        error: str | None = None
        n_encoded, n_cached, seconds = 0, 0, 0.0
        try:
            if mine:
                _, found, n_encoded, seconds = self._encode_missing(
                    mine, paths, cache, batch_size=batch_size, workers=workers,
                    progress=progress, chunk_size=chunk_size, chunk_tag=f"r{ranks.rank}")
                n_cached = int(found.sum())
        except InputError as exc:
            # Reported to every rank instead of raised here: a rank that left would leave the
            # others waiting for it in the gather below until the process group times out.
            error = str(exc)
        return gather_shard_stats(ranks, ShardStats(n_encoded, n_cached, seconds), error)


def _check_run(images: Sequence[tuple[str, Path]], batch_size: int, workers: int) -> None:
    if batch_size < 1 or workers < 0:
        raise InputError("batch size must be >= 1 and workers >= 0")
    if not images:
        raise InputError("no images to encode")
