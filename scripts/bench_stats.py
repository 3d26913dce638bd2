"""Speed of the statistics core at study scale: aggregation + correlation + bootstrap.

Default: 10,000 pairs x 180 inputs x 3 raters (the paper's large study is 1,000 pairs of this
shape). Run:  .venv/bin/python scripts/bench_stats.py [--pairs 10000] [--boot 1000] [--repeat 3]
Prints one line per step with the best of --repeat wall-clock times; docs/benchmarks.md records
the numbers ("Statistics: speed").
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from turkops.stats.aggregation import bragg_posterior, estimate_eta_em, model_prior
from turkops.stats.correlation import correlation_intervals, weighted_correlations
from turkops.stats.dawid_skene import dawid_skene_one_coin, dawid_skene_with_activation
from turkops.stats.sampling import draw_indices, mg_is_proposal, zscore


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--inputs", type=int, default=180, help="draws per pair")
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--population", type=int, default=2_000, help="probing-set size N")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    k, n, m, big_n = args.pairs, args.inputs, args.raters, args.population
    rng = np.random.default_rng(args.seed)

    # A study's worth of inputs: MG-IS draws over a probing set, ratings from 200 workers.
    # (The probing set is kept small here: proposals are the DB layer's job, once per pair.)
    act = rng.standard_normal((k, big_n), dtype=np.float32).astype(np.float64)
    concept = rng.uniform(size=(k, big_n)) < 0.05
    act += 3.0 * concept
    probs = np.clip(0.7 * concept + 0.2 * rng.uniform(size=(k, big_n)), 0, 1)
    q = mg_is_proposal(act, probs)
    idx = draw_indices(q, n, rng)
    rows = np.arange(k)[:, None]
    a_z = zscore(act)[rows, idx]
    w = 1.0 / (big_n * q[rows, idx])
    prior = model_prior(probs[rows, idx])
    truth = concept[rows, idx]
    workers = rng.integers(0, 200, (k, n, m))
    votes = (truth[..., None] ^ (rng.uniform(size=(k, n, m)) < 0.23)).astype(np.int8)
    positives = votes.sum(-1).astype(np.float64)
    del act, concept, probs, q

    labels = bragg_posterior(positives, m, 0.23, prior)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("BRAgg posterior, model prior (K, n)", lambda: bragg_posterior(positives, m, 0.23, prior)),
        ("EM estimate of eta (all ratings)", lambda: estimate_eta_em(positives, m, prior)),
        (
            "one-coin Dawid-Skene (all ratings)",
            lambda: dawid_skene_one_coin(
                np.repeat(np.arange(k * n), m),
                workers.ravel(),
                votes.ravel(),
                prior.ravel(),
                n_workers=200,
            ),
        ),
        (
            "Dawid-Skene with activation, turkops (all)",
            lambda: dawid_skene_with_activation(
                np.repeat(np.arange(k * n), m),
                workers.ravel(),
                votes.ravel(),
                prior.ravel(),
                a_z.ravel(),
                np.repeat(np.arange(k), n),
                n_workers=200,
            ),
        ),
        ("weighted correlation (K pairs)", lambda: weighted_correlations(a_z, labels, w)),
        (
            f"BCa bootstrap interval, {args.boot} replicates (K pairs)",
            lambda: correlation_intervals(a_z, labels, w, None, rng, n_boot=args.boot),
        ),
        (
            f"percentile interval, {args.boot} replicates (K pairs)",
            lambda: correlation_intervals(
                a_z, labels, w, None, rng, n_boot=args.boot, method="percentile"
            ),
        ),
    ]
    print(
        f"{k} pairs x {n} inputs x {m} raters, {args.boot} bootstrap replicates, best of "
        f"{args.repeat}; numpy {np.__version__}; "
        f"{os.cpu_count()} CPUs; {platform.processor() or platform.machine()}"
    )
    times = []
    for name, fn in steps:
        times.append(_best(fn, args.repeat))
        print(f"{name:<48} {times[-1]:8.3f} s")
    default = times[0] + times[4] + times[5]
    print(f"{'default (bragg-model) + correlation + BCa':<48} {default:8.3f} s")
    print(f"{'ds-act + correlation + bootstrap':<48} {sum(times[3:6]):8.3f} s")


if __name__ == "__main__":
    main()
