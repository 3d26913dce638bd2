"""Reading and validating the user's study files; every problem is one InputError line.

Formats (README "File formats"):
- inputs.csv: columns input_id,image; image is a path relative to the CSV or an http(s) URL;
  row i is row i of the activations. A local image must lie inside the CSV's folder (after
  resolving symlinks) unless the caller allows outside paths, and must be an image Pillow can
  read of at most MAX_IMAGE_PIXELS pixels.
- activations .npy: float array (n_inputs, n_neurons), finite.
- explanations.csv: columns neuron,method,concept; neuron is a column index of the activations.
- concept scores .npz: arrays `concepts` (n_concepts,) str and `probs` (n_inputs, n_concepts).
"""

from __future__ import annotations

import csv
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from turkops.domain import InputError

MAX_CONCEPT_CHARS = 200
MAX_ID_CHARS = 255
_URL = re.compile(r"^https?://", re.IGNORECASE)
_CHUNK_ROWS = 4096
# 50 megapixels: above any photo a rater needs to see (8000 x 6000 is 48 MP), far below what
# exhausts memory when decoded (a 196 MP PNG is 588 MB of RGB). Pillow's own bomb check
# (89 MP warning, 179 MP error) is caught too, so no global Pillow setting is relied on.
MAX_IMAGE_PIXELS = 50_000_000


@dataclass(frozen=True, slots=True)
class InputRow:
    input_id: str
    image: str  # exactly as written in inputs.csv
    image_path: Path | None  # resolved local file, None for URLs


@dataclass(frozen=True, slots=True)
class ExplanationRow:
    neuron: int
    method: str
    concept: str


@dataclass(frozen=True, slots=True)
class ConceptScores:
    concepts: tuple[str, ...]
    probs: np.ndarray  # (n_inputs, n_concepts) float32 in [0, 1]


def is_url(image: str) -> bool:
    return bool(_URL.match(image))


def check_image(path: Path) -> tuple[int, int]:
    """(width, height) of a readable image of at most MAX_IMAGE_PIXELS; else an InputError.

    Reads the header and verifies the file's structure without decoding its pixels, so a
    decompression bomb is refused before it costs memory.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise InputError(
                        f"{width}x{height} pixels is more than the "
                        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels allowed"
                    )
                img.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise InputError("not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # verify() reports a truncated/corrupt file as OSError or SyntaxError.
        raise InputError(f"not a readable image ({exc})") from None
    return width, height


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows with their 1-based line numbers (header = line 1), after checking the header."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(
                    f"{path}: missing column(s) {', '.join(missing)} "
                    f"(expected header {','.join(required)}, found {','.join(header) or 'none'})"
                )
            rows = []
            for row in reader:
                clean = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
                rows.append((reader.line_num, clean))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text CSV file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise InputError(f"{path}: no data rows")
    return rows


def read_inputs(path: Path, allow_outside_paths: bool = False) -> list[InputRow]:
    """The probing set; local images are checked to be images inside the CSV's folder.

    The folder check resolves `..`, absolute paths and symlinks, because these files are later
    inlined into task pages and uploaded (`images publish`): a row must not reach /etc/passwd.
    """
    rows = _read_csv(path, ("input_id", "image"))
    seen: dict[str, int] = {}
    out: list[InputRow] = []
    base = path.resolve().parent
    for line, row in rows:
        input_id, image = row.get("input_id", ""), row.get("image", "")
        if not input_id:
            raise InputError(f"{path}: line {line}: empty input_id")
        if len(input_id) > MAX_ID_CHARS:
            raise InputError(f"{path}: line {line}: input_id longer than {MAX_ID_CHARS} chars")
        if input_id in seen:
            raise InputError(
                f"{path}: line {line}: duplicate input_id {input_id!r} (first on line "
                f"{seen[input_id]})"
            )
        seen[input_id] = line
        if not image:
            raise InputError(f"{path}: line {line}: empty image")
        if is_url(image):
            out.append(InputRow(input_id, image, None))
            continue
        local = (base / image).resolve()
        if not allow_outside_paths and not local.is_relative_to(base):
            raise InputError(
                f"{path}: line {line}: image {image!r} is outside the CSV's folder {base} "
                "(pass --allow-outside-paths if that is intended)"
            )
        if not local.is_file():
            raise InputError(f"{path}: line {line}: image file not found: {image}")
        try:
            check_image(local)
        except InputError as exc:
            raise InputError(f"{path}: line {line}: image {image!r}: {exc}") from None
        out.append(InputRow(input_id, image, local))
    return out


def read_activations(path: Path, n_inputs: int) -> np.ndarray:
    """The activation matrix as float32 (n_inputs, n_neurons); refuses NaN/inf and bad shapes."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: expected one .npy array, found an archive")
    if arr.ndim != 2:
        raise InputError(
            f"{path}: expected a 2-D array (n_inputs, n_neurons), got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{path}: expected a float array, got dtype {arr.dtype}")
    if arr.shape[0] != n_inputs:
        raise InputError(
            f"{path}: has {arr.shape[0]} rows but inputs.csv has {n_inputs} inputs "
            "(row i of the activations must be row i of inputs.csv)"
        )
    if arr.shape[1] == 0:
        raise InputError(f"{path}: has no neuron columns")
    out = np.empty(arr.shape, dtype=np.float32)
    # Chunked so a 50,000 x 3,000 file is checked without a second full-size temporary.
    for start in range(0, arr.shape[0], _CHUNK_ROWS):
        block = np.asarray(arr[start : start + _CHUNK_ROWS], dtype=np.float64)
        bad = ~np.isfinite(block)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise InputError(
                f"{path}: non-finite value {block[r, c]} at row {start + r}, neuron {c}"
            )
        out[start : start + _CHUNK_ROWS] = block
    return out


