"""Synthetic studies: probing sets with a concept, a neuron, a cheap model, and a crowd of raters.

Everything is drawn from a passed np.random.Generator; arrays are (K, N): K pairs over a probing
set of N inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special, stats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
RaterErrors = Literal["uniform", "beta", "spammers", "two-coin"]


@dataclass(frozen=True, slots=True)
class PopulationSetting:
    """How the probing set, the concepts, the neurons and the cheap model are generated.

    base_rate: (low, high) of a log-uniform concept base rate per pair (0.001 = 0.1% of inputs);
    correlation: (low, high) of a uniform target Pearson correlation between activation and
    concept; model_auc: AUC of the cheap model (equal-variance binormal scores, calibrated
    probabilities); activation_df: Student-t degrees of freedom of the activation noise (heavy
    tails: inputs without the concept that still fire strongly; inf = Gaussian).
    """

    n_inputs: int = 10_000
    base_rate: tuple[float, float] = (0.001, 0.01)
    correlation: tuple[float, float] = (0.05, 0.5)
    model_auc: float = 0.95
    activation_df: float = 3.0

    def __post_init__(self) -> None:
        lo, hi = self.base_rate
        if not 0 < lo <= hi < 1:
            raise ValueError("base_rate must satisfy 0 < low <= high < 1")
        clo, chi = self.correlation
        if not -1 < clo <= chi < 1:
            raise ValueError("correlation must satisfy -1 < low <= high < 1")
        if not 0.5 <= self.model_auc < 1:
            raise ValueError("model_auc must lie in [0.5, 1)")
        if self.n_inputs < 10:
            raise ValueError("n_inputs must be >= 10")
        if self.activation_df <= 2:
            raise ValueError("activation_df must be > 2 (finite variance)")


@dataclass(frozen=True, slots=True)
class CrowdSetting:
    """How raters err. eta: mean error rate; rater_errors: "uniform" (every worker η), "beta"
    (η_w ~ Beta with mean η and a+b = beta_concentration) or "spammers" (a spammer_share of
    workers answers at random, the rest err with η) or "two-coin" (asymmetric raters: each
    worker's sensitivity ~ Beta(sensitivity_beta) and specificity ~ Beta(specificity_beta), η
    unused); false_positive_rate: error rate on inputs without the concept (None: the same as on
    inputs with it, i.e. symmetric, as BRAgg assumes); n_workers: pool size of one study."""

    eta: float = 0.23
    rater_errors: RaterErrors = "uniform"
    beta_concentration: float = 10.0
    spammer_share: float = 0.2
    false_positive_rate: float | None = None
    n_workers: int = 100
    # "Select the images that contain X": a missed image (mean sensitivity 0.67) is far likelier
    # than a false tick (mean specificity 0.97).
    sensitivity_beta: tuple[float, float] = (6.0, 3.0)
    specificity_beta: tuple[float, float] = (30.0, 1.0)

    def __post_init__(self) -> None:
        if min(*self.sensitivity_beta, *self.specificity_beta) <= 0:
            raise ValueError("Beta parameters of sensitivity and specificity must be > 0")
        if not 0 <= self.eta < 0.5:
            raise ValueError("eta must lie in [0, 0.5)")
        if not 0 <= self.spammer_share <= 1:
            raise ValueError("spammer_share must lie in [0, 1]")
        if self.false_positive_rate is not None and not 0 <= self.false_positive_rate < 0.5:
            raise ValueError("false_positive_rate must lie in [0, 0.5)")
        if self.n_workers < 1 or self.beta_concentration <= 0:
            raise ValueError("n_workers and beta_concentration must be > 0")


@dataclass(frozen=True, slots=True, eq=False)
class Population:
    """K pairs over N inputs. activations, concept (0/1), concept_probs: (K, N); base_rate,
    rho (the true Pearson correlation over the whole set), model_rho (SigLIP-only score): (K,)."""

    activations: FloatArray
    concept: FloatArray
    concept_probs: FloatArray
    base_rate: FloatArray
    rho: FloatArray
    model_rho: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class Crowd:
    """A pool of W workers: probability that each votes "present" when the concept is present
    (1 - false negative rate) and when it is absent (false positive rate), both (W,); seed: the
    crowd's own randomness (which worker rates which input, and their slips)."""

    rate_if_present: FloatArray
    rate_if_absent: FloatArray
    seed: int

    @property
    def n_workers(self) -> int:
        return int(self.rate_if_present.size)

    def pool_rates(self) -> tuple[float, float]:
        """Vote rates of a worker drawn at random from the pool: (given present, given absent)."""
        return float(self.rate_if_present.mean()), float(self.rate_if_absent.mean())


