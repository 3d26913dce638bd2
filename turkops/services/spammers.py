"""Workers whose fitted error rates mark them as spammers, on any provider.

The shared aggregation (two-coin Dawid-Skene, turkops/services/aggregate.py) fits each
worker's sensitivity and specificity on the study's accepted ratings. A worker who answers
at random has sensitivity + specificity = 1 (their votes carry no information about the
label); we flag those at or below 1 + margin, once they have rated enough images for the fit
to mean something (two-coin shrinks thin evidence towards exactly 1). Flags are recorded in
the event log and shown; a flagged worker is blocked only on request (`turkops block
--flagged STUDY`), never silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from turkops.db.models import Event
from turkops.domain import Aggregation
from turkops.services.aggregate import ItemInfo, LongRatings, aggregate_labels
from turkops.services.blocklist import block_worker
from turkops.services.ratings import RatingTable, load_ratings
from turkops.wiring import Runtime

SPAMMER_MARGIN = 0.25  # η = 0.23 gives 1.54; a rater wrong 37.5% of the time, 1.25
MIN_RATINGS = 30  # two pages of 15 images


@dataclass(frozen=True, slots=True)
class WorkerFit:
    worker: str  # the provider's worker id (personal data: callers show pseudonyms)
    ratings: int
    sensitivity: float
    specificity: float
    spammer: bool


def fit_workers(
    table: RatingTable, margin: float = SPAMMER_MARGIN, min_ratings: int = MIN_RATINGS
) -> list[WorkerFit]:
    """Two-coin fit of every worker in `table`, spammers flagged, most ratings first."""
    if table.values.size == 0:
        return []
    _, items = np.unique(np.asarray(table.sample_ids, dtype=np.int64), return_inverse=True)
    names, workers = np.unique(np.asarray(table.worker_ids, dtype=str), return_inverse=True)
    ratings = LongRatings(
        items=items.astype(np.int64).ravel(),
        workers=workers.astype(np.int64).ravel(),
        values=np.asarray(table.values, dtype=np.int64),
        n_items=int(items.max()) + 1,
        n_workers=int(names.size),
    )
    fit = aggregate_labels(Aggregation.TWO_COIN, ratings, ItemInfo())
    assert fit.sensitivity is not None and fit.specificity is not None
    counts = np.bincount(ratings.workers, minlength=ratings.n_workers)
    out = [
        WorkerFit(
            worker=str(name),
            ratings=int(counts[w]),
            sensitivity=float(fit.sensitivity[w]),
            specificity=float(fit.specificity[w]),
            spammer=bool(
                counts[w] >= min_ratings and fit.sensitivity[w] + fit.specificity[w] <= 1.0 + margin
            ),
        )
        for w, name in enumerate(names.tolist())
    ]
    return sorted(out, key=lambda f: (-f.ratings, f.worker))


def flag_spammers(
    rt: Runtime,
    name: str,
    table: RatingTable | None = None,
    margin: float = SPAMMER_MARGIN,
    min_ratings: int = MIN_RATINGS,
) -> list[WorkerFit]:
    """The study's flagged workers (`table`: its accepted ratings, loaded when None); each
    is logged once (`worker.flagged_spammer`)."""
    if table is None:
        with rt.transaction() as repo:
            _, table = load_ratings(repo, repo.study(name).id)
    flagged = [f for f in fit_workers(table, margin, min_ratings) if f.spammer]
    if not flagged:
        return []
    with rt.transaction() as repo:
        study = repo.study(name)
        seen = set(
            repo.session.scalars(
                select(Event.entity).where(
                    Event.study_id == study.id, Event.kind == "worker.flagged_spammer"
                )
            ).all()
        )
        for f in flagged:
            entity = f"worker:{f.worker}"
            if entity not in seen:
                repo.log(
                    study.id,
                    "worker.flagged_spammer",
                    entity,
                    provider=study.provider,
                    ratings=f.ratings,
                    sensitivity=round(f.sensitivity, 3),
                    specificity=round(f.specificity, 3),
                )
    return flagged


def block_flagged(rt: Runtime, name: str, reason: str) -> tuple[int, int]:
    """Block the study's flagged workers on its provider: (newly blocked, flagged)."""
    with rt.transaction() as repo:
        provider = repo.study(name).provider
    flagged = flag_spammers(rt, name)
    added = sum(block_worker(rt, provider, f.worker, reason) for f in flagged)
    return added, len(flagged)
