"""Creating, listing and showing studies, and loading their verified arrays."""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from turkops.arrays import StoredArray, read_array, write_array
from turkops.db.models import ArrayFile, Explanation, Hit, Input, Pair, Study
from turkops.db.repository import Repository
from turkops.domain import InputError, NotFoundError
from turkops.studyfiles import (
    ConceptScores,
    read_activations,
    read_concept_scores,
    read_explanations,
    read_inputs,
)
from turkops.wiring import Runtime

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ACTIVATIONS = "activations"
CONCEPT_PROBS = "concept_probs"


@dataclass(frozen=True, slots=True)
class StudySummary:
    name: str
    status: str
    created_at: str
    n_inputs: int
    n_neurons: int
    n_explanations: int
    n_pairs: int
    n_methods: int
    has_concept_scores: bool
    n_samples: int
    hits: dict[str, int]
    assignments: dict[str, int]
    n_ratings: int
    paid: Decimal
    sampling: str | None


def validate_name(name: str) -> None:
    if not _NAME.match(name):
        raise InputError(
            f"study name {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )


def create_study(
    rt: Runtime,
    name: str,
    inputs_csv: Path,
    activations_npy: Path,
    explanations_csv: Path,
    concept_scores_npz: Path | None = None,
    allow_outside_paths: bool = False,
) -> StudySummary:
    """Validate every file fully, then write arrays and rows; nothing is half-written.

    Local images must lie inside the inputs CSV's folder unless `allow_outside_paths`.
    """
    validate_name(name)
    with rt.transaction() as repo:
        if repo.study_exists(name):
            raise InputError(f"a study named {name!r} already exists (see `turkops study list`)")
    inputs = read_inputs(inputs_csv, allow_outside_paths=allow_outside_paths)
    acts = read_activations(activations_npy, len(inputs))
    explanations = read_explanations(explanations_csv, acts.shape[1])
    scores = read_concept_scores(concept_scores_npz, len(inputs)) if concept_scores_npz else None
    if scores is not None:
        _check_concepts_scored(explanations_csv, [e.concept for e in explanations], scores)

    study_dir = Path(rt.settings.data_dir).resolve() / name
    staging = study_dir.with_name(f".{name}.staging-{uuid.uuid4().hex[:8]}")
    try:
        stored = {ACTIVATIONS: write_array(staging / "activations.npy", acts)}
        if scores is not None:
            stored[CONCEPT_PROBS] = write_array(staging / "concept_probs.npy", scores.probs)
        if study_dir.exists():
            # A directory without a database row is debris of an earlier crash.
            shutil.rmtree(study_dir)
        staging.rename(study_dir)
        with rt.transaction() as repo:
            study = Study(
                name=name,
                n_inputs=len(inputs),
                n_neurons=int(acts.shape[1]),
                data_dir=str(study_dir),
            )
            repo.session.add(study)
            repo.session.flush()
            for kind, arr in stored.items():
                meta: dict[str, object] = {}
                if kind == CONCEPT_PROBS and scores is not None:
                    meta = {"concepts": list(scores.concepts), "source": str(concept_scores_npz)}
                _record_array(repo, study.id, kind, study_dir / arr.path.name, arr, meta)
            repo.session.add_all(
                Input(
                    study_id=study.id,
                    row_index=i,
                    input_id=row.input_id,
                    image=row.image,
                    image_path=str(row.image_path) if row.image_path else None,
                )
                for i, row in enumerate(inputs)
            )
            pairs: dict[tuple[int, str], Pair] = {}
            for e in explanations:
                key = (e.neuron, e.concept)
                if key not in pairs:
                    pairs[key] = Pair(study_id=study.id, neuron=e.neuron, concept=e.concept)
                    repo.session.add(pairs[key])
            repo.session.flush()
            repo.session.add_all(
                Explanation(
                    study_id=study.id,
                    pair_id=pairs[(e.neuron, e.concept)].id,
                    neuron=e.neuron,
                    method=e.method,
                    concept=e.concept,
                )
                for e in explanations
            )
            repo.log(
                study.id,
                "study.created",
                f"study:{name}",
                inputs=len(inputs),
                neurons=int(acts.shape[1]),
                explanations=len(explanations),
                pairs=len(pairs),
            )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        with rt.transaction() as repo:
            exists = repo.study_exists(name)
        if not exists:
            shutil.rmtree(study_dir, ignore_errors=True)
        raise
    return show_study(rt, name)


def _check_concepts_scored(path: Path, concepts: list[str], scores: ConceptScores) -> None:
    known = set(scores.concepts)
    for i, concept in enumerate(concepts):
        if concept not in known:
            raise InputError(
                f"{path}: line {i + 2}: concept {concept!r} has no column in the concept "
                "scores (.npz 'concepts')"
            )


def _record_array(
    repo: Repository,
    study_id: int,
    kind: str,
    path: Path,
    arr: StoredArray,
    meta: dict[str, object],
) -> None:
    existing = repo.array_file(study_id, kind)
    if existing is not None:
        repo.session.delete(existing)
        repo.session.flush()
    repo.session.add(
        ArrayFile(
            study_id=study_id,
            kind=kind,
            path=str(path),
            shape=list(arr.shape),
            dtype=arr.dtype,
            sha256=arr.sha256,
            meta=meta,
        )
    )


def store_concept_scores(
    rt: Runtime, name: str, scores: ConceptScores, meta: dict[str, object]
) -> None:
    """Replace the study's concept probabilities (import or SigLIP scoring)."""
    with rt.transaction() as repo:
        study = repo.study(name)
        if scores.probs.shape[0] != study.n_inputs:
            raise InputError(
                f"concept scores have {scores.probs.shape[0]} rows, study {name!r} has "
                f"{study.n_inputs} inputs"
            )
        stored = write_array(Path(study.data_dir) / "concept_probs.npy", scores.probs)
        _record_array(
            repo,
            study.id,
            CONCEPT_PROBS,
            stored.path,
            stored,
            {**meta, "concepts": list(scores.concepts)},
        )
        repo.log(study.id, "concepts.stored", f"study:{name}", n_concepts=len(scores.concepts))


def load_activations(repo: Repository, study: Study) -> np.ndarray:
    rec = repo.array_file(study.id, ACTIVATIONS)
    if rec is None:
        raise NotFoundError(f"study {study.name!r} has no activations recorded")
    return read_array(Path(rec.path), tuple(rec.shape), rec.dtype, rec.sha256)


def load_concept_scores(repo: Repository, study: Study) -> ConceptScores | None:
    rec = repo.array_file(study.id, CONCEPT_PROBS)
    if rec is None:
        return None
    probs = read_array(Path(rec.path), tuple(rec.shape), rec.dtype, rec.sha256)
    concepts = rec.meta.get("concepts", [])
    assert isinstance(concepts, list)
    return ConceptScores(tuple(str(c) for c in concepts), probs)


def list_studies(rt: Runtime) -> list[StudySummary]:
    with rt.transaction() as repo:
        names = [s.name for s in repo.studies()]
    return [show_study(rt, n) for n in names]


def show_study(rt: Runtime, name: str) -> StudySummary:
    with rt.transaction() as repo:
        study = repo.study(name)
        explanations = repo.explanations(study.id)
        sampling = None
        if study.sample_strategy:
            sampling = (
                f"{study.sample_strategy}, {study.sample_per_pair} draws/pair, "
                f"gamma={study.sample_gamma}, seed={study.sample_seed}"
            )
        return StudySummary(
            name=study.name,
            status=study.status,
            created_at=study.created_at.isoformat(timespec="seconds"),
            n_inputs=study.n_inputs,
            n_neurons=study.n_neurons,
            n_explanations=len(explanations),
            n_pairs=repo.count(Pair, study.id),
            n_methods=len({e.method for e in explanations}),
            has_concept_scores=repo.array_file(study.id, CONCEPT_PROBS) is not None,
            n_samples=repo.sample_count(study.id),
            hits=repo.hit_counts(study.id) if repo.count(Hit, study.id) else {},
            assignments=repo.assignment_counts(study.id),
            n_ratings=repo.rating_count(study.id),
            paid=repo.money_paid(study.id),
            sampling=sampling,
        )
