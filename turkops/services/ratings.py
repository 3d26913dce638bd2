"""Loading a study's samples and ratings from the store into arrays for the statistics core."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from turkops.db.models import Assignment, Hit, HitItem, Input, Pair, Rating, Sample, Worker
from turkops.db.repository import Repository
from turkops.domain import AssignmentStatus


@dataclass(frozen=True, slots=True, eq=False)
class PairSamples:
    """One pair's shown inputs. Arrays are (n,) over its samples, in sample-id order."""

    pair_id: int
    neuron: int
    concept: str
    sample_ids: np.ndarray
    rows: np.ndarray  # row index of the input in the probing set
    q: np.ndarray  # proposal probability at the input
    counts: np.ndarray  # draw multiplicity
    positives: np.ndarray  # "present" votes received
    totals: np.ndarray  # ratings received


@dataclass(frozen=True, slots=True, eq=False)
class RatingTable:
    """Every usable rating in long format, for agreement and per-worker models."""

    sample_ids: np.ndarray  # (r,)
    worker_ids: list[str]  # (r,)
    values: np.ndarray  # (r,) 0/1


def load_ratings(repo: Repository, study_id: int) -> tuple[list[PairSamples], RatingTable]:
    """Samples per pair with vote counts; ratings of rejected or malformed work are left out."""
    samples = repo.session.execute(
        select(
            Pair.id,
            Pair.neuron,
            Pair.concept,
            Sample.id,
            Input.row_index,
            Sample.proposal_prob,
            Sample.draw_count,
        )
        .join(Sample, Sample.pair_id == Pair.id)
        .join(Input, Sample.input_id == Input.id)
        .where(Pair.study_id == study_id)
        .order_by(Pair.neuron, Pair.id, Sample.id)
    ).all()
    ratings = repo.session.execute(
        select(HitItem.sample_id, Worker.worker_id, Rating.value)
        .join(Rating, Rating.hit_item_id == HitItem.id)
        .join(Assignment, Rating.assignment_row_id == Assignment.id)
        .join(Worker, Assignment.worker_row_id == Worker.id)
        .join(Hit, HitItem.hit_row_id == Hit.id)
        .where(
            Hit.study_id == study_id,
            Assignment.valid.is_(True),
            Assignment.status != AssignmentStatus.REJECTED,
        )
        # Content order, not ingest order: which poll pass stored a rating first must not
        # change any result (tie order of workers, float sums).
        .order_by(HitItem.sample_id, Worker.worker_id, Rating.id)
    ).all()
    table = RatingTable(
        sample_ids=np.array([r[0] for r in ratings], dtype=np.int64),
        worker_ids=[r[1] for r in ratings],
        values=np.array([r[2] for r in ratings], dtype=np.int64),
    )
    pos: dict[int, int] = {}
    tot: dict[int, int] = {}
    for sid, value in zip(table.sample_ids.tolist(), table.values.tolist(), strict=True):
        tot[sid] = tot.get(sid, 0) + 1
        pos[sid] = pos.get(sid, 0) + value
    grouped: dict[int, list[tuple]] = {}
    for row in samples:
        grouped.setdefault(row[0], []).append(row)
    pairs = []
    for pair_id, rows in grouped.items():
        sids = np.array([r[3] for r in rows], dtype=np.int64)
        pairs.append(
            PairSamples(
                pair_id=pair_id,
                neuron=int(rows[0][1]),
                concept=str(rows[0][2]),
                sample_ids=sids,
                rows=np.array([r[4] for r in rows], dtype=np.int64),
                q=np.array([r[5] for r in rows], dtype=np.float64),
                counts=np.array([r[6] for r in rows], dtype=np.int64),
                positives=np.array([pos.get(int(s), 0) for s in sids], dtype=np.int64),
                totals=np.array([tot.get(int(s), 0) for s in sids], dtype=np.int64),
            )
        )
    return pairs, table
