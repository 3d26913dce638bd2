"""Reading ratings from other tools for `turkops aggregate`; every problem is one InputError line.

Formats (docs/statistics.md, "turkops aggregate"):
- ratings CSV: columns item,worker,label; label 0 or 1 (1 = "present"); one row per rating.
- priors CSV: columns item,prior with prior in [0, 1]; optional columns activation (the
  neuron's activation z-scored over the probing set) and group (e.g. the pair), which the
  activation-aware aggregators need.
- gold CSV: columns item,label with label 0 or 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turkops.domain import InputError
from turkops.studyfiles import _read_csv


@dataclass(frozen=True, slots=True, eq=False)
class RatingsFile:
    """item_ids, worker_ids: distinct ids in first-seen order; items, workers: (R,) codes into
    them; values: (R,) 0/1."""

    item_ids: list[str]
    worker_ids: list[str]
    items: np.ndarray
    workers: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class PriorsFile:
    """Per item of the ratings file (n_items,): prior; activation and group codes or None."""

    prior: np.ndarray
    activation: np.ndarray | None
    group: np.ndarray | None


def _binary(path: Path, line: int, text: str) -> int:
    if text not in ("0", "1"):
        raise InputError(f"{path}: line {line}: label must be 0 or 1, got {text!r}")
    return int(text)


def read_ratings(path: Path) -> RatingsFile:
    rows = _read_csv(path, ("item", "worker", "label"))
    item_code: dict[str, int] = {}
    worker_code: dict[str, int] = {}
    items, workers, values = [], [], []
    for line, row in rows:
        item, worker = row.get("item", ""), row.get("worker", "")
        if not item or not worker:
            raise InputError(f"{path}: line {line}: empty item or worker")
        values.append(_binary(path, line, row.get("label", "")))
        items.append(item_code.setdefault(item, len(item_code)))
        workers.append(worker_code.setdefault(worker, len(worker_code)))
    return RatingsFile(
        item_ids=list(item_code),
        worker_ids=list(worker_code),
        items=np.array(items, dtype=np.int64),
        workers=np.array(workers, dtype=np.int64),
        values=np.array(values, dtype=np.int64),
    )


def _per_item(path: Path, rows: dict[str, int], item_ids: list[str]) -> None:
    """Every id in the file must be a rated item (a typo would silently drop it)."""
    known = set(item_ids)
    unknown = [i for i in rows if i not in known]
    if unknown:
        raise InputError(
            f"{path}: {len(unknown)} item(s) not in the ratings, e.g. {unknown[0]!r} (line "
            f"{rows[unknown[0]]})"
        )


def read_priors(path: Path, item_ids: list[str]) -> PriorsFile:
    rows = _read_csv(path, ("item", "prior"))
    prior: dict[str, float] = {}
    activation: dict[str, float] = {}
    group: dict[str, str] = {}
    line_of: dict[str, int] = {}
    for line, row in rows:
        item = row.get("item", "")
        if item in line_of:
            raise InputError(f"{path}: line {line}: item {item!r} listed twice")
        line_of[item] = line
        try:
            p = float(row.get("prior", ""))
        except ValueError:
            raise InputError(f"{path}: line {line}: prior is not a number") from None
        if not 0.0 <= p <= 1.0:  # NaN fails this too
            raise InputError(f"{path}: line {line}: prior must lie in [0, 1], got {p}")
        prior[item] = p
        if row.get("activation", ""):
            try:
                a = float(row["activation"])
            except ValueError:
                raise InputError(f"{path}: line {line}: activation is not a number") from None
            if not math.isfinite(a):
                raise InputError(f"{path}: line {line}: activation must be finite")
            activation[item] = a
        group[item] = row.get("group", "")
    _per_item(path, line_of, item_ids)
    missing = [i for i in item_ids if i not in prior]
    if missing:
        raise InputError(f"{path}: no prior for {len(missing)} rated item(s), e.g. {missing[0]!r}")
    act = None
    if activation:
        if len(activation) < len(item_ids):
            raise InputError(f"{path}: the activation column must be filled for every item")
        act = np.array([activation[i] for i in item_ids], dtype=np.float64)
    codes: dict[str, int] = {}
    grp = np.array([codes.setdefault(group[i], len(codes)) for i in item_ids], dtype=np.int64)
    return PriorsFile(
        prior=np.array([prior[i] for i in item_ids], dtype=np.float64),
        activation=act,
        group=grp if act is not None else None,
    )


def read_gold(path: Path, item_ids: list[str]) -> dict[str, int]:
    rows = _read_csv(path, ("item", "label"))
    gold: dict[str, int] = {}
    line_of: dict[str, int] = {}
    for line, row in rows:
        item = row.get("item", "")
        gold[item] = _binary(path, line, row.get("label", ""))
        line_of[item] = line
    _per_item(path, line_of, item_ids)
    return gold
