"""`turkops collect`: ratings -> aggregated labels -> weighted correlations -> method ranking."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal

import numpy as np
from scipy.stats import norm

from turkops.domain import DEFAULT_AGGREGATION, Aggregation, InputError, SamplingStrategy
from turkops.services.aggregate import (
    BINARY_VARIANCE,
    ItemInfo,
    LongRatings,
    aggregate_labels,
)
from turkops.services.ratings import PairSamples, RatingTable, load_ratings
from turkops.services.studies import CONCEPT_PROBS, load_activations, load_concept_scores
from turkops.stats import aggregation as agg
from turkops.stats.agreement import fleiss_kappa
from turkops.stats.comparison import compare_methods, paired_t_test, welch_t_test
from turkops.stats.correlation import (
    ConceptVariance,
    correlation_intervals,
    effective_sample_size,
    weighted_correlations,
)
from turkops.stats.ma_act import (
    NOISY_CROWD_YOUDEN,
    crowd_youden,
    fit_ma_act,
    ma_act_correlations,
    normal_scores,
)
from turkops.stats.pooling import pooled_points
from turkops.stats.sampling import (
    ag_is_proposal,
    importance_weights,
    mg_is_proposal,
    uniform_proposal,
    zscore,
)
from turkops.stats.two_coin import ACTIVATION_PENALTY
from turkops.wiring import Runtime

SCHEMA_VERSION = 1
# Aggregations whose labels depend on the rater error rate η.
ETA_AGGREGATIONS = frozenset({Aggregation.BRAGG_UNIFORM, Aggregation.BRAGG_MODEL})
MA_ACT_CHUNK = 256
"""Pairs per batch of ma-act's full-set arrays: each of its (K, N) float64 arrays is K·N·8 bytes."""


@dataclass(frozen=True, slots=True)
class CollectOptions:
    aggregations: tuple[Aggregation, ...] = (DEFAULT_AGGREGATION,)
    eta: float | None = 0.23  # None: estimate by EM from the study's ratings
    beta: float = 0.05
    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0
    hash_workers: bool = True  # worker ids are personal data: pseudonyms unless asked for raw


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
    # ma-act: the pair's own estimate before pooling across the study (correlation is pooled,
    # pooling.py); None for the other aggregations, whose correlation is the pair's own.
    own_correlation: float | None = None


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
    # Intervals and tests that carry each pair's estimation error (comparison.compare_methods):
    # the mean's 95% interval, best - this method with its interval, p and Holm-adjusted p.
    ci_low: float | None = None
    ci_high: float | None = None
    diff_vs_best: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    p_vs_best: float | None = None
    p_holm: float | None = None


@dataclass(frozen=True, slots=True)
class WorkerScore:
    worker: str
    ratings: int
    agreement: float | None  # share of ratings equal to the rounded posterior
    spammer: bool = False  # two-coin sens + spec near 1 (turkops/services/spammers.py)


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
        sampling = (study.sample_strategy, study.sample_gamma)
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
    if Aggregation.MA_ACT in options.aggregations and scores is None:
        raise InputError(
            "ma-act needs concept probabilities (turkops concepts score/import); "
            "without them use --aggregation bragg-uniform"
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
    etas = {
        a: float(options.eta if options.eta is not None else agg.DEFAULT_ETA)
        for a in options.aggregations
    }
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
    errors: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    posteriors_for_workers: dict[int, float] = {}
    rng = np.random.default_rng(options.seed)
    for aggregation in options.aggregations:
        eta = etas[aggregation]
        if aggregation == Aggregation.MA_ACT:
            # Not labels then a correlation: its own estimator (labels are its posteriors).
            methods_of: dict[int, set[str]] = defaultdict(set)
            for _, method, _, pair_id in explanations:
                methods_of[pair_id].add(method)
            pair_scores, labels = _score_pairs_ma_act(
                pairs, table, acts, scores, sampling, options, eta, result.warnings, methods_of
            )
        else:
            labels = _labels(aggregation, pairs, table, priors, eta, options.beta, acts)
            # ds-act and two-coin-act condition on the activation too: the binary variance.
            variance: ConceptVariance = "binary" if aggregation in BINARY_VARIANCE else "weighted"
            pair_scores = _score_pairs(pairs, labels, acts, n_inputs, rng, options, variance)
        for p in pairs:
            if aggregation == options.aggregations[0]:
                for sid, lab in zip(p.sample_ids.tolist(), labels[p.pair_id].tolist(), strict=True):
                    posteriors_for_workers[sid] = lab
        for neuron, method, concept, pair_id in explanations:
            rho, lo, hi, se, n_img, n_draws, n_rat, ess, note, *own = pair_scores[pair_id]
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
                    own_correlation=own[0] if own else None,
                )
            )
            if rho is not None:
                by_method[str(aggregation)][method][neuron] = rho
                errors[str(aggregation)][method][neuron] = se
        result.methods.extend(
            rank_methods(
                str(aggregation),
                by_method[str(aggregation)],
                {e[1] for e in explanations},
                errors[str(aggregation)],
                rng,
                options.level,
            )
        )
    result.fleiss_kappa = _kappa(table)
    result.workers = _workers(table, posteriors_for_workers, options.hash_workers)
    _flag_spammers(rt, name, table, result, options.hash_workers)
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


