"""Speed of `collect`'s scoring for a large study: estimates -> intervals -> ranking.

Runs the service's own functions on synthetic PairSamples and ratings, without the database:
10,000 pairs (2,000 neurons x 5 methods) x 180 draws x 3 raters by default. The default
aggregator (ma-act) goes through collect._score_pairs_ma_act (one study-wide EM, analytic
intervals over the whole probing set); `--aggregation bragg-model` (or any label aggregator)
through collect._labels and _score_pairs (BCa bootstrap). Then rank_methods with the
per-pair-error comparison.
Run:  .venv/bin/python scripts/bench_collect.py [--pairs 10000] [--boot 1000] [--aggregation A]
docs/benchmarks.md records the numbers ("With the covering intervals").
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

import numpy as np

from turkops.domain import DEFAULT_AGGREGATION, Aggregation
from turkops.services.collect import (
    CollectOptions,
    _labels,
    _score_pairs,
    _score_pairs_ma_act,
    rank_methods,
)
from turkops.services.ratings import PairSamples, RatingTable
from turkops.services.studies import ConceptScores
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
    parser.add_argument("--workers", type=int, default=300, help="worker pool size")
    parser.add_argument("--aggregation", default=str(DEFAULT_AGGREGATION))
    args = parser.parse_args()
    aggregation = Aggregation(args.aggregation)
    rng = np.random.default_rng(args.seed)
    n_neurons = args.pairs // args.methods
    big_n, m = args.population, args.raters
    acts = rng.standard_normal((big_n, n_neurons)).astype(np.float32)
    probs_all = np.empty((big_n, args.pairs), dtype=np.float32)
    pairs, priors = [], {}
    r_ids, r_workers, r_values = [], [], []
    for k in range(args.pairs):
        neuron = k // args.methods
        a = acts[:, neuron].astype(np.float64)
        # Method 0 explains the neuron well, the others less and less.
        concept = rng.uniform(size=big_n) < 1 / (1 + np.exp(4.0 - (1.5 - 0.3 * (k % 5)) * a))
        probs = np.clip(0.6 * concept + 0.3 * rng.uniform(size=big_n), 0.001, 0.999)
        probs_all[:, k] = probs
        drawn = draw_sample(mg_is_proposal(a, probs), args.draws, rng)
        truth = concept[drawn.indices]
        wrong = rng.uniform(size=(truth.size, m)) < 0.23
        values = (truth[:, None] ^ wrong).astype(np.int64)
        sample_ids = np.arange(truth.size) + k * args.draws
        workers = rng.integers(0, args.workers, size=(truth.size, m))
        r_ids.append(np.repeat(sample_ids, m))
        r_workers.append(workers.ravel())
        r_values.append(values.ravel())
        pairs.append(
            PairSamples(
                pair_id=k,
                neuron=neuron,
                concept=f"c{k}",
                sample_ids=sample_ids,
                rows=drawn.indices,
                q=drawn.q_at_indices,
                counts=drawn.counts,
                positives=values.sum(1),
                totals=np.full(truth.size, m),
            )
        )
        priors[k] = model_prior(probs[drawn.indices])
    table = RatingTable(
        np.concatenate(r_ids),
        [f"w{w}" for w in np.concatenate(r_workers).tolist()],
        np.concatenate(r_values),
    )
    scores = ConceptScores(tuple(f"c{k}" for k in range(args.pairs)), probs_all)
    options = CollectOptions(aggregations=(aggregation,), n_boot=args.boot)
    start = time.perf_counter()
    if aggregation == Aggregation.MA_ACT:
        warnings: list[str] = []
        scored, _ = _score_pairs_ma_act(
            pairs, table, acts, scores, ("mg-is", 0.2), options, 0.23, warnings
        )
        t_labels, t_scores = 0.0, time.perf_counter() - start
        stage = "ma-act: EM, estimates, intervals"
    else:
        labels = _labels(aggregation, pairs, table, priors, 0.23, 0.05, acts)
        t_labels = time.perf_counter() - start
        scored = _score_pairs(pairs, labels, acts, big_n, rng, options)
        t_scores = time.perf_counter() - start - t_labels
        stage = "correlations + BCa intervals"
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
        f" x {m} raters, N = {big_n}; {aggregation}; {os.cpu_count()} CPUs"
    )
    if aggregation != Aggregation.MA_ACT:
        print(f"{'labels (' + str(aggregation) + ')':<40} {t_labels:8.3f} s")
    print(f"{stage:<40} {t_scores:8.3f} s")
    print(f"{'method ranking with per-pair error':<40} {total - t_labels - t_scores:8.3f} s")
    print(f"{'total':<40} {total:8.3f} s")


if __name__ == "__main__":
    main()
