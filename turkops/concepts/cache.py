"""On-disk cache of per-image feature rows (numpy only, no torch): L2-normalised SigLIP
embeddings for concept scoring, pooled layer outputs for activation extraction.

Layout: ROOT/<model slug>/<key digest>/ holds `key.json` (the full CacheKey, for people and to
catch digest collisions) and chunk files `chunk-*.npz`, each with
`sha256` (n,) str and `embeddings` (n, d) float32.

A chunk is written to a temporary name in the same directory and then os.replace()d into place,
which is atomic on POSIX: a reader sees a whole chunk or none, so a run killed mid-way loses at
most the chunk it was filling, and a rerun encodes exactly the images that are not in a chunk.
Several processes may add chunks at once (unique names); duplicates across chunks are harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from turkops.domain import DataIntegrityError

logger = logging.getLogger(__name__)

CHUNK_GLOB = "chunk-*.npz"
_COMPACT_ABOVE = 64  # chunk files; merging keeps lookups to a few file opens


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Everything that changes an image embedding besides the image bytes.

    weights: "sha256:<hex>" of the checkpoint file (hub tags resolve to their cached file, so a
    tag and a local copy of the same file share entries), or another stable label.
    precision: "fp32" | "bf16" (bf16 embeddings differ in the 3rd digit, so they are kept apart).
    preprocess: a canonical description of the image preprocessing (size, resize, mean/std).
    """

    model_name: str
    weights: str
    precision: str
    preprocess: str

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """found: (n,) bool; embeddings: (n, d) float32 (rows of missing images are zero), or None
    when nothing was found (d unknown)."""

    found: NDArray[np.bool_]
    embeddings: NDArray[np.float32] | None