def _study_ratings(
    pairs: list[PairSamples],
    table: RatingTable,
    priors: dict[int, np.ndarray] | None,
    acts: np.ndarray,
) -> tuple[LongRatings, ItemInfo, dict[int, np.ndarray]]:
    """The study's ratings as one long table over every (pair, sample), for one EM over the
    whole study (worker rates are shared across pairs), and each pair's item codes."""
    item_codes: dict[int, np.ndarray] = {}
    a_z_all: list[np.ndarray] = []
    group_all: list[np.ndarray] = []
    start = 0
    for code, p in enumerate(pairs):
        column = acts[:, p.neuron].astype(np.float64)
        sd = float(column.std()) or 1.0
        a_z_all.append((column[p.rows] - column.mean()) / sd)
        group_all.append(np.full(p.sample_ids.size, code, dtype=np.int64))
        item_codes[p.pair_id] = np.arange(start, start + p.sample_ids.size)
        start += p.sample_ids.size
    # Vectorised look-ups: a large study has millions of ratings.
    sample_ids = np.concatenate([p.sample_ids for p in pairs]).astype(np.int64)
    order = np.argsort(sample_ids, kind="stable")
    pos = np.searchsorted(sample_ids[order], table.sample_ids)
    if np.any(pos >= sample_ids.size) or np.any(sample_ids[order][pos] != table.sample_ids):
        raise InputError("a rating refers to a sample that belongs to no pair of this study")
    worker_names, worker_codes = np.unique(
        np.asarray(table.worker_ids, dtype=str), return_inverse=True
    )
    ratings = LongRatings(
        items=order[pos].astype(np.int64),
        workers=worker_codes.astype(np.int64).ravel(),
        values=np.asarray(table.values, dtype=np.int64),
        n_items=int(sample_ids.size),
        n_workers=int(worker_names.size),
    )
    info = ItemInfo(
        model_prior=np.concatenate([priors[p.pair_id] for p in pairs]) if priors else None,
        activations_z=np.concatenate(a_z_all),
        groups=np.concatenate(group_all),
    )
    return ratings, info, item_codes


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
    ratings, info, item_codes = _study_ratings(pairs, table, priors, acts)
    fit = aggregate_labels(aggregation, ratings, info, eta=eta, beta=beta)
    return {p.pair_id: fit.labels[item_codes[p.pair_id]] for p in pairs}


