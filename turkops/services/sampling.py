"""`turkops sample`: draw each pair's inputs (MG-IS, AG-IS or uniform) and store them."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete

from turkops.db.models import Hit, Sample
from turkops.domain import InputError, SamplingStrategy, StudyStatus
from turkops.services.studies import load_activations, load_concept_scores
from turkops.stats.sampling import ag_is_proposal, draw_sample, mg_is_proposal, uniform_proposal
from turkops.wiring import Runtime


@dataclass(frozen=True, slots=True)
class SampleSummary:
    pairs: int
    draws_per_pair: int
    unique_inputs: int  # images to rate over all pairs
    strategy: str
    seed: int


def pair_rng(seed: int, neuron: int, concept: str) -> np.random.Generator:
    """A generator per pair that depends only on (seed, neuron, concept), not on row ids."""
    return np.random.default_rng([seed, neuron, zlib.crc32(concept.encode())])


def sample_study(
    rt: Runtime,
    name: str,
    per_pair: int,
    strategy: SamplingStrategy,
    gamma: float = 0.2,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SampleSummary:
    if per_pair < 1:
        raise InputError("--per-pair must be at least 1")
    if not 0.0 <= gamma <= 1.0:
        raise InputError("--gamma must lie in [0, 1]")
    with rt.transaction() as repo:
        study = repo.study(name)
        if repo.count(Hit, study.id):
            raise InputError(
                f"study {name!r} has HITs already; its sample is fixed (create a new study to "
                "sample differently)"
            )
        acts = load_activations(repo, study)
        scores = load_concept_scores(repo, study)
        pairs = list(repo.pairs(study.id))
        input_ids = [i.id for i in repo.inputs(study.id)]
        if strategy is SamplingStrategy.MG_IS:
            if scores is None:
                raise InputError(
                    f"study {name!r} has no concept probabilities, so mg-is cannot be used: run "
                    "`turkops concepts score` or `turkops concepts import`, or use "
                    "--strategy ag-is or uniform"
                )
            missing = sorted({p.concept for p in pairs} - set(scores.concepts))
            if missing:
                raise InputError(
                    f"concept {missing[0]!r} has no concept probabilities; re-score the study "
                    "or use --strategy ag-is or uniform"
                )
        column = {c: j for j, c in enumerate(scores.concepts)} if scores else {}
        n = study.n_inputs
        repo.session.execute(delete(Sample).where(Sample.pair_id.in_([p.id for p in pairs])))
        unique: set[int] = set()
        for k, pair in enumerate(pairs):
            a = acts[:, pair.neuron]
            if strategy is SamplingStrategy.MG_IS:
                assert scores is not None
                q = mg_is_proposal(a, scores.probs[:, column[pair.concept]], gamma=gamma)
            elif strategy is SamplingStrategy.AG_IS:
                q = ag_is_proposal(a, gamma=gamma)
            else:
                q = uniform_proposal(n)
            drawn = draw_sample(q, per_pair, pair_rng(seed, pair.neuron, pair.concept))
            repo.session.add_all(
                Sample(
                    pair_id=pair.id,
                    input_id=input_ids[int(i)],
                    proposal_prob=float(qi),
                    draw_count=int(c),
                )
                for i, c, qi in zip(drawn.indices, drawn.counts, drawn.q_at_indices, strict=True)
            )
            unique.update(int(i) for i in drawn.indices)
            if progress:
                progress(k + 1, len(pairs))
        study.sample_strategy = str(strategy)
        study.sample_per_pair = per_pair
        study.sample_gamma = gamma if strategy is not SamplingStrategy.UNIFORM else None
        study.sample_seed = seed
        study.status = StudyStatus.SAMPLED
        repo.log(
            study.id,
            "study.sampled",
            f"study:{name}",
            strategy=str(strategy),
            per_pair=per_pair,
            gamma=gamma,
            seed=seed,
        )
    return SampleSummary(len(pairs), per_pair, len(unique), str(strategy), seed)