class EmbeddingCache:
    def __init__(self, root: Path, key: CacheKey) -> None:
        self.root = Path(root)
        self.key = key
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key.model_name)[:80] or "model"
        self.directory = self.root / slug / key.digest()

    def _chunk_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(CHUNK_GLOB))

    def _read_chunk(self, path: Path) -> tuple[NDArray[np.str_], NDArray[np.float32]] | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                shas = data["sha256"]
                embs = data["embeddings"]
        except FileNotFoundError:
            return None  # compacted away by another process between glob and open
        except (OSError, ValueError, KeyError) as exc:
            # A cache entry is only a saving: re-encoding is always correct.
            logger.warning("ignoring unreadable embedding chunk %s: %s", path, exc)
            return None
        if embs.ndim != 2 or shas.shape != (embs.shape[0],):
            logger.warning("ignoring malformed embedding chunk %s", path)
            return None
        return shas, embs.astype(np.float32, copy=False)

    def __len__(self) -> int:
        seen: set[str] = set()
        for path in self._chunk_files():
            chunk = self._read_chunk(path)
            if chunk is not None:
                seen.update(chunk[0].tolist())
        return len(seen)

    def lookup(self, shas: Sequence[str]) -> CacheLookup:
        """Embeddings for the given image sha256s (any order, no duplicates needed)."""
        where: dict[str, list[int]] = {}
        for i, sha in enumerate(shas):
            where.setdefault(sha, []).append(i)
        found = np.zeros(len(shas), dtype=bool)
        out: NDArray[np.float32] | None = None
        remaining = len(where)
        for path in self._chunk_files():
            if remaining == 0:
                break
            chunk = self._read_chunk(path)
            if chunk is None:
                continue
            chunk_shas, chunk_embs = chunk
            if out is None:
                out = np.zeros((len(shas), chunk_embs.shape[1]), dtype=np.float32)
            elif chunk_embs.shape[1] != out.shape[1]:
                raise DataIntegrityError(
                    f"embedding cache {self.directory} mixes dimensions "
                    f"{out.shape[1]} and {chunk_embs.shape[1]}: delete that directory"
                )
            for row, sha in enumerate(chunk_shas.tolist()):
                rows = where.get(sha)
                if rows is None or found[rows[0]]:
                    continue
                out[rows] = chunk_embs[row]
                found[rows] = True
                remaining -= 1
        return CacheLookup(found=found, embeddings=out if found.any() else None)

    def add(self, shas: Sequence[str], embeddings: NDArray[np.float32], *,
            tag: str = "") -> Path | None:
        """Write one chunk atomically; embeddings: (len(shas), d) float32.

        tag: a label in the file name (e.g. "r3" for rank 3), for people inspecting the cache.
        """
        if len(shas) == 0:
            return None
        embs = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embs.shape[0] != len(shas) or embs.ndim != 2:
            raise ValueError(f"embeddings {embs.shape} do not match {len(shas)} sha256s")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_key()
        label = f"-{re.sub(r'[^A-Za-z0-9]+', '', tag)}" if tag else ""
        name = f"chunk-{time.time_ns():020d}{label}-{uuid.uuid4().hex[:8]}.npz"
        self._atomic_savez(self.directory / name, np.asarray(shas, dtype="U64"), embs)
        return self.directory / name

    def _write_key(self) -> None:
        key_file = self.directory / "key.json"
        if key_file.exists():
            stored = json.loads(key_file.read_text())
            if stored != asdict(self.key):
                raise DataIntegrityError(f"embedding cache {self.directory} belongs to another "
                                         f"model ({stored}): delete that directory")
            return
        tmp = self.directory / f".tmp-key-{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps(asdict(self.key), indent=2, sort_keys=True))
        os.replace(tmp, key_file)

    def _atomic_savez(self, target: Path, shas: NDArray[np.str_],
                      embs: NDArray[np.float32]) -> None:
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, sha256=shas, embeddings=embs)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def compact(self) -> int:
        """Merge all chunks into one (deduplicated); returns the number of chunks merged."""
        files = self._chunk_files()
        if len(files) < 2:
            return 0
        shas: list[str] = []
        parts: list[NDArray[np.float32]] = []
        seen: set[str] = set()
        for path in files:
            chunk = self._read_chunk(path)
            if chunk is None:
                continue
            keep = [i for i, s in enumerate(chunk[0].tolist()) if s not in seen]
            seen.update(chunk[0][keep].tolist())
            shas.extend(chunk[0][keep].tolist())
            parts.append(chunk[1][keep])
        if parts:
            # Write the merged chunk before deleting anything: a crash in between leaves
            # duplicates, never a loss.
            self.add(shas, np.concatenate(parts))
        for path in files:
            path.unlink(missing_ok=True)
        return len(files)

    def maybe_compact(self) -> None:
        if len(self._chunk_files()) > _COMPACT_ABOVE:
            self.compact()

    @contextmanager
    def writer(self, chunk_size: int = 4096, max_seconds: float = 60.0,
               tag: str = "") -> Iterator[ChunkWriter]:
        """Buffer embeddings and write a chunk every `chunk_size` images or `max_seconds`.

        The buffer is also written when the block exits, normally or by an exception (Ctrl-C
        included), so only a hard kill can lose the images of the current chunk.
        """
        w = ChunkWriter(self, chunk_size, max_seconds, tag)
        try:
            yield w
        finally:
            w.flush()


class ChunkWriter:
    def __init__(self, cache: EmbeddingCache, chunk_size: int, max_seconds: float,
                 tag: str = "") -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self._cache = cache
        self._chunk_size = chunk_size
        self._max_seconds = max_seconds
        self._tag = tag
        self._shas: list[str] = []
        self._embs: list[NDArray[np.float32]] = []
        self._since = time.monotonic()
        self.written = 0

    def append(self, shas: Sequence[str], embeddings: NDArray[np.float32]) -> None:
        self._shas.extend(shas)
        self._embs.append(np.asarray(embeddings, dtype=np.float32))
        if (len(self._shas) >= self._chunk_size
                or time.monotonic() - self._since >= self._max_seconds):
            self.flush()

    def flush(self) -> None:
        if self._shas:
            self._cache.add(self._shas, np.concatenate(self._embs), tag=self._tag)
            self.written += len(self._shas)
        self._shas, self._embs = [], []
        self._since = time.monotonic()
