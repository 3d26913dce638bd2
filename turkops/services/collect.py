"""`turkops collect`: ratings -> aggregated labels -> weighted correlations -> method ranking."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import numpy as np

from turkops.domain import Aggregation, InputError
from turkops.services.ratings import PairSamples, RatingTable, load_ratings
from turkops.services.studies import CONCEPT_PROBS, load_activations, load_concept_scores
from turkops.stats import aggregation as agg
from turkops.stats.agreement import fleiss_kappa
from turkops.stats.comparison import paired_t_test, welch_t_test
from turkops.stats.correlation import (
    ConceptVariance,
    correlation_interval,
    weighted_correlation,
)
from turkops.stats.dawid_skene import dawid_skene_one_coin, dawid_skene_with_activation
from turkops.stats.sampling import importance_weights
from turkops.wiring import Runtime

SCHEMA_VERSION = 1
# Aggregations whose labels depend on the rater error rate η.
ETA_AGGREGATIONS = frozenset({Aggregation.BRAGG_UNIFORM, Aggregation.BRAGG_MODEL})


@dataclass(frozen=True, slots=True)
class CollectOptions:
    aggregations: tuple[Aggregation, ...] = (Aggregation.BRAGG_MODEL,)
    eta: float | None = 0.23  # None: estimate by EM from the study's ratings
    beta: float = 0.05
    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0
    hash_workers: bool = False


@dataclass(frozen=True, slots=True)
class ExplanationScore:
    aggregation: str
    neuron: int
    method: str
    concept: str
    correlation: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    n_images: int
    n_draws: int
    n_ratings: int
    ess: float
    eta: float | None
    note: str | None


@dataclass(frozen=True, slots=True)
class MethodScore:
    aggregation: str
    method: str
    mean: float | None
    sem: float | None
    n_neurons: int
    rank: int
    vs_best_p_two_sample: float | None
    vs_best_p_paired: float | None
    n_paired: int


@dataclass(frozen=True, slots=True)
class WorkerScore:
    worker: str
    ratings: int
    agreement: float | None  # share of ratings equal to the rounded posterior


@dataclass
class CollectResult:
    study: str
    schema_version: int
    aggregations: list[str]
    eta: float | None
    eta_source: str
    beta: float
    completeness: dict[str, float | int]
    pairs: list[ExplanationScore] = field(default_factory=list)
    methods: list[MethodScore] = field(default_factory=list)
    fleiss_kappa: float | None = None
    workers: list[WorkerScore] = field(default_factory=list)
    money_spent: Decimal = Decimal("0")
    warnings: list[str] = field(default_factory=list)
    etas: dict[str, float] = field(default_factory=dict)  # η each aggregation used
    concept_scores: dict[str, object] | None = None  # where the concept probabilities came from
    sample_labels: dict[int, float] = field(default_factory=dict)  # first aggregation, not JSON

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        del out["sample_labels"]
        out["money_spent"] = f"{self.money_spent:.2f}"
        clean = _finite(out)
        assert isinstance(clean, dict)
        return clean


def _finite(value: object) -> object:
    """JSON has no NaN: undefined numbers are written as null (documented in docs/collect.md)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def collect_study(rt: Runtime, name: str, options: CollectOptions) -> CollectResult:
    with rt.transaction() as repo:
        study = repo.study(name)
        pairs, table = load_ratings(repo, study.id)
        explanations = [
            (e.neuron, e.method, e.concept, e.pair_id) for e in repo.explanations(study.id)
        ]
        acts = load_activations(repo, study)
        scores = load_concept_scores(repo, study)
        scores_record = repo.array_file(study.id, CONCEPT_PROBS)
        scores_source = (
            concept_source(dict(scores_record.meta), scores_record.sha256)
            if scores_record is not None
            else None
        )
        spent = repo.money_paid(study.id)
        n_inputs = study.n_inputs
    if not pairs:
        raise InputError(f"study {name!r} has no samples yet: run `turkops sample` and `launch`")
    if table.values.size == 0:
        raise InputError(
            f"study {name!r} has no ratings yet: run `turkops poll {name}` once workers submit"
        )
    if Aggregation.BRAGG_MODEL in options.aggregations and scores is None:
        raise InputError(
            "bragg-model needs concept probabilities (turkops concepts score/import); use "
            "--aggregation bragg-uniform"
        )
    rated = sum(int((p.totals > 0).sum()) for p in pairs)
    shown = sum(int(p.sample_ids.size) for p in pairs)
    result = CollectResult(
        study=name,
        schema_version=SCHEMA_VERSION,
        aggregations=[str(a) for a in options.aggregations],
        eta=options.eta,
        eta_source="fixed",
        beta=options.beta,
        completeness={
            "images_rated": rated,
            "images_sampled": shown,
            "share": rated / shown if shown else 0.0,
        },
        money_spent=spent,
        concept_scores=scores_source,
    )
    if rated < shown:
        result.warnings.append(
            f"partial study: {rated} of {shown} sampled images have ratings so far"
        )
    priors = _model_priors(pairs, scores)
    etas = {a: float(options.eta if options.eta is not None else agg.DEFAULT_ETA)
            for a in options.aggregations}
    if options.eta is None:
        # η is fitted under the prior each aggregation then uses: the model prior for
        # bragg-model, β for the others; under the wrong prior EM explains the prior's
        # mismatch as rater error (the demo's raters at η = 0.23 came out at 0.47).
        sources: dict[Aggregation, str] = {}
        for aggregation in options.aggregations:
            if aggregation not in ETA_AGGREGATIONS:
                continue
            model = aggregation == Aggregation.BRAGG_MODEL
            fit = _fit_eta(pairs, priors if model else None, options.beta)
            etas[aggregation] = float(fit.eta)
            prior = "the model prior" if model else f"β={options.beta:g}"
            sources[aggregation] = f"EM under {prior} ({fit.n_iter} iterations)"
        if sources:  # `eta` is the first such aggregation's; `etas` has each one's
            first = next(iter(sources))
            result.eta, result.eta_source = etas[first], sources[first]
        else:  # no aggregation uses η: report the uniform-prior fit for reference
            fit = _fit_eta(pairs, None, options.beta)
            result.eta = float(fit.eta)
            result.eta_source = f"EM under β={options.beta:g} ({fit.n_iter} iterations)"
    result.etas = {str(a): v for a, v in etas.items() if a in ETA_AGGREGATIONS}
    by_method: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    posteriors_for_workers: dict[int, float] = {}
    rng = np.random.default_rng(options.seed)
    for aggregation in options.aggregations:
        eta = etas[aggregation]
        labels = _labels(aggregation, pairs, table, priors, eta, options.beta, acts)
        # ds-act conditions on the activation too, which is scored with the binary variance.
        variance: ConceptVariance = "binary" if aggregation == Aggregation.DS_ACT else "weighted"
        pair_scores: dict[int, tuple] = {}
        for p in pairs:
            pair_scores[p.pair_id] = _score_pair(
                p, labels[p.pair_id], acts, n_inputs, rng, options, variance
            )
            if aggregation == options.aggregations[0]:
                for sid, lab in zip(p.sample_ids.tolist(), labels[p.pair_id].tolist(), strict=True):
                    posteriors_for_workers[sid] = lab
        for neuron, method, concept, pair_id in explanations:
            rho, lo, hi, se, n_img, n_draws, n_rat, ess, note = pair_scores[pair_id]
            result.pairs.append(
                ExplanationScore(
                    aggregation=str(aggregation),
                    neuron=neuron,
                    method=method,
                    concept=concept,
                    correlation=rho,
                    ci_low=lo,
                    ci_high=hi,
                    se=se,
                    n_images=n_img,
                    n_draws=n_draws,
                    n_ratings=n_rat,
                    ess=ess,
                    eta=eta
                    if aggregation not in (Aggregation.MEAN, Aggregation.MAJORITY)
                    else None,
                    note=note,
                )
            )
            if rho is not None:
                by_method[str(aggregation)][method][neuron] = rho
        result.methods.extend(
            rank_methods(
                str(aggregation), by_method[str(aggregation)], {e[1] for e in explanations}
            )
        )
    result.fleiss_kappa = _kappa(table)
    result.workers = _workers(table, posteriors_for_workers, options.hash_workers)
    result.sample_labels = posteriors_for_workers
    return result