def _score_pairs(
    pairs: list[PairSamples],
    labels: dict[int, np.ndarray],
    acts: np.ndarray,
    n_inputs: int,
    rng: np.random.Generator,
    options: CollectOptions,
    variance: ConceptVariance = "weighted",
) -> dict[int, tuple]:
    """(rho, low, high, se, n_images, n_draws, n_ratings, ess, note) per pair id.

    All scorable pairs go through one batched estimate and one batched bootstrap (BCa), padded
    to the longest sample: per-pair calls would cost seconds per thousand pairs.
    """
    out: dict[int, tuple] = {}
    mean = acts.mean(axis=0, dtype=np.float64)
    sd = acts.std(axis=0, dtype=np.float64)
    batch: list[tuple[PairSamples, np.ndarray, int, int, int]] = []
    for p in pairs:
        ok = p.totals > 0
        n_img, n_rat, n_draws = int(ok.sum()), int(p.totals.sum()), int(p.counts[ok].sum())
        if n_img == 0:
            out[p.pair_id] = (None, None, None, None, 0, 0, 0, 0.0, "no ratings yet")
        elif sd[p.neuron] == 0.0:
            note = "neuron is constant over the probing set: correlation undefined"
            out[p.pair_id] = (None, None, None, None, n_img, n_draws, n_rat, 0.0, note)
        else:
            batch.append((p, ok, n_img, n_draws, n_rat))
    if not batch:
        return out
    width = max(int(ok.sum()) for _, ok, *_ in batch)
    k = len(batch)
    a_z, y, w, cnt = (np.zeros((k, width)) for _ in range(4))
    for row, (p, ok, n_img, _, _) in enumerate(batch):
        # Activations are known on the whole probing set, so they are z-scored over all of it.
        col = acts[p.rows[ok], p.neuron].astype(np.float64)
        a_z[row, :n_img] = (col - mean[p.neuron]) / sd[p.neuron]
        y[row, :n_img] = labels[p.pair_id][ok]
        w[row, :n_img] = importance_weights(p.q[ok], n_inputs)
        cnt[row, :n_img] = p.counts[ok]
    est = weighted_correlations(a_z, y, w, cnt, concept_variance=variance)
    ci = correlation_intervals(
        a_z,
        y,
        w,
        cnt,
        rng,
        n_boot=options.n_boot,
        level=options.level,
        concept_variance=variance,
    )
    for row, (p, _, n_img, n_draws, n_rat) in enumerate(batch):
        ess = float(est.ess[row])
        if est.degenerate[row]:
            note = "all aggregated labels are equal: correlation undefined"
            out[p.pair_id] = (None, None, None, None, n_img, n_draws, n_rat, ess, note)
            continue
        out[p.pair_id] = (
            float(est.rho[row]),
            float(ci.low[row]),
            float(ci.high[row]),
            float(ci.se[row]),
            n_img,
            n_draws,
            n_rat,
            ess,
            None,
        )
    return out


