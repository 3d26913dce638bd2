"""The ground truth simulated workers answer from: truth.csv with columns image,concept,present."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from turkops.domain import InputError, NotFoundError

TRUTH_COLUMNS = ("image", "concept", "present")


def normalize_concept(text: str) -> str:
    """Whitespace-collapsed concept, as a browser renders the page's `#concept` element."""
    return " ".join(text.split())


def load_truth(path: Path | str) -> dict[tuple[str, str], bool]:
    """{(image reference, concept): present} from a CSV `image,concept,present` (present 0/1).

    `image` is kept exactly as written (it must equal the study's inputs.csv reference);
    the concept is whitespace-normalized. Bad input raises InputError naming file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: truth file not found")
    truth: dict[tuple[str, str], bool] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in TRUTH_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    f"{path}: missing column(s) {', '.join(missing)}; "
                    f"expected header {','.join(TRUTH_COLUMNS)}"
                )
            for row in reader:
                line = reader.line_num
                image = (row.get("image") or "").strip()
                concept = normalize_concept(row.get("concept") or "")
                present = (row.get("present") or "").strip()
                if not image or not concept:
                    raise InputError(f"{path}: line {line}: image and concept must be non-empty")
                if present not in ("0", "1"):
                    raise InputError(
                        f"{path}: line {line}: present must be 0 or 1, got {present!r}"
                    )
                key, value = (image, concept), present == "1"
                if truth.get(key, value) != value:
                    raise InputError(
                        f"{path}: line {line}: ({image}, {concept}) contradicts an earlier row"
                    )
                truth[key] = value
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV: {exc}") from None
    return truth


def normalized_truth(truth: Mapping[tuple[str, str], bool]) -> dict[tuple[str, str], bool]:
    return {(image, normalize_concept(concept)): bool(v) for (image, concept), v in truth.items()}