def concept_source(meta: dict[str, object], stored_sha256: str) -> dict[str, object]:
    """Where a study's concept probabilities came from, with a one-line `description`.

    meta: the array record's meta (`concepts score`: model, weights hash, calibration;
    `concepts import`: file and sha256; `study create`: the file it was given).
    """
    out = {k: v for k, v in meta.items() if k != "concepts"}
    source = str(meta.get("source", ""))
    cal = meta.get("calibration")
    cal_text = ""
    if isinstance(cal, dict):
        cal_text = f", calibration {cal.get('kind')} a={cal.get('a')} b={cal.get('b')}"
        if cal.get("source"):
            cal_text += f" ({cal.get('source')})"
    if source == "siglip":
        weights = str(meta.get("weights_sha256", ""))
        text = (
            f"scored by {meta.get('model')} ({meta.get('pretrained')}), weights sha256 "
            f"{weights[:16]}{cal_text}"
        )
    elif source == "import":
        text = f"imported from {meta.get('file')} sha256 {str(meta.get('sha256', ''))[:16]}"
        if meta.get("model"):
            text += f", scored by {meta.get('model')}"
        text += cal_text
    else:  # given to `study create` (or imported by an older turkops): the file name only
        path = source.removeprefix("import:")
        text = f"imported from {path} (stored array sha256 {stored_sha256[:16]})"
    out["description"] = text
    return out