def pearson_rows(x: FloatArray, y: FloatArray) -> FloatArray:
    """Pearson correlation of each row of x with the same row of y, (K, N) -> (K,)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    out: FloatArray = np.where(den > 0, (xc * yc).sum(-1) / np.where(den > 0, den, 1.0), 0.0)
    return out


def simulate_population(
    setting: PopulationSetting, n_pairs: int, rng: np.random.Generator
) -> Population:
    """Draw K = n_pairs (neuron, concept) pairs over one synthetic probing set of N inputs."""
    n = setting.n_inputs
    lo, hi = setting.base_rate
    base = np.exp(rng.uniform(np.log(lo), np.log(hi), n_pairs))
    # An exact number of positives (at least 2) keeps every pair's true correlation defined.
    n_pos = np.maximum(2, np.rint(base * n)).astype(np.int64)
    ranks = np.argsort(rng.random((n_pairs, n)), axis=1)
    concept = (ranks < n_pos[:, None]).astype(np.float64)
    b = n_pos / n
    target = rng.uniform(*setting.correlation, n_pairs)
    # For unit-variance noise, corr(s·c + z, c) = s·sqrt(b(1-b)) / sqrt(s²b(1-b) + 1).
    shift = target / np.sqrt((1 - target**2) * b * (1 - b))
    df = setting.activation_df
    if np.isinf(df):
        noise = rng.standard_normal((n_pairs, n))
    else:
        noise = rng.standard_t(df, (n_pairs, n)) / np.sqrt(df / (df - 2))
    activations = shift[:, None] * concept + noise
    # Equal-variance binormal scores have AUC = Φ(d/√2); the calibrated probability is the
    # posterior given the score: logit P = d·t - d²/2 + logit(b).
    d = np.sqrt(2.0) * stats.norm.ppf(setting.model_auc)
    score = d * concept + rng.standard_normal((n_pairs, n))
    probs = special.expit(d * score - d * d / 2 + special.logit(b)[:, None])
    return Population(
        activations=activations,
        concept=concept,
        concept_probs=probs,
        base_rate=b,
        rho=pearson_rows(activations, concept),
        model_rho=pearson_rows(activations, probs),
    )


def simulate_crowd(setting: CrowdSetting, rng: np.random.Generator) -> Crowd:
    """Draw one study's worker pool with its error rates."""
    w = setting.n_workers
    eta = setting.eta
    if setting.rater_errors == "uniform":
        err = np.full(w, eta)
    elif setting.rater_errors == "beta":
        kappa = setting.beta_concentration
        err = rng.beta(max(eta * kappa, 1e-6), max((1 - eta) * kappa, 1e-6), w)
    elif setting.rater_errors == "spammers":
        err = np.full(w, eta)
    elif setting.rater_errors == "two-coin":
        sens = rng.beta(*setting.sensitivity_beta, w)
        spec = rng.beta(*setting.specificity_beta, w)
        return Crowd(
            rate_if_present=sens,
            rate_if_absent=1.0 - spec,
            seed=int(rng.integers(0, 2**63)),
        )
    else:
        raise ValueError(f"unknown rater_errors {setting.rater_errors!r}")
    fp = (
        err.copy()
        if setting.false_positive_rate is None
        else err * (setting.false_positive_rate / eta if eta > 0 else 0.0)
    )
    if setting.rater_errors == "spammers":
        spam = rng.random(w) < setting.spammer_share
        err = np.where(spam, 0.5, err)
        fp = np.where(spam, 0.5, fp)
    return Crowd(
        rate_if_present=1.0 - err,
        rate_if_absent=np.clip(fp, 0.0, 1.0),
        seed=int(rng.integers(0, 2**63)),
    )


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: a bijective scramble of 64-bit integers (wraps around)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return out


def _keyed_uniform(seed: int, keys: IntArray, stream: int) -> FloatArray:
    """A uniform in [0, 1) per (seed, key, stream), the same whoever else is drawn."""
    with np.errstate(over="ignore"):
        x = _mix(keys.astype(np.uint64) * np.uint64(64) + np.uint64(stream))
        x = _mix(x ^ np.uint64(seed))
    out: FloatArray = (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out


def simulate_votes(
    crowd: Crowd, concept: npt.ArrayLike, n_raters: int, keys: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int32]]:
    """Ratings of n_raters distinct workers for each of U inputs (as MTurk forbids a worker
    to take the same HIT twice).

    concept: (U,) true 0/1; keys: (U,) identities of the inputs (default 0..U-1). An input's
    ratings depend only on the crowd and its key, so two simulations that show it get the same
    ratings (common random numbers). Returns votes (U, n_raters) int8 (1 = "present") and the
    worker code of each vote (U, n_raters).
    """
    c = np.asarray(concept, dtype=np.float64)
    key = np.arange(c.size, dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64)
    if key.shape != c.shape:
        raise ValueError("keys must have one entry per input")
    w = crowd.n_workers
    if n_raters > w or n_raters > 60:
        raise ValueError(f"{n_raters} raters per input need a pool of at least {n_raters} workers")
    # Consecutive codes after a random offset: distinct workers per input, each worker spread
    # evenly over the inputs. Stream 63 picks the offset, streams 0..59 the slips.
    offset = (_keyed_uniform(crowd.seed, key, 63) * w).astype(np.int64)
    workers = ((offset[:, None] + np.arange(n_raters)[None, :]) % w).astype(np.int32)
    rate = np.where(c[:, None] > 0.5, crowd.rate_if_present[workers], crowd.rate_if_absent[workers])
    u = np.stack([_keyed_uniform(crowd.seed, key, r) for r in range(n_raters)], axis=1)
    votes = (u < rate).astype(np.int8)
    return votes, workers
