"""Attention checks of the task server: pages of images whose answer is already known.

Known answers come from the study's concept probabilities (the cheap model): an image whose
probability for a concept is <= NEAR_ZERO is taken as "absent", >= NEAR_ONE as "present". A
check page looks exactly like a real task; it is built deterministically from (session, check
number), so the server stores nothing to grade it and every worker process builds the same page.

Rules (documented in docs/prolific.md):
- a session of T real tasks gets round(T * check_rate) check pages at positions drawn per
  session (never the first page, so a participant meets a real task first);
- a check page is passed when at least PASS_SHARE of its images are answered right (people
  err on single images; the simulated crowd flips 23% of answers, a random clicker gets 50%);
- a participant who fails MAX_FAILED_CHECKS check pages ends with `failed_check`: Prolific's
  attention-check policy allows rejecting only after two failed checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from turkops.db.models import Input, Pair, Study
from turkops.db.repository import Repository
from turkops.services.studies import load_concept_scores

NEAR_ZERO = 0.05
NEAR_ONE = 0.95
PASS_SHARE = 0.6
MAX_FAILED_CHECKS = 2
MIN_KNOWN = 4  # fewer known images than this make a check too easy to guess


@dataclass(frozen=True, slots=True)
class KnownItem:
    input_row_id: int
    present: bool


@dataclass(frozen=True, slots=True)
class CheckPool:
    """Per concept, images with a known answer; only concepts with both answers present."""

    concepts: tuple[str, ...]
    known: dict[str, tuple[KnownItem, ...]]
    page_size: int


@dataclass(frozen=True, slots=True)
class CheckPage:
    concept: str
    items: tuple[KnownItem, ...]


def build_check_pool(repo: Repository, study: Study, page_size: int) -> CheckPool | None:
    """The study's known items, or None when it has no concept scores or too few sure items."""
    scores = load_concept_scores(repo, study)
    if scores is None:
        return None
    inputs = repo.session.scalars(
        select(Input).where(Input.study_id == study.id).order_by(Input.row_index)
    ).all()
    wanted = sorted(
        set(repo.session.scalars(select(Pair.concept).where(Pair.study_id == study.id)))
    )
    column = {c: j for j, c in enumerate(scores.concepts)}
    known: dict[str, tuple[KnownItem, ...]] = {}
    for concept in wanted:
        if concept not in column:
            continue
        probs = scores.probs[:, column[concept]]
        items = tuple(
            KnownItem(inp.id, bool(probs[inp.row_index] >= NEAR_ONE))
            for inp in inputs
            if probs[inp.row_index] <= NEAR_ZERO or probs[inp.row_index] >= NEAR_ONE
        )
        n_pos = sum(k.present for k in items)
        if len(items) >= MIN_KNOWN and 0 < n_pos < len(items):
            known[concept] = items
    if not known:
        return None
    return CheckPool(tuple(sorted(known)), known, max(MIN_KNOWN, page_size))


def check_positions(session_id: int, n_tasks: int, check_rate: float, pool: bool) -> list[int]:
    """Page positions (0-based, over real + check pages) that show a check, sorted."""
    n_checks = round(n_tasks * check_rate) if pool else 0
    if n_checks <= 0:
        return []
    total = n_tasks + n_checks
    rng = np.random.default_rng([session_id, 7121])
    return sorted(int(p) for p in rng.choice(np.arange(1, total), n_checks, replace=False))


def check_page(pool: CheckPool, session_id: int, number: int) -> CheckPage:
    """Check `number` of a session: one concept, up to page_size known images, both answers."""
    rng = np.random.default_rng([session_id, number, 104729])
    concept = pool.concepts[int(rng.integers(len(pool.concepts)))]
    items = pool.known[concept]
    pos = [k for k in items if k.present]
    neg = [k for k in items if not k.present]
    n = min(pool.page_size, len(items))
    n_pos = min(len(pos), max(1, n // 3), n - 1)
    n_neg = min(len(neg), n - n_pos)
    chosen = [pos[int(i)] for i in rng.choice(len(pos), n_pos, replace=False)]
    chosen += [neg[int(i)] for i in rng.choice(len(neg), n_neg, replace=False)]
    order = rng.permutation(len(chosen))
    return CheckPage(concept, tuple(chosen[int(i)] for i in order))


def grade_check(page: CheckPage, answers: list[int]) -> bool:
    """True when at least PASS_SHARE of the page's images are answered right."""
    right = sum(int(a == int(k.present)) for a, k in zip(answers, page.items, strict=True))
    return right >= math.ceil(PASS_SHARE * len(page.items))