def _fit_eta(
    pairs: list[PairSamples], priors: dict[int, np.ndarray] | None, beta: float
) -> agg.EtaEstimate:
    """EM fit of η over all rated samples of the study, under the model prior or β."""
    pos = np.concatenate([p.positives for p in pairs])
    tot = np.concatenate([p.totals for p in pairs])
    prior: float | np.ndarray = beta
    if priors is not None:
        prior = np.concatenate([priors[p.pair_id] for p in pairs])[tot > 0]
    return agg.estimate_eta_em(pos[tot > 0], tot[tot > 0], prior)


def _model_priors(pairs: list[PairSamples], scores: object) -> dict[int, np.ndarray] | None:
    if scores is None:
        return None
    column = {c: j for j, c in enumerate(scores.concepts)}  # type: ignore[attr-defined]
    out = {}
    for p in pairs:
        j = column.get(p.concept)
        if j is None:
            raise InputError(f"concept {p.concept!r} has no concept probabilities for bragg-model")
        out[p.pair_id] = agg.model_prior(scores.probs[p.rows, j])  # type: ignore[attr-defined]
    return out


def _labels(
    aggregation: Aggregation,
    pairs: list[PairSamples],
    table: RatingTable,
    priors: dict[int, np.ndarray] | None,
    eta: float,
    beta: float,
    acts: np.ndarray,
) -> dict[int, np.ndarray]:
    """Concept label per sample of each pair; NaN where an image has no rating yet."""
    out: dict[int, np.ndarray] = {}
    if aggregation in (Aggregation.DAWID_SKENE, Aggregation.DS_ACT):
        out_ds = _dawid_skene(
            pairs, table, priors, beta, acts if aggregation == Aggregation.DS_ACT else None
        )
    for p in pairs:
        a, m = p.positives, p.totals
        if aggregation == Aggregation.MEAN:
            lab = agg.mean_vote(a, np.maximum(m, 1))
        elif aggregation == Aggregation.MAJORITY:
            lab = agg.majority_vote(a, np.maximum(m, 1))
        elif aggregation == Aggregation.BRAGG_UNIFORM:
            lab = agg.bragg_posterior(a, m, eta, beta)
        elif aggregation == Aggregation.BRAGG_MODEL:
            assert priors is not None
            lab = agg.bragg_posterior(a, m, eta, priors[p.pair_id])
        elif aggregation == Aggregation.BRAGG_BETA:
            lab = agg.bragg_beta_posterior(a, m, beta)
        else:
            lab = out_ds[p.pair_id]
        out[p.pair_id] = np.where(m > 0, np.asarray(lab, dtype=np.float64), np.nan)
    return out


def _dawid_skene(
    pairs: list[PairSamples],
    table: RatingTable,
    priors: dict[int, np.ndarray] | None,
    beta: float,
    acts: np.ndarray | None,
) -> dict[int, np.ndarray]:
    """One EM over the whole study, so worker error rates are shared across pairs."""
    index: dict[int, int] = {}
    prior_all: list[float] = []
    a_z_all: list[float] = []
    pair_all: list[int] = []
    for code, p in enumerate(pairs):
        if acts is not None:
            column = acts[:, p.neuron].astype(np.float64)
            sd = float(column.std()) or 1.0
            a_z_all.extend(((column[p.rows] - column.mean()) / sd).tolist())
        for k, sid in enumerate(p.sample_ids.tolist()):
            index[sid] = len(index)
            prior_all.append(priors[p.pair_id][k] if priors else beta)
            pair_all.append(code)
    workers = {w: i for i, w in enumerate(sorted(set(table.worker_ids)))}
    items = np.array([index[int(s)] for s in table.sample_ids])
    codes = np.array([workers[w] for w in table.worker_ids])
    if acts is not None:
        fit = dawid_skene_with_activation(
            items,
            codes,
            table.values,
            np.array(prior_all),
            np.array(a_z_all),
            np.array(pair_all),
            n_workers=len(workers),
        )
    else:
        fit = dawid_skene_one_coin(
            items, codes, table.values, np.array(prior_all), n_items=len(index)
        )
    return {
        p.pair_id: np.array([fit.posterior[index[int(s)]] for s in p.sample_ids]) for p in pairs
    }


