"""Packing sampled (pair, image) items into pages of k images sharing one concept.

Every provider packs the same way (MTurk: one HIT per task; Prolific: sessions of tasks).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class SampleItem:
    sample_id: int
    concept: str


@dataclass(frozen=True, slots=True)
class Task:
    index: int
    concept: str
    sample_ids: tuple[int, ...]


def pack_tasks(
    items: Sequence[SampleItem], images_per_hit: int, rng: np.random.Generator
) -> list[Task]:
    """Group items by concept (one instruction per page), shuffle, and cut into pages.

    Pairs that share a concept (different neurons) share pages, so fewer pages are part-filled.
    Concepts are visited in sorted order so the packing depends only on the items and the seed.
    """
    by_concept: dict[str, list[int]] = defaultdict(list)
    for item in items:
        by_concept[item.concept].append(item.sample_id)
    tasks: list[Task] = []
    for concept in sorted(by_concept):
        ids = np.array(sorted(by_concept[concept]))
        rng.shuffle(ids)
        for start in range(0, len(ids), images_per_hit):
            chunk = tuple(int(i) for i in ids[start : start + images_per_hit])
            tasks.append(Task(len(tasks), concept, chunk))
    return tasks


def request_token(study_uid: str, task: Task) -> str:
    """Deterministic UniqueRequestToken (<= 64 chars) from the study and the task's content."""
    digest = hashlib.sha256(
        f"{study_uid}|{task.index}|{task.concept}|{','.join(map(str, task.sample_ids))}".encode()
    ).hexdigest()
    return f"turkops-{digest[:48]}"
