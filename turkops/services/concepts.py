"""Concept probabilities for a study: SigLIP scoring, import, and SigLIP-only evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from turkops.arrays import sha256_file
from turkops.domain import InputError
from turkops.services.collect import MethodScore, rank_methods
from turkops.services.studies import (
    load_activations,
    load_concept_scores,
    store_concept_scores,
)
from turkops.studyfiles import ConceptScores, read_concept_scores
from turkops.wiring import Runtime

if TYPE_CHECKING:
    from turkops.concepts.calibration import Calibration
    from turkops.concepts.distributed import Ranks
    from turkops.concepts.models import ConceptModel


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    n_images: int
    n_concepts: int
    n_encoded: int
    n_cached: int
    encode_seconds: float
    calibration: str


@dataclass(frozen=True, slots=True)
class AutoEvalScore:
    neuron: int
    method: str
    concept: str
    correlation: float | None


def study_images(rt: Runtime, name: str) -> tuple[list[tuple[str, Path]], list[str]]:
    """(sha256, path) of every input in row order, and the study's distinct concepts.

    Image hashes key the embedding cache; they are computed once and kept in the database.
    """
    with rt.transaction() as repo:
        study = repo.study(name)
        images: list[tuple[str, Path]] = []
        for inp in repo.inputs(study.id):
            if not inp.image_path:
                raise InputError(
                    f"input {inp.input_id!r} is a URL ({inp.image}); concept scoring needs local "
                    "files: download the images and create the study from local paths, or score "
                    "elsewhere and use `turkops concepts import`"
                )
            path = Path(inp.image_path)
            if not path.is_file():
                raise InputError(f"image of input {inp.input_id!r} is missing: {path}")
            if not inp.image_sha256:
                inp.image_sha256 = sha256_file(path)
            images.append((inp.image_sha256, path))
        concepts = sorted({p.concept for p in repo.pairs(study.id)})
    return images, concepts


def score_study(
    rt: Runtime,
    name: str,
    model: ConceptModel,
    *,
    calibration: Calibration,
    cache_root: Path,
    batch_size: int,
    workers: int,
    prompts: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    ranks: Ranks | None = None,
    chunk_size: int = 4096,
) -> ScoreSummary | None:
    """Score and store the study's concept probabilities.

    With several ranks (torchrun; the caller has joined the process group) every rank encodes
    its slice of the images into the shared cache and only the main rank scores and stores;
    the others return None. A study with ratings is refused unless `force` (issue 10, item 13).
    """
    n_ratings = _refuse_if_rated(rt, name, force, "concepts score")
    scorer, cache = model.scorer(), model.cache(cache_root)
    shard = None
    if ranks is not None and ranks.distributed:
        # The main rank first, alone: it may write missing image hashes to the database.
        if ranks.is_main:
            images, concepts = study_images(rt, name)
        ranks.barrier()
        if not ranks.is_main:
            images, concepts = study_images(rt, name)
        shard = scorer.embed_shard(images, cache, ranks, batch_size=batch_size,
                                   workers=workers, progress=progress, chunk_size=chunk_size)
        if not ranks.is_main:
            return None
    else:
        images, concepts = study_images(rt, name)
    result = scorer.score(
        images, concepts, cache, calibration=calibration, batch_size=batch_size,
        workers=workers, prompts=prompts, progress=None if shard else progress,
        chunk_size=chunk_size,
    )
    store_concept_scores(
        rt, name, ConceptScores(tuple(result.concepts), np.asarray(result.probs, np.float32)),
        {
            "source": "siglip",
            "model": model.name,
            "pretrained": model.pretrained,
            "weights_sha256": model.cache_key.weights,
            "precision": model.precision,
            "prompts": list(prompts),
            "calibration": result.calibration.to_dict(),
        },
    )
    _log_replaced(rt, name, n_ratings)
    if shard is not None:
        return ScoreSummary(len(images), len(concepts), shard.n_encoded, shard.n_cached,
                            shard.encode_seconds, result.calibration.to_json())
    return ScoreSummary(len(images), len(concepts), result.n_encoded, result.n_cached,
                        result.encode_seconds, result.calibration.to_json())


def import_scores(rt: Runtime, name: str, npz: Path, force: bool = False) -> int:
    """Store user-computed probabilities (the study-store .npz format) for a study.

    Refused once the study has ratings unless `force`: new scores change every result of the
    model-prior aggregations. The file's sha256 (and the model and calibration, when a
    `concepts score-files` .npz carries them) is recorded, so results name their source.
    """
    n_ratings = _refuse_if_rated(rt, name, force, "concepts import")
    with rt.transaction() as repo:
        study = repo.study(name)
        n_inputs = study.n_inputs
        needed = {p.concept for p in repo.pairs(study.id)}
    scores = read_concept_scores(npz, n_inputs)
    missing = sorted(needed - set(scores.concepts))
    if missing:
        raise InputError(f"{npz}: no column for concept {missing[0]!r} of study {name!r}")
    meta: dict[str, object] = {
        "source": "import",
        "file": str(npz.resolve()),
        "sha256": sha256_file(npz),
        **_scored_by(npz),
    }
    store_concept_scores(rt, name, scores, meta)
    _log_replaced(rt, name, n_ratings, file=str(npz.resolve()), sha256=meta["sha256"])
    return len(scores.concepts)


def _refuse_if_rated(rt: Runtime, name: str, force: bool, command: str) -> int:
    """The study's rating count; raises unless `force` when there are ratings already."""
    with rt.transaction() as repo:
        study = repo.study(name)
        n_ratings = repo.rating_count(study.id)
    if n_ratings and not force:
        raise InputError(
            f"study {name!r} already has {n_ratings} ratings: new concept probabilities "
            f"change every bragg-model/ds-act result; pass --force to `turkops {command}` "
            "to replace them anyway (recorded in the event log)"
        )
    return n_ratings