def _score_pair(
    p: PairSamples,
    labels: np.ndarray,
    acts: np.ndarray,
    n_inputs: int,
    rng: np.random.Generator,
    options: CollectOptions,
    variance: ConceptVariance = "weighted",
) -> tuple:
    """(rho, low, high, se, n_images, n_draws, n_ratings, ess, note) for one pair."""
    ok = p.totals > 0
    n_img, n_rat, n_draws = int(ok.sum()), int(p.totals.sum()), int(p.counts[ok].sum())
    if n_img == 0:
        return None, None, None, None, 0, 0, 0, 0.0, "no ratings yet"
    column = acts[:, p.neuron].astype(np.float64)
    sd = float(column.std())
    if sd == 0.0:
        return (
            None,
            None,
            None,
            None,
            n_img,
            n_draws,
            n_rat,
            0.0,
            "neuron is constant over the probing set: correlation undefined",
        )
    # Activations are known on the whole probing set, so they are z-scored over all of it.
    a_z = (column[p.rows[ok]] - column.mean()) / sd
    w = importance_weights(p.q[ok], n_inputs)
    est = weighted_correlation(a_z, labels[ok], w, p.counts[ok], concept_variance=variance)
    if est.degenerate:
        return (
            None,
            None,
            None,
            None,
            n_img,
            n_draws,
            n_rat,
            float(est.ess),
            "all aggregated labels are equal: correlation undefined",
        )
    ci = correlation_interval(
        a_z,
        labels[ok],
        w,
        p.counts[ok],
        rng,
        n_boot=options.n_boot,
        level=options.level,
        concept_variance=variance,
    )
    return (
        float(est.rho),
        float(ci.low),
        float(ci.high),
        float(ci.se),
        n_img,
        n_draws,
        n_rat,
        float(est.ess),
        None,
    )


def rank_methods(
    aggregation: str, scores: dict[str, dict[int, float]], methods: set[str]
) -> list[MethodScore]:
    """Mean ± s.e.m. over neurons per method; Welch and paired t-tests against the best."""
    stats = {}
    for method in sorted(methods):
        values = np.array(list(scores.get(method, {}).values()), dtype=np.float64)
        mean = float(values.mean()) if values.size else None
        sem = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else None
        stats[method] = (mean, sem, values)
    ordered = sorted(stats, key=lambda m: (stats[m][0] is None, -(stats[m][0] or 0.0), m))
    best = ordered[0]
    out = []
    for rank, method in enumerate(ordered, start=1):
        mean, sem, values = stats[method]
        p_two = p_pair = None
        shared = sorted(set(scores.get(best, {})) & set(scores.get(method, {})))
        if method != best and values.size > 1 and stats[best][2].size > 1:
            p_two = welch_t_test(stats[best][2], values).p_value
        if method != best and len(shared) > 1:
            p_pair = paired_t_test(
                np.array([scores[best][n] for n in shared]),
                np.array([scores[method][n] for n in shared]),
            ).p_value
        out.append(
            MethodScore(
                aggregation,
                method,
                mean,
                sem,
                int(values.size),
                rank,
                _f(p_two),
                _f(p_pair),
                len(shared) if method != best else 0,
            )
        )
    return out


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _kappa(table: RatingTable) -> float | None:
    """Fleiss' kappa over images with at least two ratings."""
    per_item: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for sid, v in zip(table.sample_ids.tolist(), table.values.tolist(), strict=True):
        per_item[sid][int(v)] += 1
    counts = np.array([c for c in per_item.values() if sum(c) >= 2], dtype=np.int64)
    if counts.shape[0] < 2:
        return None
    return _f(float(fleiss_kappa(counts).kappa))


def _workers(table: RatingTable, posteriors: dict[int, float], hash_ids: bool) -> list[WorkerScore]:
    agree: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for sid, worker, v in zip(
        table.sample_ids.tolist(), table.worker_ids, table.values.tolist(), strict=True
    ):
        post = posteriors.get(sid)
        a = agree[worker]
        a[0] += 1
        if post is not None and math.isfinite(post):
            a[1] += int(v == int(post >= 0.5))
    out = []
    for worker, (n, hits) in sorted(agree.items(), key=lambda kv: -kv[1][0]):
        shown = pseudonym(worker) if hash_ids else worker
        out.append(WorkerScore(shown, n, hits / n if n else None))
    return out


def pseudonym(worker_id: str) -> str:
    """A stable pseudonym: worker ids are personal data (STYLE.md)."""
    return "W" + hashlib.sha256(f"turkops|{worker_id}".encode()).hexdigest()[:12]
