"""File formats of the concept commands (numpy only, no torch).

- image list CSV: columns `input_id,image`; image paths relative to the CSV's folder.
- concepts text: one concept per line; blank lines ignored; repeated concepts kept once.
- scores .npz: `input_ids` (n_inputs,) str, `concepts` (n_concepts,) str, `probs` and `cosine`
  (n_inputs, n_concepts) float32, `calibration` () str (JSON of the Calibration), `model` () str.
- labels CSV: columns `input_id,concept,label`, label in [0, 1] (1 = present); one row per
  labelled (input, concept) pair, pairs without a row are simply not used.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from turkops.arrays import sha256_file  # one hashing routine for study files and images
from turkops.concepts.calibration import Calibration
from turkops.domain import InputError, NotFoundError


@dataclass(frozen=True, slots=True)
class ImageRef:
    input_id: str
    path: Path
    sha256: str


@dataclass(frozen=True, slots=True)
class ScoresFile:
    input_ids: tuple[str, ...]
    concepts: tuple[str, ...]
    probs: NDArray[np.float32]  # (n_inputs, n_concepts) in [0, 1]
    cosine: NDArray[np.float32] | None  # (n_inputs, n_concepts), absent in imported files
    calibration: Calibration | None
    model: str


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise NotFoundError(f"file not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in required if c not in columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} "
                             f"(need {','.join(required)}, found {','.join(columns) or 'none'})")
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def read_image_list(csv_path: Path) -> list[ImageRef]:
    """Rows of an `input_id,image` CSV with resolved paths and the sha256 of each file."""
    rows = _read_csv(csv_path, ("input_id", "image"))
    base = csv_path.parent
    refs: list[ImageRef] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        input_id, image = row["input_id"], row["image"]
        if not input_id or not image:
            raise InputError(f"{csv_path}:{line}: empty input_id or image")
        if input_id in seen:
            raise InputError(f"{csv_path}:{line}: input_id {input_id!r} appears twice")
        seen.add(input_id)
        path = Path(image) if os.path.isabs(image) else base / image
        if not path.is_file():
            raise NotFoundError(f"{csv_path}:{line}: image not found: {path}")
        refs.append(ImageRef(input_id, path, sha256_file(path)))
    if not refs:
        raise InputError(f"{csv_path}: no images listed")
    return refs


def read_concepts(path: Path) -> list[str]:
    if not path.is_file():
        raise NotFoundError(f"file not found: {path}")
    concepts: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.strip()
        if text and text not in concepts:
            concepts.append(text)
    if not concepts:
        raise InputError(f"{path}: no concepts (one per line)")
    return concepts


def write_scores(path: Path, scores: ScoresFile) -> None:
    """Write atomically (temp file + os.replace) so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    arrays: dict[str, NDArray[np.generic]] = {
        "input_ids": np.asarray(scores.input_ids, dtype=str),
        "concepts": np.asarray(scores.concepts, dtype=str),
        "probs": np.asarray(scores.probs, dtype=np.float32),
        "calibration": np.asarray(scores.calibration.to_json() if scores.calibration else ""),
        "model": np.asarray(scores.model),
    }
    if scores.cosine is not None:
        arrays["cosine"] = np.asarray(scores.cosine, dtype=np.float32)
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def read_scores(path: Path) -> ScoresFile:
    if not path.is_file():
        raise NotFoundError(f"file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = set(data.files)
            missing = {"concepts", "probs"} - names
            if missing:
                raise InputError(f"{path}: missing array(s) {', '.join(sorted(missing))}")
            probs = np.asarray(data["probs"], dtype=np.float32)
            concepts = tuple(str(c) for c in data["concepts"].tolist())
            ids = (tuple(str(i) for i in data["input_ids"].tolist()) if "input_ids" in names
                   else tuple(str(i) for i in range(probs.shape[0])))
            cosine = np.asarray(data["cosine"], dtype=np.float32) if "cosine" in names else None
            cal_text = str(data["calibration"]) if "calibration" in names else ""
            model = str(data["model"]) if "model" in names else ""
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from exc
    if probs.ndim != 2 or probs.shape != (len(ids), len(concepts)):
        raise InputError(f"{path}: probs has shape {probs.shape}, expected "
                         f"({len(ids)}, {len(concepts)})")
    if cosine is not None and cosine.shape != probs.shape:
        raise InputError(f"{path}: cosine shape {cosine.shape} differs from probs {probs.shape}")
    calibration = Calibration.from_json(cal_text) if cal_text else None
    return ScoresFile(ids, concepts, probs, cosine, calibration, model)


def read_labels(path: Path, scores: ScoresFile) -> tuple[NDArray[np.intp], NDArray[np.intp],
                                                         NDArray[np.float64]]:
    """Rows of an `input_id,concept,label` CSV -> (input index, concept index, label) arrays."""
    rows = _read_csv(path, ("input_id", "concept", "label"))
    id_index = {v: i for i, v in enumerate(scores.input_ids)}
    concept_index = {v: j for j, v in enumerate(scores.concepts)}
    ii: list[int] = []
    jj: list[int] = []
    ys: list[float] = []
    for line, row in enumerate(rows, start=2):
        i = id_index.get(row["input_id"])
        j = concept_index.get(row["concept"])
        if i is None:
            raise InputError(f"{path}:{line}: input_id {row['input_id']!r} is not in the scores")
        if j is None:
            raise InputError(f"{path}:{line}: concept {row['concept']!r} is not in the scores")
        try:
            y = float(row["label"])
        except ValueError:
            raise InputError(f"{path}:{line}: label {row['label']!r} is not a number") from None
        if not 0.0 <= y <= 1.0:
            raise InputError(f"{path}:{line}: label {y} is outside [0, 1]")
        ii.append(i)
        jj.append(j)
        ys.append(y)
    if not ys:
        raise InputError(f"{path}: no labelled pairs")
    return np.asarray(ii, dtype=np.intp), np.asarray(jj, dtype=np.intp), np.asarray(ys)


def read_calibration(path: Path) -> Calibration:
    if not path.is_file():
        raise NotFoundError(f"file not found: {path}")
    return Calibration.from_json(path.read_text(encoding="utf-8"))


def write_calibration(path: Path, calibration: Calibration) -> None:
    path.write_text(calibration.to_json() + "\n", encoding="utf-8")


__all__ = [
    "ImageRef",
    "ScoresFile",
    "read_calibration",
    "read_concepts",
    "read_image_list",
    "read_labels",
    "read_scores",
    "sha256_file",
    "write_calibration",
    "write_scores",
]