def read_explanations(path: Path, n_neurons: int) -> list[ExplanationRow]:
    rows = _read_csv(path, ("neuron", "method", "concept"))
    seen: dict[tuple[int, str], int] = {}
    out: list[ExplanationRow] = []
    for line, row in rows:
        raw_neuron, method, concept = (
            row.get("neuron", ""),
            row.get("method", ""),
            row.get("concept", ""),
        )
        try:
            neuron = int(raw_neuron)
        except ValueError:
            raise InputError(
                f"{path}: line {line}: column neuron: {raw_neuron!r} is not an integer"
            ) from None
        if not 0 <= neuron < n_neurons:
            raise InputError(
                f"{path}: line {line}: column neuron: {neuron} is out of range "
                f"(the activations have neurons 0..{n_neurons - 1})"
            )
        if not method:
            raise InputError(f"{path}: line {line}: column method: empty")
        if len(method) > 128:
            raise InputError(f"{path}: line {line}: column method: longer than 128 characters")
        if not concept:
            raise InputError(f"{path}: line {line}: column concept: empty concept text")
        if len(concept) > MAX_CONCEPT_CHARS:
            raise InputError(
                f"{path}: line {line}: column concept: {len(concept)} characters, "
                f"more than the {MAX_CONCEPT_CHARS} a task page can show"
            )
        key = (neuron, method)
        if key in seen:
            raise InputError(
                f"{path}: line {line}: method {method!r} explains neuron {neuron} twice "
                f"(first on line {seen[key]})"
            )
        seen[key] = line
        out.append(ExplanationRow(neuron, method, concept))
    return out


def read_concept_scores(path: Path, n_inputs: int) -> ConceptScores:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "concepts" not in npz.files or "probs" not in npz.files:
                raise InputError(
                    f"{path}: needs arrays 'concepts' and 'probs', found {', '.join(npz.files)}"
                )
            concepts_arr, probs = npz["concepts"], npz["probs"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz archive ({exc})") from None
    if concepts_arr.ndim != 1 or concepts_arr.dtype.kind not in "US":
        raise InputError(f"{path}: 'concepts' must be a 1-D array of strings")
    concepts = tuple(str(c) for c in concepts_arr.tolist())
    if len(set(concepts)) != len(concepts):
        raise InputError(f"{path}: 'concepts' has duplicate entries")
    if probs.ndim != 2 or probs.shape != (n_inputs, len(concepts)):
        raise InputError(
            f"{path}: 'probs' has shape {probs.shape}, expected ({n_inputs}, {len(concepts)}) "
            "(n_inputs, n_concepts)"
        )
    if not np.issubdtype(probs.dtype, np.floating):
        raise InputError(f"{path}: 'probs' must be floats, got {probs.dtype}")
    bad = ~np.isfinite(probs) | (probs < 0) | (probs > 1)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError(
            f"{path}: probability {probs[r, c]} outside [0, 1] at input row {r}, "
            f"concept {concepts[c]!r}"
        )
    return ConceptScores(concepts, probs.astype(np.float32))
