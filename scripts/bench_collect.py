"""Speed of `collect`'s scoring for a large study: labels -> correlations -> BCa -> ranking.

Runs the service's own functions (collect._labels for the default aggregator, _score_pairs,
rank_methods with the per-pair-error comparison) on synthetic PairSamples, without the
database: 10,000 pairs (2,000 neurons x 5 methods) x 180 draws x 3 raters by default.
Run:  .venv/bin/python scripts/bench_collect.py [--pairs 10000] [--boot 1000]
docs/benchmarks.md records the numbers ("With the covering intervals").
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import numpy as np

from turkops.domain import DEFAULT_AGGREGATION
from turkops.services.collect import CollectOptions, _labels, _score_pairs, rank_methods
from turkops.services.ratings import PairSamples, RatingTable
from turkops.stats.aggregation import model_prior
from turkops.stats.sampling import draw_sample, mg_is_proposal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--methods", type=int, default=5)
    parser.add_argument("--draws", type=int, default=180)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--population", type=int, default=2_000, help="probing-set size N")
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n_neurons = args.pairs // args.methods
    big_n, m = args.population, args.raters
    acts = rng.standard_normal((big_n, n_neurons)).astype(np.float32)
    pairs, priors = [], {}
    for k in range(args.pairs):
        neuron = k // args.methods
        concept = rng.uniform(size=big_n) < 0.05
        probs = np.clip(0.6 * concept + 0.3 * rng.uniform(size=big_n), 0, 1)
        a = acts[:, neuron] + 2.0 * concept
        drawn = draw_sample(mg_is_proposal(a, probs), args.draws, rng)
        truth = concept[drawn.indices]
        votes = (truth[:, None] ^ (rng.uniform(size=(truth.size, m)) < 0.23)).sum(1)
        pairs.append(
            PairSamples(
                pair_id=k,
                neuron=neuron,
                concept=f"c{k}",
                sample_ids=np.arange(truth.size) + k * args.draws,
                rows=drawn.indices,
                q=drawn.q_at_indices,
                counts=drawn.counts,
                positives=votes.astype(np.int64),
                totals=np.full(truth.size, m),
            )
        )
        priors[k] = model_prior(probs[drawn.indices])
    options = CollectOptions(n_boot=args.boot)
    empty = RatingTable(np.zeros(0, np.int64), [], np.zeros(0, np.int64))  # BRAgg needs none
    start = time.perf_counter()
    labels = _labels(DEFAULT_AGGREGATION, pairs, empty, priors, 0.23, 0.05, acts)
    t_labels = time.perf_counter() - start
    scored = _score_pairs(pairs, labels, acts, big_n, rng, options)
    t_scores = time.perf_counter() - start - t_labels
    by_method: dict[str, dict[int, float]] = defaultdict(dict)
    errors: dict[str, dict[int, float]] = defaultdict(dict)
    for p in pairs:
        rho, _, _, se, *_ = scored[p.pair_id]
        if rho is not None:
            by_method[f"M{p.pair_id % args.methods}"][p.neuron] = rho
            errors[f"M{p.pair_id % args.methods}"][p.neuron] = se
    rank_methods("x", by_method, set(by_method), errors, rng)
    total = time.perf_counter() - start
    print(
        f"{args.pairs} pairs ({n_neurons} neurons x {args.methods} methods) x {args.draws} draws"
        f" x {m} raters, {args.boot} BCa replicates; {os.cpu_count()} CPUs"
    )
    print(f"{'labels (' + str(DEFAULT_AGGREGATION) + ')':<40} {t_labels:8.3f} s")
    print(f"{'correlations + BCa intervals':<40} {t_scores:8.3f} s")
    print(f"{'method ranking with per-pair error':<40} {total - t_labels - t_scores:8.3f} s")
    print(f"{'total':<40} {total:8.3f} s")


if __name__ == "__main__":
    main()