def _log_replaced(rt: Runtime, name: str, n_ratings: int, **detail: object) -> None:
    if not n_ratings:
        return
    with rt.transaction() as repo:
        repo.log(
            repo.study(name).id,
            "concepts.replaced_after_ratings",
            f"study:{name}",
            n_ratings=n_ratings,
            **detail,
        )


def _scored_by(npz: Path) -> dict[str, object]:
    """Model and calibration recorded in a `concepts score-files` .npz, if any."""
    out: dict[str, object] = {}
    try:
        with np.load(npz, allow_pickle=False) as data:
            if "model" in data.files and str(data["model"]):
                out["model"] = str(data["model"])
            if "calibration" in data.files and str(data["calibration"]):
                out["calibration"] = json.loads(str(data["calibration"]))
    except (OSError, ValueError):
        pass  # read_concept_scores already accepted the file; these arrays are optional
    return out


def auto_evaluate(rt: Runtime, name: str) -> tuple[list[AutoEvalScore], list[MethodScore]]:
    """The paper's SigLIP-only evaluation: corr(activations, model probability) over all of D."""
    with rt.transaction() as repo:
        study = repo.study(name)
        acts = load_activations(repo, study).astype(np.float64)
        scores = load_concept_scores(repo, study)
        explanations = [(e.neuron, e.method, e.concept) for e in repo.explanations(study.id)]
    if scores is None:
        raise InputError(
            f"study {name!r} has no concept probabilities: run `turkops concepts score` or "
            "`turkops concepts import` first"
        )
    column = {c: j for j, c in enumerate(scores.concepts)}
    out: list[AutoEvalScore] = []
    by_method: dict[str, dict[int, float]] = {}
    for neuron, method, concept in explanations:
        j = column.get(concept)
        if j is None:
            raise InputError(f"concept {concept!r} has no concept probabilities")
        rho = pearson(acts[:, neuron], scores.probs[:, j].astype(np.float64))
        out.append(AutoEvalScore(neuron, method, concept, rho))
        if rho is not None:
            by_method.setdefault(method, {})[neuron] = rho
    return out, rank_methods("siglip-only", by_method, {e[1] for e in explanations})


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation; None when either side is constant (undefined)."""
    xc, yc = x - x.mean(), y - y.mean()
    denom = float(np.sqrt((xc * xc).sum() * (yc * yc).sum()))
    return None if denom == 0.0 else float((xc * yc).sum() / denom)
