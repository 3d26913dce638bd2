"""`turkops aggregate`: any long-format binary ratings -> labels, with collect's aggregators."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from turkops.cli.app import app
from turkops.cli.common import err_console, write_output
from turkops.domain import Aggregation, InputError

# numpy/scipy load inside the command, so `turkops --help` stays fast (docs/benchmarks.md).
if TYPE_CHECKING:
    from turkops.services.aggregate import FileAggregation


def _num(x: float | None, digits: int = 4) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _write(path: Path | None, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if path is None:
        sys.stdout.write(buf.getvalue())
        return
    write_output(path, buf.getvalue())


def _summary(result: FileAggregation) -> str:
    fit = result.fit
    parts = [
        f"{fit.aggregation}: {len(result.item_ids)} items, {len(result.workers)} workers, "
        f"{result.n_ratings} ratings"
    ]
    if fit.n_iter is not None:
        parts.append(f"EM {fit.n_iter} iterations{'' if fit.converged else ' (not converged)'}")
    if result.n_gold:
        parts.append(
            f"gold ({result.n_gold} items): Pearson {_num(result.gold_pearson, 3) or 'undefined'}"
            f", accuracy {_num(result.gold_accuracy, 3)}"
        )
    return "; ".join(parts)


@app.command()
def aggregate(
    ratings: Path = typer.Argument(
        ..., help="Long-format ratings CSV: columns item,worker,label (label 0 or 1)."
    ),
    method: Aggregation = typer.Option(
        Aggregation.TWO_COIN_MIX,
        "--method",
        help="Aggregator (the same code as collect --aggregation). Default two-coin-mix: the "
        "best label model on real crowds (docs/statistics.md, Real crowds). collect's default "
        "ma-act estimates correlations, not labels, and is not offered here. bragg-model needs "
        "--prior; "
        "ds-act and two-coin-act need an activation column in --prior.",
    ),
    prior: Path | None = typer.Option(
        None,
        "--prior",
        help="Per-item prior CSV: item,prior in [0, 1] (e.g. SigLIP probabilities); optional "
        "columns activation (z-scored) and group (e.g. the pair).",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write item,posterior here (default: stdout)."
    ),
    workers_out: Path | None = typer.Option(
        None,
        "--workers-out",
        help="Write worker,ratings,sensitivity,specificity,agreement here.",
    ),
    eta: float = typer.Option(0.23, "--eta", help="Shared rater error rate of bragg-*."),
    beta: float = typer.Option(
        0.05,
        "--beta",
        help="Uniform prior P(present) where no --prior is given (0.5 for balanced data).",
    ),
    gold: Path | None = typer.Option(
        None,
        "--gold",
        help="Gold CSV item,label (0/1): print the Pearson correlation and accuracy with it.",
    ),
    per_item: int | None = typer.Option(
        None,
        "--per-item",
        help="Use at most this many random ratings per item (to measure fewer raters).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --per-item subsample."),
) -> None:
    """Aggregate binary ratings from any tool or old study into per-item posteriors.

    Writes item,posterior (CSV) and prints a one-line summary on stderr.
    """
    if not 0.0 <= eta < 0.5:
        raise InputError("--eta must lie in [0, 0.5): above 0.5 votes would mean the opposite")
    if not 0.0 < beta < 1.0:
        raise InputError("--beta must lie in (0, 1)")
    from turkops.services.aggregate import aggregate_file

    result = aggregate_file(
        ratings,
        method,
        prior_path=prior,
        gold_path=gold,
        eta=eta,
        beta=beta,
        per_item=per_item,
        seed=seed,
    )
    labels = result.fit.labels
    _write(
        out,
        ["item", "posterior"],
        [[item, _num(float(labels[k]), 6)] for k, item in enumerate(result.item_ids)],
    )
    if workers_out is not None:
        _write(
            workers_out,
            ["worker", "ratings", "sensitivity", "specificity", "agreement"],
            [
                [
                    w.worker,
                    str(w.ratings),
                    _num(w.sensitivity),
                    _num(w.specificity),
                    _num(w.agreement),
                ]
                for w in result.workers
            ],
        )
    err_console.print(_summary(result), highlight=False, soft_wrap=True)
