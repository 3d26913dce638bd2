"""Array files beside the database: written atomically, read back only if the sha256 matches."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turkops.domain import DataIntegrityError

_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredArray:
    path: Path
    shape: tuple[int, ...]
    dtype: str
    sha256: str


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_BLOCK):
            h.update(chunk)
    return h.hexdigest()


def write_array(path: Path, array: np.ndarray) -> StoredArray:
    """Write `array` as .npy via a temp file + fsync + rename, so a crash leaves old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return StoredArray(path, tuple(array.shape), str(array.dtype), sha256_file(path))


def read_array(path: Path, shape: tuple[int, ...], dtype: str, sha256: str) -> np.ndarray:
    """Load a recorded array, refusing a file that is missing or no longer matches its record."""
    if not path.is_file():
        raise DataIntegrityError(f"{path}: recorded array file is missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise DataIntegrityError(
            f"{path}: contents changed since it was recorded (sha256 {actual[:12]}..., "
            f"expected {sha256[:12]}...); refusing to use it"
        )
    arr = np.load(path, allow_pickle=False)
    if tuple(arr.shape) != tuple(shape) or str(arr.dtype) != dtype:
        raise DataIntegrityError(
            f"{path}: shape {arr.shape} dtype {arr.dtype} differ from the recorded "
            f"{tuple(shape)} {dtype}"
        )
    return arr
