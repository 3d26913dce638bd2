"""Results: collect (scores, ranking, agreement), report (HTML), demo (the whole pipeline)."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from turkops.cli.app import app
from turkops.cli.common import compact_table, console, runtime, write_output
from turkops.domain import DEFAULT_AGGREGATION, Aggregation, InputError
from turkops.formatting import fmt_interval, fmt_num, fmt_p

if TYPE_CHECKING:
    from turkops.services.collect import CollectOptions, CollectResult


class AggregationChoice(StrEnum):
    BRAGG_MODEL = "bragg-model"
    BRAGG_UNIFORM = "bragg-uniform"
    BRAGG_BETA = "bragg-beta"
    DAWID_SKENE = "dawid-skene"
    DS_ACT = "ds-act"
    TWO_COIN = "two-coin"
    TWO_COIN_ACT = "two-coin-act"
    GLAD = "glad"
    MACE = "mace"
    TWO_COIN_MIX = "two-coin-mix"
    MA_ACT = "ma-act"
    MAJORITY = "majority"
    MEAN = "mean"
    ALL = "all"


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def collect_options(
    aggregation: AggregationChoice,
    eta: str,
    beta: float,
    n_boot: int,
    seed: int,
    hash_workers: bool,
) -> CollectOptions:
    if aggregation == AggregationChoice.ALL:
        aggs = tuple(Aggregation)
    else:
        aggs = (Aggregation(aggregation.value),)
    if eta.strip().lower() == "auto":
        eta_value: float | None = None
    else:
        try:
            eta_value = float(eta)
        except ValueError:
            raise InputError(f"--eta: {eta!r} is neither a number nor 'auto'") from None
        if not 0.0 <= eta_value < 0.5:
            raise InputError("--eta must lie in [0, 0.5): above 0.5 votes would mean the opposite")
    if not 0.0 < beta < 1.0:
        raise InputError("--beta must lie in (0, 1)")
    if n_boot < 2:
        raise InputError("--bootstrap must be at least 2")
    from turkops.services.collect import CollectOptions

    return CollectOptions(
        aggregations=aggs,
        eta=eta_value,
        beta=beta,
        n_boot=n_boot,
        seed=seed,
        hash_workers=hash_workers,
    )


AGG_OPT = typer.Option(
    AggregationChoice(DEFAULT_AGGREGATION.value),
    "--aggregation",
    help="How ratings "
    "become labels: bragg-model (SigLIP prior), bragg-uniform (prior --beta), "
    "bragg-beta, dawid-skene (per-worker error), ds-act (Dawid-Skene + model prior + "
    "activation, turkops' own), two-coin (per-worker sensitivity and specificity), "
    "two-coin-act (two-coin + model prior + activation), ma-act (not labels: a model-assisted "
    "correlation whose interval also carries the rating noise, the fit and the undrawn inputs, "
    "its point pooled over the study's pairs towards the cheap model; needs concept "
    "probabilities), majority, mean, or all. "
    f"Default: {DEFAULT_AGGREGATION} (chosen by measurement, docs/statistics.md).",
)
ETA_OPT = typer.Option("0.23", "--eta", help="Rater error rate, or 'auto' to estimate it by EM.")
BETA_OPT = typer.Option(0.05, "--beta", help="Uniform prior P(concept) for bragg-uniform.")
BOOT_OPT = typer.Option(1000, "--bootstrap", help="Bootstrap replicates for the 95% intervals.")
SEED_OPT = typer.Option(0, "--seed", help="Seed of the bootstrap.")
# One default for collect and report: worker ids are personal data (services.collect.pseudonym).
HASH_OPT = typer.Option(
    True,
    "--hash-workers/--raw-worker-ids",
    help="Worker ids as stable pseudonyms (default), or the raw MTurk ids.",
)


@app.command()
def collect(
    study: str = typer.Argument(..., help="Study name."),
    aggregation: AggregationChoice = AGG_OPT,
    eta: str = ETA_OPT,
    beta: float = BETA_OPT,
    fmt: OutputFormat = typer.Option(OutputFormat.TABLE, "--format", help="table, csv or json."),
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of stdout."),
    n_boot: int = BOOT_OPT,
    seed: int = SEED_OPT,
    hash_workers: bool = HASH_OPT,
) -> None:
    """Correlation score per explanation with 95% intervals, method ranking, rater agreement."""
    from turkops.services.collect import collect_study

    options = collect_options(aggregation, eta, beta, n_boot, seed, hash_workers)
    with runtime() as rt:
        result = collect_study(rt, study, options)
    if fmt == OutputFormat.JSON:
        text = json.dumps(result.to_json(), indent=2) + "\n"
    elif fmt == OutputFormat.CSV:
        text = _csv(result)
    else:
        if out is not None:
            raise InputError("--out needs --format csv or json")
        _print_tables(result)
        return
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_output(out, text)
        console.print(f"wrote {out}")


def _csv(result: CollectResult) -> str:
    buf = io.StringIO()
    fields = [
        "aggregation",
        "neuron",
        "method",
        "concept",
        "correlation",
        "ci_low",
        "ci_high",
        "se",
        "n_images",
        "n_draws",
        "n_ratings",
        "ess",
        "eta",
        "note",
        "own_correlation",
    ]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    pairs = result.to_json()["pairs"]
    assert isinstance(pairs, list)
    for row in pairs:
        writer.writerow(row)
    return buf.getvalue()


def _print_tables(result: CollectResult) -> None:
    c = result.completeness
    # η is only news when an aggregation used it (ma-act fits per-worker rates instead).
    eta = f"eta {fmt_num(result.eta)} ({result.eta_source}); " if result.etas else ""
    console.print(
        f"study {result.study}: {c['images_rated']}/{c['images_sampled']} sampled images rated; "
        f"{eta}Fleiss' kappa {fmt_num(result.fleiss_kappa)}; spent ${result.money_spent:.2f}"
    )
    for w in result.warnings:
        console.print(Text.assemble(("warning:", "yellow"), " ", w))
    for agg_name in result.aggregations:
        # Two tables, so that each fits 80 columns: the ranking, then the comparisons with the best.
        ranked = [m for m in result.methods if m.aggregation == agg_name]
        table = compact_table(
            ("rank", False),
            ("method", True),
            ("mean corr", False),
            ("95% CI", False),
            ("neurons", False),
            title=f"methods ({agg_name})",
        )
        for m in ranked:
            table.add_row(
                str(m.rank),
                m.method,
                fmt_num(m.mean),
                fmt_interval(m.ci_low, m.ci_high),
                str(m.n_neurons),
            )
        console.print(table)
        table = compact_table(
            ("method", True),
            ("best - this", False),
            ("95% CI", False),
            ("p (Holm)", False),
            ("p t-test", False),
            title=f"each method against the best ({agg_name})",
        )
        for m in ranked[1:]:
            table.add_row(
                m.method,
                fmt_num(m.diff_vs_best),
                fmt_interval(m.diff_low, m.diff_high),
                fmt_p(m.p_holm),
                fmt_p(m.vs_best_p_paired if m.n_paired > 1 else m.vs_best_p_two_sample),
            )
        console.print(table)
        console.print(
            "95% CI and p (Holm): two-stage bootstrap over neurons and each pair's own "
            "estimation error, Holm-adjusted across the comparisons with the best; "
            "p t-test: the paper's paired (or Welch) t-test, without the per-pair error."
        )
    first = result.aggregations[0]
    table = compact_table(
        ("neuron", False),
        ("method", True),
        ("concept", True),
        ("corr", False),
        ("95% CI", False),
        ("images", False),
        ("ratings", False),
        ("ESS", False),
        title=f"explanations ({first})",
    )
    notes = []
    for p in (p for p in result.pairs if p.aggregation == first):
        if p.note is not None:
            # The reason goes below the table: in a cell it would squeeze every other column.
            notes.append(f"n/a: neuron {p.neuron}, {p.method}, {p.concept}: {p.note}")
        table.add_row(
            str(p.neuron),
            p.method,
            p.concept,
            fmt_num(p.correlation),
            fmt_interval(p.ci_low, p.ci_high),
            str(p.n_images),
            str(p.n_ratings),
            f"{p.ess:.0f}",
        )
    console.print(table)
    for note in notes:
        console.print(note)


@app.command()
def report(
    study: str = typer.Argument(..., help="Study name."),
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write."),
    aggregation: AggregationChoice = AGG_OPT,
    eta: str = ETA_OPT,
    beta: float = BETA_OPT,
    n_boot: int = BOOT_OPT,
    seed: int = SEED_OPT,
    hash_workers: bool = HASH_OPT,
) -> None:
    """Write a self-contained HTML report: method chart, neuron cards, agreement, cost."""
    from turkops.report.html import build_report

    if aggregation == AggregationChoice.ALL:
        raise InputError("report shows one aggregation: choose one with --aggregation")
    options = collect_options(aggregation, eta, beta, n_boot, seed, hash_workers)
    with runtime() as rt:
        html = build_report(rt, study, options)
    write_output(out, html)
    console.print(f"wrote {out} ({len(html) // 1024} KiB)")


def _demo_provider(name: str) -> str:
    if name not in ("mturk", "prolific"):
        raise InputError(f"--provider must be mturk or prolific, got {name!r}")
    return name


@app.command()
def demo(
    workdir: Path = typer.Option(
        Path("demo_out"),
        "--workdir",
        help="Where the demo writes its "
        "images, databases and report.html (earlier demo files there "
        "are replaced).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of everything random in the demo."),
    provider: str = typer.Option(
        "mturk",
        "--provider",
        help="mturk: the local MTurk-compatible marketplace; prolific: the Prolific simulator "
        "whose participants take the study on the turkops task server.",
    ),
) -> None:
    """Run a small real study offline, end to end: create, sample, launch, poll, collect, report.

    Generated images, a small trained network whose hidden units are the neurons, three
    explanation methods, a cheap concept model standing in for SigLIP, the local marketplace with
    simulated raters (23% error), and SQLite. Prints the method ranking next to the true
    correlations, which the demo can compute because it knows every image's labels.
    """
    from turkops.demo.pipeline import DemoConfig, run_demo
    from turkops.stats.correlation import clip_correlation

    result = run_demo(
        DemoConfig(workdir=workdir, seed=seed, provider=_demo_provider(provider)),
        say=lambda msg: console.print(Text.assemble(("-", "dim"), " ", msg)),
    )
    c = result.collect
    table = Table(title=f"explanation methods (MG-IS + {c.aggregations[0]})")
    for header in ("rank", "method", "estimated mean corr", "95% interval", "true mean corr"):
        # Method names and intervals stay on one line even in an 80-column terminal.
        table.add_column(header, no_wrap=header in ("method", "95% interval"))
    for m in (m for m in c.methods if m.aggregation == c.aggregations[0]):
        half = 1.96 * (m.sem or 0.0)
        interval = "n/a"
        if m.mean is not None:
            low, high = clip_correlation([m.mean - half, m.mean + half])
            interval = fmt_interval(float(low), float(high), 3)
        table.add_row(
            str(m.rank),
            m.method,
            fmt_num(m.mean),
            interval,
            fmt_num(result.true_method_means.get(m.method)),
        )
    console.print(table)
    est = {(p.neuron, p.method): p.correlation for p in c.pairs if p.correlation is not None}
    errors = [abs(v - result.true_correlations[k]) for k, v in est.items()]
    denom = sum(abs(result.true_correlations[k]) for k in est)
    if denom:
        console.print(
            f"relative correlation error over {len(est)} explanations: "
            f"{sum(errors) / denom:.1%}; Fleiss' kappa {fmt_num(c.fleiss_kappa)}"
        )
    console.print(f"report: {result.report_path}  ({result.seconds:.0f} s)")
