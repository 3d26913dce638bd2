"""MACE (Hovy et al. 2013, "Learning Whom to Trust with MACE"), binary labels.

On each item worker w either answers truthfully (probability θ_w) or spams (1 - θ_w): a spam
answer is 1 with the worker's own probability ξ_w, whatever the truth. So a spammer who always
ticks "yes" is recognised as such (θ_w ≈ 0, ξ_w ≈ 1) and her votes carry no evidence, and no
worker can be worse than random (P(v = c | c) = θ + (1-θ)·ξ(c) ≥ ξ(c)), which removes the label
switch of Dawid-Skene. Fitted as in the paper's variational-Bayes EM: symmetric Beta(0.5, 0.5)
prior on θ_w (mass near 0 and 1: workers are mostly careful or mostly spamming) and a symmetric
Dirichlet on ξ_w; the M-step returns exp E[log θ] etc. (Hovy et al. sec. 2.2). One deterministic
start (θ = 0.5, ξ = 0.5, i.e. majority vote's first posterior) instead of random restarts.
The per-item class prior is BRAgg's (uniform β or the model probability).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from turkops.stats.glad import _validate

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

THETA_PRIOR = (0.5, 0.5)
"""Beta prior on the truth-telling probability θ_w (Hovy et al.'s α = β = 0.5)."""
SPAM_PRIOR = 10.0
"""Symmetric Dirichlet pseudo-counts per label of the spam distribution ξ_w: a worker spams on
few items, so her spam distribution is only loosely determined by them."""


@dataclass(frozen=True, slots=True, eq=False)
class MaceResult:
    """posterior: (n_items,) P(c=1 | ratings); competence: (n_workers,) E[θ_w] (probability of
    answering truthfully); spam_one: (n_workers,) E[ξ_w], P(a spam answer is 1)."""

    posterior: FloatArray
    competence: FloatArray
    spam_one: FloatArray
    worker_ratings: IntArray
    n_iter: int
    converged: bool

    @property
    def sensitivity(self) -> FloatArray:
        """P(vote 1 | c=1) = θ + (1-θ)·ξ."""
        out: FloatArray = self.competence + (1 - self.competence) * self.spam_one
        return out

    @property
    def specificity(self) -> FloatArray:
        """P(vote 0 | c=0) = θ + (1-θ)·(1-ξ)."""
        out: FloatArray = self.competence + (1 - self.competence) * (1 - self.spam_one)
        return out


def mace(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike = 0.5,
    *,
    n_items: int | None = None,
    n_workers: int | None = None,
    theta_prior: tuple[float, float] = THETA_PRIOR,
    spam_prior: float = SPAM_PRIOR,
    max_iter: int = 200,
    tol: float = 1e-4,
) -> MaceResult:
    """Fit binary MACE by variational EM; returns posteriors P(c_i = 1 | ratings).

    items, workers: (R,) integer codes; values: (R,) 0/1; prior: scalar or (n_items,) P(c=1).
    Stops when no posterior moves by more than tol.
    """
    it, wk, v, pri, n_i, n_w = _validate(items, workers, values, prior, n_items, n_workers)
    a, b = theta_prior
    z = special.logit(pri)
    n_rated = np.bincount(wk, minlength=n_w).astype(np.float64)
    # Sub-normalised "weights" exp E[log ·] of the variational M-step; start at θ = ξ = 0.5.
    w_true = np.full(n_w, 0.5)
    w_spam = np.full(n_w, 0.5)
    w_one = np.full(n_w, 0.5)
    w_zero = np.full(n_w, 0.5)

    def rating_probs() -> tuple[FloatArray, FloatArray, FloatArray]:
        """P(v | c=1), P(v | c=0) of each rating and the spam part P(v | spam)·(1-θ)."""
        spam = w_spam[wk] * np.where(v > 0.5, w_one[wk], w_zero[wk])
        p1 = spam + np.where(v > 0.5, w_true[wk], 0.0)
        p0 = spam + np.where(v > 0.5, 0.0, w_true[wk])
        return p1, p0, spam

    def e_step() -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        p1, p0, spam = rating_probs()
        s = np.bincount(it, weights=np.log(p1) - np.log(p0), minlength=n_i)
        post: FloatArray = special.expit(z + s)
        return post, p1, p0, spam

    post, p1, p0, spam = e_step()
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        q_match = np.where(v > 0.5, post[it], 1.0 - post[it])  # P(c = v)
        p_match = np.where(v > 0.5, p1, p0)
        # E[truthful]: only possible when c = v.
        truthful = q_match * w_true[wk] / p_match
        spam_resp = 1.0 - truthful
        n_true = np.bincount(wk, weights=truthful, minlength=n_w)
        n_spam = n_rated - n_true
        n_spam_one = np.bincount(wk, weights=spam_resp * v, minlength=n_w)
        n_spam_zero = n_spam - n_spam_one
        total = special.digamma(n_rated + a + b)
        w_true = np.exp(special.digamma(n_true + a) - total)
        w_spam = np.exp(special.digamma(n_spam + b) - total)
        spam_total = special.digamma(n_spam + 2 * spam_prior)
        w_one = np.exp(special.digamma(n_spam_one + spam_prior) - spam_total)
        w_zero = np.exp(special.digamma(n_spam_zero + spam_prior) - spam_total)
        new, p1, p0, spam = e_step()
        change = float(np.max(np.abs(new - post), initial=0.0))
        post = new
        if change <= tol:
            converged = True
            break
    q_match = np.where(v > 0.5, post[it], 1.0 - post[it])
    truthful = q_match * w_true[wk] / np.where(v > 0.5, p1, p0)
    n_true = np.bincount(wk, weights=truthful, minlength=n_w)
    n_spam_one = np.bincount(wk, weights=(1.0 - truthful) * v, minlength=n_w)
    return MaceResult(
        posterior=post,
        competence=(n_true + a) / (n_rated + a + b),
        spam_one=(n_spam_one + spam_prior) / (n_rated - n_true + 2 * spam_prior),
        worker_ratings=n_rated.astype(np.int64),
        n_iter=n_iter,
        converged=converged,
    )
