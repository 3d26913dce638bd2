"""Speed of ma-act's estimate at study scale: one study-wide fit_ma_act, then
ma_act_correlations in chunks of 256 pairs (as `collect --aggregation ma-act` does).

Synthetic study (turkops.stats.synthetic): --pairs pairs over a probing set of --population
inputs, MG-IS with --draws draws, --raters simulated raters per input.
Run:  .venv/bin/python scripts/bench_ma_act.py [--pairs 10000] [--population 2000]
--against-em N also fits plain EM (no ECME, up to N iterations to tol 1e-6) on the same ratings
and prints how far the default fit lies from it.
docs/benchmarks.md records the numbers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from turkops.stats.aggregation import model_prior
from turkops.stats.ma_act import fit_ma_act, ma_act_correlations, normal_scores
from turkops.stats.sampling import draw_indices, mg_is_proposal, zscore
from turkops.stats.synthetic import (
    CrowdSetting,
    PopulationSetting,
    simulate_crowd,
    simulate_population,
    simulate_votes,
)
from turkops.stats.two_coin import ACTIVATION_PENALTY, dawid_skene_two_coin

CHUNK = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--population", type=int, default=2_000, help="probing-set size N")
    parser.add_argument("--draws", type=int, default=180)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--against-em", type=int, default=0, metavar="MAX_ITER")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    k, n, m = args.pairs, args.population, args.raters
    pop = simulate_population(
        PopulationSetting(n_inputs=n, base_rate=(0.005, 0.05), correlation=(0.0, 0.5)), k, rng
    )
    q = mg_is_proposal(pop.activations, pop.concept_probs)
    idx = draw_indices(q, args.draws, rng)
    rows = np.arange(k)[:, None]
    uniq = np.unique((idx + rows * n).ravel())
    pair_u, inp_u = uniq // n, uniq % n
    crowd = simulate_crowd(CrowdSetting(n_workers=max(100, m)), rng)
    votes, workers = simulate_votes(crowd, pop.concept[pair_u, inp_u], m, uniq)
    print(f"{k} pairs x {args.draws} draws x {m} raters, N = {n}: {votes.size} ratings")

    t0 = time.perf_counter()
    prior = model_prior(pop.concept_probs)
    feature = normal_scores(pop.activations)
    a_z = zscore(pop.activations)
    t1 = time.perf_counter()
    fit = fit_ma_act(
        np.repeat(np.arange(uniq.size), m),
        workers.ravel().astype(np.int64),
        votes.ravel().astype(np.float64),
        prior[pair_u, inp_u],
        feature[pair_u, inp_u],
        pair_u,
        k,
        n_workers=crowd.n_workers,
    )
    t2 = time.perf_counter()
    for start in range(0, k, CHUNK):
        stop = min(start + CHUNK, k)
        sel = (pair_u >= start) & (pair_u < stop)
        ma_act_correlations(
            a_z[start:stop],
            feature[start:stop],
            prior[start:stop],
            q[start:stop],
            idx[start:stop],
            np.ones(idx[start:stop].shape),
            pair_u[sel] - start,
            inp_u[sel],
            fit.evidence[sel],
            fit.theta[start:stop],
            penalty=ACTIVATION_PENALTY,
        )
    t3 = time.perf_counter()
    print(f"prepare (prior, normal scores, z-scores): {t1 - t0:.1f} s")
    print(f"study-wide two-coin EM fit:               {t2 - t1:.1f} s")
    print(f"estimates and intervals:                  {t3 - t2:.1f} s")
    print(f"total:                                    {t3 - t0:.1f} s")
    if args.against_em:
        kw = dict(
            covariates=np.stack([np.ones(uniq.size), feature[pair_u, inp_u]], axis=1),
            groups=pair_u,
            n_items=uniq.size,
            n_workers=crowd.n_workers,
        )
        ratings = (
            np.repeat(np.arange(uniq.size), m),
            workers.ravel().astype(np.int64),
            votes.ravel().astype(np.float64),
            prior[pair_u, inp_u],
        )
        t4 = time.perf_counter()
        fast = dawid_skene_two_coin(*ratings, **kw)
        t5 = time.perf_counter()
        em = dawid_skene_two_coin(*ratings, **kw, max_iter=args.against_em, ecme_after=None)
        t6 = time.perf_counter()
        assert fast.coefficients is not None and em.coefficients is not None
        gap = np.abs(fast.posterior - em.posterior)
        print(f"default: {fast.n_iter} iterations, {t5 - t4:.1f} s, converged {fast.converged}")
        print(f"plain EM: {em.n_iter} iterations, {t6 - t5:.1f} s, converged {em.converged}")
        print(
            f"|posterior difference|: max {gap.max():.1e}, {int((gap > 1e-4).sum())} items > 1e-4;"
            f" |theta difference| max {np.abs(fast.coefficients - em.coefficients).max():.1e}"
        )


if __name__ == "__main__":
    main()