def _full_proposal(
    strategy: SamplingStrategy, gamma: float | None, a: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """q over the whole probing set, as `turkops sample` computed it (services/sampling.py)."""
    if strategy is SamplingStrategy.MG_IS:
        return mg_is_proposal(a, probs, gamma=gamma if gamma is not None else 0.2)
    if strategy is SamplingStrategy.AG_IS:
        return ag_is_proposal(a, gamma=gamma if gamma is not None else 0.2)
    return uniform_proposal(a.shape[-1])


def _score_pairs_ma_act(
    pairs: list[PairSamples],
    table: RatingTable,
    acts: np.ndarray,
    scores: object,
    sampling: tuple[str | None, float | None],
    options: CollectOptions,
    eta: float,
    warnings: list[str],
    methods_of: dict[int, set[str]],
) -> tuple[dict[int, tuple], dict[int, np.ndarray]]:
    """ma-act (turkops/stats/ma_act.py): (rho, low, high, se, ...) per pair id, as _score_pairs,
    with the pair's own (unpooled) estimate appended where it was scored, and each sample's
    P(concept | votes) under the working model (NaN where unrated).

    One fit_ma_act over the whole study (worker rates shared across pairs; items are the rated
    samples of every pair with ratings), then ma_act_correlations in chunks of MA_ACT_CHUNK
    pairs over the full-set arrays: ā z-scored over the probing set, the normal scores of the
    activation, the model prior and the proposal q recomputed from the study's sampling settings
    (the stored q where an input was drawn; a warning if the two differ). Only rated samples
    are draws. [low, high] is the model-averaged interval; rho is pooled over the study's
    pairs once every chunk is scored (pooling.pooled_points, one line per explanation method,
    methods_of: pair id -> its methods), inside [low, high]; se = (high - low) / (2 z) with z the
    normal quantile of the level, the mixture's spread (se_full would ignore the null model).
    """
    if scores is None:
        raise InputError("ma-act needs concept probabilities (turkops concepts score/import)")
    probs_all = np.asarray(scores.probs, dtype=np.float64)  # type: ignore[attr-defined]
    column = {c: j for j, c in enumerate(scores.concepts)}  # type: ignore[attr-defined]
    strategy_name, gamma = sampling
    try:
        strategy = SamplingStrategy(strategy_name or "")
    except ValueError:
        raise InputError(
            f"ma-act needs the study's sampling strategy; found {strategy_name!r}"
        ) from None
    n_pop = acts.shape[0]
    sd = acts.std(axis=0, dtype=np.float64)
    out: dict[int, tuple] = {}
    labels = {p.pair_id: np.full(p.sample_ids.size, np.nan) for p in pairs}
    fitted: list[PairSamples] = []  # pairs with ratings: in the fit
    for p in pairs:
        ok = p.totals > 0
        if p.concept not in column:
            raise InputError(f"concept {p.concept!r} has no concept probabilities for ma-act")
        if not ok.any():
            out[p.pair_id] = (None, None, None, None, 0, 0, 0, 0.0, "no ratings yet")
        else:
            fitted.append(p)
    if not fitted:
        return out, labels

    changed: set[int] = set()

    def full_arrays(chunk: list[PairSamples]) -> tuple[np.ndarray, ...]:
        """(K, N) ā, feature, prior and q of a chunk; q at the drawn rows is the stored one."""
        raw = np.stack([acts[:, p.neuron] for p in chunk])
        probs = np.stack([probs_all[:, column[p.concept]] for p in chunk])
        q = np.stack(
            [
                _full_proposal(strategy, gamma, acts[:, p.neuron], pr)
                for p, pr in zip(chunk, probs, strict=True)
            ]
        )
        for p, qk in zip(chunk, q, strict=True):
            if not np.allclose(qk[p.rows], p.q, rtol=1e-6, atol=0.0):
                # Scores re-imported after sampling (`concepts import --force`): the draws keep
                # the q they were drawn with, so the estimate stays design-unbiased; only the
                # unseen inputs' share of the variance uses today's proposal.
                changed.add(p.pair_id)
            qk[p.rows] = p.q
        if np.any(q <= 0):
            raise InputError(
                "ma-act needs a proposal > 0 on every input; this study was sampled with "
                "--gamma 0: use --aggregation bragg-model"
            )
        raw64 = raw.astype(np.float64)
        return zscore(raw64), normal_scores(raw64), agg.model_prior(probs), q

    # Items: every rated sample of the fitted pairs, pair by pair.
    item_rows: list[np.ndarray] = []
    item_pair: list[np.ndarray] = []
    prior_u: list[np.ndarray] = []
    feature_u: list[np.ndarray] = []
    for start in range(0, len(fitted), MA_ACT_CHUNK):
        chunk = fitted[start : start + MA_ACT_CHUNK]
        _, feature, prior, _ = full_arrays(chunk)
        for k, p in enumerate(chunk):
            rows = p.rows[p.totals > 0]
            item_rows.append(rows)
            item_pair.append(np.full(rows.size, start + k, dtype=np.int64))
            prior_u.append(prior[k, rows])
            feature_u.append(feature[k, rows])
    sample_ids = np.concatenate([p.sample_ids[p.totals > 0] for p in fitted]).astype(np.int64)
    order = np.argsort(sample_ids, kind="stable")
    keep = np.isin(table.sample_ids, sample_ids)  # ratings of fitted pairs' samples
    pos = np.searchsorted(sample_ids[order], table.sample_ids[keep])
    worker_names, worker_codes = np.unique(
        np.asarray(table.worker_ids, dtype=str)[keep], return_inverse=True
    )
    fit = fit_ma_act(
        order[pos].astype(np.int64),
        worker_codes.astype(np.int64).ravel(),
        np.asarray(table.values, dtype=np.float64)[keep],
        np.concatenate(prior_u),
        np.concatenate(feature_u),
        np.concatenate(item_pair),
        len(fitted),
        n_workers=int(worker_names.size),
        eta_init=eta,
    )
    sens, spec, youden = crowd_youden(
        fit.sensitivity,
        fit.specificity,
        np.bincount(worker_codes.ravel(), minlength=fit.sensitivity.size),
    )
    if youden < NOISY_CROWD_YOUDEN:
        warnings.append(
            f"ma-act: the raters are noisy (fitted sensitivity {sens:.2f}, specificity "
            f"{spec:.2f}); with a crowd this noisy ma-act's 95% intervals held the true "
            "correlation only 85% of the time with 1 rater and 93% with 3 in simulation "
            "(docs/statistics.md 2c): add raters per image"
        )
    per_image = np.concatenate([p.totals[p.totals > 0] for p in fitted])
    if np.median(per_image) < 2:
        # One weak vote corrects the working model only part of the way, and the most at strong
        # pairs: the grid's 94% coverage averages 99% for weak pairs with 90% for strong ones.
        warnings.append(
            "ma-act: most images have one rating; in simulation strong correlations came out "
            "low with one rater (true ρ >= 0.4: 0.12 low on average, 95% intervals holding it "
            "90% of the time; 0.08 and 96% with 3 raters, docs/statistics.md 2e): compare "
            "methods rather than read strong correlations at face value, or add raters"
        )
    offsets = np.cumsum([0] + [r.size for r in item_rows])
    for code, p in enumerate(fitted):
        labels[p.pair_id][p.totals > 0] = fit.posterior[offsets[code] : offsets[code + 1]]
    z = float(norm.ppf(0.5 + options.level / 2))
    # (pair id, (own ρ̂, low, high, ρ̂1, se1, ρ_model), (images, draws, ratings, ESS)) per pair
    scored_rows: list[tuple[int, tuple[float, ...], tuple[int, int, int, float]]] = []
    for start in range(0, len(fitted), MA_ACT_CHUNK):
        chunk = fitted[start : start + MA_ACT_CHUNK]
        scored = [k for k, p in enumerate(chunk) if sd[p.neuron] > 0.0]
        for k, p in enumerate(chunk):
            if k not in scored:
                ok = p.totals > 0
                note = "neuron is constant over the probing set: correlation undefined"
                n_img, n_rat, n_draws = int(ok.sum()), int(p.totals.sum()), int(p.counts[ok].sum())
                out[p.pair_id] = (None, None, None, None, n_img, n_draws, n_rat, 0.0, note)
        if not scored:
            continue
        sub = [chunk[k] for k in scored]
        a_z, feature, prior, q = full_arrays(sub)
        width = max(int((p.totals > 0).sum()) for p in sub)
        positions = np.zeros((len(sub), width), dtype=np.int64)
        counts = np.zeros((len(sub), width))
        d_pair, d_pos, d_ev = [], [], []
        for row, (k, p) in enumerate(zip(scored, sub, strict=True)):
            ok = p.totals > 0
            n_img = int(ok.sum())
            positions[row, :n_img] = p.rows[ok]
            counts[row, :n_img] = p.counts[ok]
            code = start + k
            d_pair.append(np.full(n_img, row, dtype=np.int64))
            d_pos.append(p.rows[ok])
            d_ev.append(fit.evidence[offsets[code] : offsets[code + 1]])
        est = ma_act_correlations(
            a_z,
            feature,
            prior,
            q,
            positions,
            counts,
            np.concatenate(d_pair),
            np.concatenate(d_pos),
            np.concatenate(d_ev),
            fit.theta[[start + k for k in scored]],
            penalty=ACTIVATION_PENALTY,
            level=options.level,
        )
        w = np.where(counts > 0, 1.0 / (n_pop * q[np.arange(len(sub))[:, None], positions]), 0.0)
        ess = effective_sample_size(w, counts)
        for row, p in enumerate(sub):
            ok = p.totals > 0
            n_img, n_rat, n_draws = int(ok.sum()), int(p.totals.sum()), int(p.counts[ok].sum())
            per_pair = tuple(
                float(x[row])
                for x in (est.rho, est.low, est.high, est.rho_full, est.se_full, est.model_rho)
            )
            if not all(math.isfinite(x) for x in per_pair[:3]):
                note = "ma-act estimate undefined (non-finite)"
                out[p.pair_id] = (None, None, None, None, n_img, n_draws, n_rat, 0.0, note)
                continue
            scored_rows.append((p.pair_id, per_pair, (n_img, n_draws, n_rat, float(ess[row]))))
    if scored_rows:
        own, low, high, full, se_full, model_rho = (
            np.array(col) for col in zip(*(r[1] for r in scored_rows), strict=True)
        )
        # Pooled only now: the line and τ² are the whole study's, not a chunk's.
        rho = pooled_points(
            own,
            full,
            se_full,
            low,
            high,
            model_rho,
            [sorted(methods_of.get(pid, ())) for pid, _, _ in scored_rows],
        )
        for i, (pid, vals, counts_ess) in enumerate(scored_rows):
            se = (vals[2] - vals[1]) / (2 * z)
            out[pid] = (float(rho[i]), vals[1], vals[2], se, *counts_ess, None, vals[0])
    if changed:
        warnings.append(
            f"ma-act: the proposal of {len(changed)} pair(s) differs from the one their images "
            "were drawn with (concept scores or activations changed after `turkops sample`); "
            "the draws keep their stored weights"
        )
    return out, labels


def rank_methods(
    aggregation: str,
    scores: dict[str, dict[int, float]],
    methods: set[str],
    errors: dict[str, dict[int, float]] | None = None,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> list[MethodScore]:
    """Mean ± s.e.m. over neurons per method; Welch and paired t-tests against the best (the
    paper's); and intervals, differences and Holm-adjusted p-values that also carry each pair's
    estimation error `errors` (method -> neuron -> se; None: scores are exact)."""
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
    with_se = {
        m: {n: (r, (errors or {}).get(m, {}).get(n, 0.0)) for n, r in per.items()}
        for m, per in scores.items()
        if per
    }
    if not with_se:
        return out
    intervals, diffs = compare_methods(
        with_se, rng if rng is not None else np.random.default_rng(0), level=level
    )
    return [
        replace(
            s,
            ci_low=_f(intervals[s.method].low) if s.method in intervals else None,
            ci_high=_f(intervals[s.method].high) if s.method in intervals else None,
            diff_vs_best=_f(diffs[s.method].difference) if s.method in diffs else None,
            diff_low=_f(diffs[s.method].low) if s.method in diffs else None,
            diff_high=_f(diffs[s.method].high) if s.method in diffs else None,
            p_vs_best=_f(diffs[s.method].p_value) if s.method in diffs else None,
            p_holm=_f(diffs[s.method].p_holm) if s.method in diffs else None,
        )
        for s in out
    ]


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


def _flag_spammers(
    rt: Runtime, name: str, table: RatingTable, result: CollectResult, hash_ids: bool
) -> None:
    """Mark (and log) the workers the two-coin fit calls spammers; blocking is the user's call."""
    from turkops.services.spammers import SPAMMER_MARGIN, flag_spammers

    flagged = {
        pseudonym(f.worker) if hash_ids else f.worker for f in flag_spammers(rt, name, table)
    }
    if not flagged:
        return
    result.workers = [replace(w, spammer=w.worker in flagged) for w in result.workers]
    result.warnings.append(
        f"{len(flagged)} workers look like spammers (two-coin sensitivity + specificity <= "
        f"{1 + SPAMMER_MARGIN:g}): `turkops block --flagged {name} --reason TEXT` blocks them"
    )


def pseudonym(worker_id: str) -> str:
    """A stable pseudonym: worker ids are personal data (STYLE.md).

    The one pseudonymisation of turkops: collect (table, CSV, JSON) and the report both show
    these, so the same worker has the same name in every output of every study.
    """
    return "W" + hashlib.sha256(f"turkops|{worker_id}".encode()).hexdigest()[:12]
