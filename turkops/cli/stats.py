"""`turkops simulate` and `turkops plan`: the statistics core's simulator and budget planner.

Both are thin shells over turkops.stats.simulation / turkops.stats.planning: parse options,
run, print Rich tables, and write the optional JSON and PNG files.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from turkops.cli.app import app
from turkops.cli.common import compact_table, console, err_console, write_output
from turkops.domain import InputError
from turkops.formatting import fmt_num
from turkops.stats.names import (
    BASELINE,
    DEFAULT_AGGREGATORS,
    DEFAULT_EPS,
    DEFAULT_GAMMA,
    MA_ACT,
    SAMPLERS,
    SIMULATOR_AGGREGATORS,
    TURKOPS_AGGREGATOR,
)

# numpy/scipy load inside the commands, so `turkops --help` stays fast (docs/benchmarks.md).
if TYPE_CHECKING:
    from rich.table import Table

    from turkops.stats.coverage import CoverageRow, PairEstimates
    from turkops.stats.planning import BudgetPlan, CostModel, RceSurface
    from turkops.stats.simulation import SimulationConfig, SimulationResult
    from turkops.stats.synthetic import CrowdSetting, PopulationSetting


def _range(text: str, name: str) -> tuple[float, float]:
    """'0.001:0.01' or '0.3' -> (low, high)."""
    try:
        parts = [float(x) for x in text.split(":")]
    except ValueError:
        raise InputError(f"{name} must be a number or LOW:HIGH, got {text!r}") from None
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) != 2 or parts[0] > parts[1]:
        raise InputError(f"{name} must be LOW:HIGH with LOW <= HIGH, got {text!r}")
    return parts[0], parts[1]


def _beta_params(text: str, name: str) -> tuple[float, float]:
    """'6:3' -> (6.0, 3.0): the two parameters of a Beta distribution, both > 0."""
    try:
        a, b = (float(x) for x in text.split(":"))
    except ValueError:
        raise InputError(f"{name} must be A:B (Beta parameters), got {text!r}") from None
    if not (a > 0 and b > 0):
        raise InputError(f"{name} must be A:B with A, B > 0, got {text!r}")
    return a, b


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError:
        raise InputError(f"{name} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise InputError(f"{name} is empty")
    return values


def _names(text: str, name: str, known: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    values = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [v for v in values if v not in known]
    if unknown or not values:
        raise InputError(
            f"unknown {name} {', '.join(unknown) or '(none)'}; known: {', '.join(known)}"
        )
    return values


def _settings(
    inputs: int,
    base_rate: str,
    correlation: str,
    auc: float,
    eta: float,
    rater_errors: str,
    spammer_share: float,
    false_positive_rate: float | None,
    workers: int,
    sensitivity: str = "6:3",
    specificity: str = "30:1",
) -> tuple[PopulationSetting, CrowdSetting]:
    from turkops.stats.synthetic import CrowdSetting, PopulationSetting

    if rater_errors not in ("uniform", "beta", "spammers", "two-coin"):
        raise InputError("--rater-errors must be uniform, beta, spammers or two-coin")
    try:
        pop = PopulationSetting(
            n_inputs=inputs,
            base_rate=_range(base_rate, "--base-rate"),
            correlation=_range(correlation, "--correlation"),
            model_auc=auc,
        )
        crowd = CrowdSetting(
            eta=eta,
            rater_errors=rater_errors,  # type: ignore[arg-type]
            spammer_share=spammer_share,
            false_positive_rate=false_positive_rate,
            n_workers=workers,
            sensitivity_beta=_beta_params(sensitivity, "--sensitivity"),
            specificity_beta=_beta_params(specificity, "--specificity"),
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return pop, crowd


def _run(config: SimulationConfig, seed: int, label: str) -> SimulationResult:
    import numpy as np

    from turkops.stats.simulation import run_simulation

    progress = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_simulation(config, np.random.default_rng(seed), report)


def _fmt(x: float | None, digits: int = 3) -> str:
    return fmt_num(None if x is None else float(x), digits, missing="-")


def _print_grid(result: SimulationResult) -> None:
    cfg = result.config
    # Grids have one column per sample size: tight tables with bare numbers as headers keep
    # nine of them whole at 80 columns (no "0.…" cells).
    draws = [(str(n), False) for n in cfg.draws]
    for r, m in enumerate(cfg.raters):
        table = compact_table(
            ("strategy", True),
            *draws,
            title=f"RCE with {m} rater(s) per input, by draws per pair",
            tight=True,
        )
        for s, sampler in enumerate(cfg.samplers):
            for a, agg in enumerate(cfg.aggregators):
                table.add_row(f"{sampler}+{agg}", *(_fmt(x) for x in result.rce[s, a, :, r]))
        console.print(table)
    inputs = compact_table(
        ("sampler", True),
        *draws,
        title="Distinct inputs shown per pair (cost = inputs x raters), by draws per pair",
        tight=True,
    )
    for s, sampler in enumerate(cfg.samplers):
        inputs.add_row(sampler, *(f"{x:.0f}" for x in result.unique_inputs[s]))
    console.print(inputs)
    floors = compact_table(
        ("aggregator", True),
        *((f"m={m}", False) for m in cfg.raters),
        title="Noise floor: RCE with infinitely many draws (bias of the labels)",
    )
    for a, agg in enumerate(cfg.aggregators):
        floors.add_row(agg, *(_fmt(x) for x in result.floor_rce[a]))
    console.print(floors)
    console.print(
        f"SigLIP-only (model probabilities as labels, no ratings): RCE {result.siglip_rce:.3f}"
    )


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if any(v <= 0 for v in values):
        raise InputError(f"{name} must be > 0")
    return values


def _print_targets(result: SimulationResult, target: float) -> None:
    table = compact_table(
        ("strategy", True),
        ("evaluations", False),
        ("raters", False),
        ("min raters", False),
        ("reduction", False),
        ("best RCE", False),
        title=f"Evaluations (inputs x raters per pair) to reach RCE {target:.1%}; fewest "
        f"raters that reach it; cost reduction versus {BASELINE[0]}+{BASELINE[1]}",
    )
    for summ in result.summaries(target):
        if summ.cost_reduction is not None:
            reduction = f"{summ.cost_reduction:.1f}x"
        elif summ.cost_reduction_at_least is not None:
            reduction = f">= {summ.cost_reduction_at_least:.1f}x"
        else:
            reduction = "-"
        table.add_row(
            f"{summ.sampler}+{summ.aggregator}",
            _fmt(summ.evaluations_to_target, 0) if summ.evaluations_to_target else "not reached",
            str(summ.raters_at_target or "-"),
            str(summ.min_raters_reaching_target or "-"),
            reduction,
            _fmt(summ.best_rce),
        )
    console.print(table)


def _plot(result: SimulationResult, path: Path) -> None:
    import matplotlib
    import numpy as np

    from turkops.stats.planning import CostModel

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    cfg = result.config
    fig, axes = plt.subplots(
        1,
        len(cfg.samplers),
        figsize=(5.2 * len(cfg.samplers), 4.2),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    per_rating = float(CostModel().cost_per_rating(1))
    evals = result.evaluations
    for s, sampler in enumerate(cfg.samplers):
        ax = axes[0, s]
        for a, agg in enumerate(cfg.aggregators):
            # The cheapest design at each cost: lower envelope over rater counts.
            pts = sorted(zip(evals[s].ravel(), result.rce[s, a].ravel(), strict=True))
            xs, ys, best = [], [], math.inf
            for x, y in pts:
                best = min(best, y)
                xs.append(x)
                ys.append(best)
            ax.step(xs, ys, where="post", label=agg)
        ax.axhline(cfg.target_rce, color="grey", linestyle="--", linewidth=1)
        ax.axhline(
            result.siglip_rce, color="black", linestyle=":", linewidth=1, label="SigLIP only"
        )
        ax.set_xscale("log")
        ax.set_title(sampler)
        ax.set_xlabel("evaluations per pair (inputs x raters)")
        top = ax.secondary_xaxis(
            "top", functions=(lambda e: e * per_rating, lambda d: d / per_rating)
        )
        top.set_xlabel("USD per pair")
        for axis in (ax.xaxis, top.xaxis):
            axis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("RCE (relative correlation error)")
    axes[0, 0].set_ylim(0, min(1.5, float(np.nanmax(result.rce)) * 1.05))
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@app.command()
def simulate(
    pairs: Annotated[
        int, typer.Option("--pairs", min=1, help="Number of (neuron, explanation) pairs.")
    ] = 60,
    inputs: Annotated[int, typer.Option("--inputs", min=10, help="Probing-set size N.")] = 10_000,
    eta: Annotated[float, typer.Option("--eta", help="Rater error rate.")] = 0.23,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed; the same seed gives the same output.")
    ] = 0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    plot_path: Annotated[
        Path | None, typer.Option("--plot", help="Write RCE against cost as a PNG here.")
    ] = None,
    base_rate: Annotated[
        str,
        typer.Option("--base-rate", help="Concept base rate, or LOW:HIGH (log-uniform per pair)."),
    ] = "0.001:0.01",
    correlation: Annotated[
        str,
        typer.Option("--correlation", help="True neuron-concept correlation, or LOW:HIGH."),
    ] = "0.05:0.5",
    auc: Annotated[
        float, typer.Option("--auc", help="AUC of the cheap model (the SigLIP stand-in).")
    ] = 0.95,
    rater_errors: Annotated[
        str,
        typer.Option(
            "--rater-errors",
            help="uniform | beta (per rater) | spammers | two-coin (asymmetric: per-worker "
            "sensitivity and specificity from --sensitivity/--specificity Betas).",
        ),
    ] = "uniform",
    sensitivity: Annotated[
        str,
        typer.Option(
            "--sensitivity",
            help="A:B of the Beta each worker's sensitivity is drawn from (two-coin).",
        ),
    ] = "6:3",
    specificity: Annotated[
        str,
        typer.Option(
            "--specificity",
            help="A:B of the Beta each worker's specificity is drawn from (two-coin).",
        ),
    ] = "30:1",
    spammer_share: Annotated[
        float,
        typer.Option("--spammer-share", help="Share of random answerers (with spammers)."),
    ] = 0.2,
    false_positive_rate: Annotated[
        float | None,
        typer.Option(
            "--false-positive-rate",
            help="Error rate on inputs without the concept (default: --eta, symmetric).",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker pool size of one study.")
    ] = 100,
    draws: Annotated[
        str, typer.Option("--draws", help="Sample sizes per pair (i.i.d. draws), comma-separated.")
    ] = "10,25,50,100,200,400,800,1600,3200",
    raters: Annotated[
        str, typer.Option("--raters", help="Raters per input, comma-separated.")
    ] = "1,3,5,9",
    samplers: Annotated[
        str, typer.Option("--samplers", help="Samplers to compare, comma-separated.")
    ] = ",".join(SAMPLERS),
    aggregators: Annotated[
        str,
        typer.Option(
            "--aggregators",
            help=f"Aggregators to compare ({TURKOPS_AGGREGATOR} is turkops' own); known: "
            + ", ".join(SIMULATOR_AGGREGATORS),
        ),
    ] = ",".join(DEFAULT_AGGREGATORS),
    target: Annotated[
        float, typer.Option("--target", help="Target RCE (default: the paper's 27.5%).")
    ] = 0.275,
    also_targets: Annotated[
        str,
        typer.Option("--also-targets", help="Further target RCEs to summarise, comma-separated."),
    ] = "",
    pairs_per_study: Annotated[
        int, typer.Option("--pairs-per-study", min=1, help="Pairs that share one worker pool.")
    ] = 30,
    self_normalised: Annotated[
        bool, typer.Option("--self-normalised", help="Use the self-normalised IS estimator.")
    ] = False,
    eps: Annotated[
        float, typer.Option("--eps", help="MG-IS ε in |ā·c̄ + ε| (proposal shape).")
    ] = DEFAULT_EPS,
    gamma: Annotated[
        float, typer.Option("--gamma", help="Share of the uniform proposal in MG-IS and AG-IS.")
    ] = DEFAULT_GAMMA,
    coverage: Annotated[
        bool,
        typer.Option(
            "--coverage",
            help="Instead of RCE by budget: coverage of the 95% intervals, null spread and "
            "mis-ranking per aggregator (MG-IS, the first --draws value, each --raters).",
        ),
    ] = False,
    n_boot: Annotated[
        int, typer.Option("--bootstrap", min=10, help="Bootstrap replicates (with --coverage).")
    ] = 200,
    interval: Annotated[
        str,
        typer.Option("--interval", help="bca | percentile | fisher-z (with --coverage)."),
    ] = "bca",
    fixed_labels: Annotated[
        bool,
        typer.Option(
            "--fixed-labels",
            help="Hold fitted labels fixed in the bootstrap instead of re-fitting the "
            "aggregator per replicate (the old intervals; with --coverage).",
        ),
    ] = False,
    pairs_out: Annotated[
        Path | None,
        typer.Option(
            "--pairs-out",
            help="With --coverage: write every simulated pair (aggregator, raters, right or "
            "unrelated, true ρ, estimate, interval) to this CSV.",
        ),
    ] = None,
) -> None:
    """Simulate studies and print the RCE of every sampler x aggregator over a budget grid."""
    from turkops.stats.simulation import SimulationConfig

    pop, crowd = _settings(
        inputs,
        base_rate,
        correlation,
        auc,
        eta,
        rater_errors,
        spammer_share,
        false_positive_rate,
        workers,
        sensitivity,
        specificity,
    )
    if pairs_out is not None and not coverage:
        raise InputError("--pairs-out needs --coverage (it writes the coverage run's pairs)")
    if coverage:
        from turkops.stats.coverage import EXACT, MODEL_ASSISTED

        _coverage(
            pop,
            crowd,
            pairs,
            pairs_per_study,
            _ints(draws, "--draws")[0],
            _ints(raters, "--raters"),
            _names(aggregators, "aggregators", [*SIMULATOR_AGGREGATORS, EXACT, *MODEL_ASSISTED]),
            n_boot,
            interval,
            fixed_labels,
            seed,
            json_path,
            pairs_out,
        )
        return
    try:
        config = SimulationConfig(
            population=pop,
            crowd=crowd,
            n_pairs=pairs,
            pairs_per_study=pairs_per_study,
            draws=_ints(draws, "--draws"),
            raters=_ints(raters, "--raters"),
            samplers=_names(samplers, "samplers", SAMPLERS),
            aggregators=_names(aggregators, "aggregators", list(SIMULATOR_AGGREGATORS)),
            target_rce=target,
            self_normalised=self_normalised,
            eps=eps,
            gamma=gamma,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    _check_outputs(json_path, plot_path)
    result = _run(config, seed, "simulating")
    console.print(
        f"{pairs} pairs, N = {inputs}, base rate {base_rate}, correlation {correlation}, "
        f"model AUC {auc}, eta {eta} ({rater_errors}), seed {seed}"
    )
    extra = _floats(also_targets, "--also-targets")
    _print_grid(result)
    for t in (target, *extra):
        _print_targets(result, t)
    if json_path is not None:
        payload = result.to_dict(also_targets=extra)
        write_output(json_path, json.dumps(payload, indent=1, default=str))
        console.print(f"wrote {json_path}")
    if plot_path is not None:
        _plot(result, plot_path)
        console.print(f"wrote {plot_path}")


def _coverage(
    pop: PopulationSetting,
    crowd: CrowdSetting,
    pairs: int,
    pairs_per_study: int,
    n_draws: int,
    raters: tuple[int, ...],
    aggregators: tuple[str, ...],
    n_boot: int,
    interval: str,
    fixed_labels: bool,
    seed: int,
    json_path: Path | None,
    pairs_out: Path | None = None,
) -> None:
    import numpy as np

    from turkops.stats.coverage import CoverageConfig, run_coverage
    from turkops.stats.intervals import INTERVAL_METHODS

    if interval not in INTERVAL_METHODS:
        raise InputError(f"--interval must be one of {', '.join(INTERVAL_METHODS)}")
    try:
        config = CoverageConfig(
            population=pop,
            crowd=crowd,
            n_pairs=pairs,
            pairs_per_study=max(2, pairs_per_study),
            draws=n_draws,
            raters=raters,
            aggregators=aggregators,
            n_boot=n_boot,
            method=interval,
            refit=False if fixed_labels else None,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    _check_outputs(json_path, pairs_out)
    with Progress(
        TextColumn("coverage"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("coverage", total=None)
        result = run_coverage(
            config,
            np.random.default_rng(seed),
            lambda done, total: bar.update(task, completed=done, total=total),
        )
    table = compact_table(
        ("aggregator", True),
        *((c, False) for c in ("m", "cover", "cover0", "width", "|r|>.1", "wrong>", "hard", "RCE")),
        title=f"{pairs} right + {pairs} unrelated pairs, {n_draws} draws, {interval} "
        f"{'fixed-label' if fixed_labels else 're-fit'} bootstrap ({n_boot}), seed {seed}",
        tight=True,
    )
    for r in result.rows:
        table.add_row(
            r.aggregator,
            str(r.raters),
            _fmt(r.coverage),
            _fmt(r.null_coverage),
            _fmt(r.width),
            _fmt(r.null_spread),
            _fmt(r.misranking),
            _fmt(r.misranking_hard),
            _fmt(r.rce),
        )
    console.print(table)
    console.print(
        "cover: share of 95% intervals holding the true ρ (cover0: unrelated pairs, ρ ≈ 0); "
        "|r|>.1: P(|ρ̂| > 0.1) for unrelated pairs; wrong>: P(unrelated ranked at or above "
        "the right explanation of the same neuron); hard: the same where the right ρ < 0.15."
    )
    console.print(_by_rho_table(result.rows))
    console.print(
        "Right pairs by true ρ: coverage, then the mean error of the estimate (negative: it "
        "falls short of the true ρ)."
    )
    if pairs_out is not None:
        write_output(pairs_out, _pairs_csv(result.pairs))
        console.print(f"wrote {pairs_out}")
    if json_path is not None:
        payload = {
            "config": {
                "pairs": pairs,
                "draws": n_draws,
                "raters": list(raters),
                "bootstrap": n_boot,
                "interval": interval,
                "refit": not fixed_labels,
                "seed": seed,
            },
            "rows": [asdict(r) for r in result.rows],
        }
        write_output(json_path, json.dumps(payload, indent=1, default=str))
        console.print(f"wrote {json_path}")


def _check_outputs(*paths: Path | None) -> None:
    """Refuse an output path before a long simulation, not after it."""
    for path in paths:
        if path is not None and not path.parent.exists():
            raise InputError(f"folder {path.parent} does not exist")
        if path is not None and path.is_dir():
            raise InputError(f"{path} is a folder: give a file name")


def _by_rho_table(rows: Sequence[CoverageRow]) -> Table:
    """Coverage and bias of right pairs per true-ρ bin: the grid's average hides that weak
    pairs over-cover while strong ones (the explanations a paper calls right) may not."""
    edges = sorted({(b.low, b.high) for r in rows for b in r.by_rho})
    heads = [
        f"ρ<{hi:g}" if lo <= -1 else (f"ρ≥{lo:g}" if hi == math.inf else f"{lo:g}–{hi:g}")
        for lo, hi in edges
    ]
    table = compact_table(("aggregator", True), ("m", False), *((h, False) for h in heads))
    for r in rows:
        cells = {(b.low, b.high): f"{b.coverage:.3f} {b.bias:+.2f}" for b in r.by_rho}
        table.add_row(r.aggregator, str(r.raters), *(cells.get(e, "-") for e in edges))
    return table


def _pairs_csv(pairs: Sequence[PairEstimates]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["aggregator", "raters", "neuron", "kind", "true_rho", "estimate", "low", "high"])
    for p in pairs:
        for i in range(p.truth.size):
            out.writerow(
                [
                    p.aggregator,
                    p.raters,
                    int(p.neuron[i]),
                    "right" if p.right[i] else "unrelated",
                    *(f"{float(x[i]):.6g}" for x in (p.truth, p.point, p.low, p.high)),
                ]
            )
    return buf.getvalue()


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"--budget must be an amount in USD, got {text!r}") from None
    if value <= 0 or not value.is_finite():
        raise InputError("--budget must be > 0")
    return value


def _pilot_surface(path: Path, seed: int, aggregator: str) -> tuple[RceSurface, float | None]:
    import numpy as np

    from turkops.stats.pilot import rce_surface_from_pilot

    if not path.is_file():
        raise InputError(f"pilot file {path} does not exist")
    try:
        with np.load(path) as data:
            arrays: dict[str, Any] = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read pilot file {path}: {exc}") from None
    need = ("activations_z", "weights", "concept_probs", "votes", "workers")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise InputError(f"pilot file lacks arrays: {', '.join(missing)}")
    n0, m_all = arrays["votes"].shape[1], arrays["votes"].shape[2]
    grid = sorted({n for n in (15, 30, 60, 90, 120, 180, 240, 360, 480, 720) if n < n0} | {n0 - 1})
    try:
        surface, reference = rce_surface_from_pilot(
            arrays["activations_z"],
            arrays["weights"],
            arrays["concept_probs"],
            arrays["votes"],
            arrays["workers"],
            np.random.default_rng(seed),
            inputs=tuple(grid),
            raters=tuple(range(1, m_all + 1)),
            aggregator=aggregator,
        )
    except ValueError as exc:
        raise InputError(f"pilot: {exc}") from None
    siglip = None
    if "siglip_rho" in arrays:
        s_rho = np.asarray(arrays["siglip_rho"], dtype=np.float64)
        siglip = float(np.abs(s_rho - reference).sum() / np.abs(reference).sum())
    return surface, siglip


# `collect --aggregation` names -> the simulator's names of the same aggregator. plan offers
# only these, so every recommendation can be run as printed.
COLLECT_TO_SIMULATOR = {
    "majority": "majority",
    "mean": "mean",
    "bragg-uniform": "bragg-uniform",
    "bragg-model": "bragg-model",
    "bragg-beta": "bragg-beta",
    "dawid-skene": "ds-model",
    "ds-act": "ds-act",
    "two-coin": "two-coin",
    "two-coin-act": "two-coin-act",
    "ma-act": "ma-act",
}


def _draws_for(unique_by_draws: list[tuple[int, float]] | None, n_inputs: int) -> int:
    """i.i.d. draws (`sample --per-pair`) expected to show n_inputs distinct images.

    Interpolates the simulator's distinct-inputs curve; without one (a pilot plan) draws =
    inputs, an upper bound on the distinct images they show."""
    import numpy as np

    if not unique_by_draws:
        return n_inputs
    draws = np.array([d for d, _ in unique_by_draws], dtype=np.float64)
    uniq = np.array([u for _, u in unique_by_draws], dtype=np.float64)
    return max(n_inputs, int(math.ceil(float(np.interp(n_inputs, uniq, draws)))))


def _print_plans(
    plans: dict[str, BudgetPlan],
    unique_by_draws: list[tuple[int, float]] | None = None,
    sampler: str = "mg-is",
) -> None:
    first = next(iter(plans.values()))
    best_agg = min(
        (a for a in plans if plans[a].best is not None),
        key=lambda a: plans[a].best.expected_rce,  # type: ignore[union-attr]
        default=None,
    )
    table = compact_table(
        ("aggregator", True),
        *((col, False) for col in ("raters", "inputs", "ratings", "USD/pair", "USD total", "RCE")),
        title=f"Designs for ${first.budget} over {first.n_pairs} pairs "
        f"(${first.budget_per_pair} per pair, RCE from {first.source})",
    )
    for agg, plan_ in plans.items():
        for d in plan_.candidates:
            chosen = agg == best_agg and d == plan_.best
            table.add_row(
                agg,
                str(d.n_raters),
                str(d.n_inputs),
                str(d.ratings_per_pair),
                f"{d.cost_per_pair:.2f}",
                f"{d.total_cost:.2f}",
                _fmt(d.expected_rce),
                style="bold green" if chosen else None,
            )
    console.print(table)
    siglip = first.siglip_only_rce
    if siglip is not None:
        console.print(f"SigLIP-only evaluation ($0): expected RCE {siglip:.3f}")
    if best_agg is None:
        console.print("no design is affordable: the budget buys less than one HIT per pair")
        return
    b = plans[best_agg].best
    assert b is not None
    if siglip is not None and siglip <= b.expected_rce:
        console.print(
            Text.assemble(
                ("recommendation:", "bold"),
                " SigLIP-only; no affordable human design beats it",
            )
        )
        return
    console.print(
        Text.assemble(
            ("recommendation:", "bold"),
            f" {b.n_inputs} inputs x {b.n_raters} raters per pair with {best_agg}, "
            f"${b.total_cost:.2f} in total, expected RCE {b.expected_rce:.3f}",
        )
    )
    per_pair = _draws_for(unique_by_draws, b.n_inputs)
    console.print(
        '"inputs" are distinct images shown per pair (what raters see and you pay for); '
        f"about {per_pair} i.i.d. draws show that many"
        + ("" if unique_by_draws else " at most (draws = inputs is an upper bound)")
        + ". Run it with:"
    )
    console.print(
        f"  turkops sample STUDY --per-pair {per_pair} --strategy {sampler}\n"
        f"  turkops launch STUDY --raters {b.n_raters}\n"
        f"  turkops collect STUDY --aggregation {best_agg}",
        markup=False,
        soft_wrap=True,
    )
    if MA_ACT in plans:
        console.print(
            "ma-act's RCE here is each pair's own estimate; collect also pools a study's "
            "pairs towards the cheap model, which in simulation lowered RCE further "
            "(docs/statistics.md 2d).",
            markup=False,
        )
    if best_agg == MA_ACT and b.n_raters == 1:
        console.print(
            "This design has the lowest expected RCE, but with 1 rater strong correlations come "
            "out low: in simulation "
            "pairs with a true ρ >= 0.4 were estimated 0.12 low and their 95% intervals held "
            "it 90% of the time (0.08 and 96% with 3 raters; docs/statistics.md 2e). Fine "
            "for ranking methods; buy 3 raters to read strong correlations at face value.",
            markup=False,
        )
    if best_agg == MA_ACT and sampler != "mg-is":
        console.print(
            "ma-act needs the study's concept probabilities: run `turkops concepts score "
            "STUDY` (or `turkops concepts import`) before collect.",
            markup=False,
        )


def _cost_model(provider: str | None, hourly_rate: str, tasks_per_session: int | None) -> CostModel:
    """MTurk's price list, or Prolific's per-task cost (session reward share + fee + VAT)."""
    from turkops.cli.crowd import parse_money
    from turkops.config import load_settings
    from turkops.stats.planning import CostModel

    settings = load_settings(**({"provider": provider} if provider else {}))
    if settings.provider != "prolific":
        return CostModel()
    from turkops.prolific.pricing import task_cost

    per_task = task_cost(
        tasks_per_session,
        parse_money(hourly_rate, "--hourly-rate"),
        settings.prolific_fee,
        settings.prolific_vat,
    )
    # Prolific's fee is a flat share with no minimum and no surcharge for many raters.
    return CostModel(
        reward=per_task, fee_rate=Decimal(0), min_fee=Decimal(0), large_hit_extra_rate=Decimal(0)
    )


@app.command()
def plan(
    budget: Annotated[str, typer.Option("--budget", help="Total budget in USD, e.g. 2160.")],
    pairs: Annotated[
        int, typer.Option("--pairs", min=1, help="Pairs (neuron, explanation) to score.")
    ],
    pilot: Annotated[
        Path | None,
        typer.Option(
            "--pilot",
            help=".npz pilot with activations_z, weights, concept_probs (K, n0), votes, workers "
            "(K, n0, M) and optionally siglip_rho (K,); default: plan from simulation.",
        ),
    ] = None,
    sampler: Annotated[
        str, typer.Option("--sampler", help="Sampler the study will use.")
    ] = "mg-is",
    aggregators: Annotated[
        str,
        typer.Option(
            "--aggregators",
            help="Aggregators to choose from, comma-separated (the lowest expected RCE wins; "
            "RCE only, not coverage or ranking: docs/statistics.md); default: the default "
            "aggregator; any `collect --aggregation` name: " + ", ".join(COLLECT_TO_SIMULATOR),
        ),
    ] = TURKOPS_AGGREGATOR,
    inputs: Annotated[
        int, typer.Option("--inputs", min=10, help="Probing-set size N (simulation).")
    ] = 50_000,
    eta: Annotated[float, typer.Option("--eta", help="Rater error rate (simulation).")] = 0.23,
    auc: Annotated[float, typer.Option("--auc", help="Cheap-model AUC (simulation).")] = 0.95,
    base_rate: Annotated[
        str, typer.Option("--base-rate", help="Concept base rate LOW:HIGH (simulation).")
    ] = "0.001:0.01",
    correlation: Annotated[
        str, typer.Option("--correlation", help="True correlation LOW:HIGH (simulation).")
    ] = "0.05:0.5",
    sim_pairs: Annotated[
        int, typer.Option("--sim-pairs", min=1, help="Pairs to simulate (simulation).")
    ] = 40,
    max_raters: Annotated[
        int, typer.Option("--max-raters", min=1, help="Largest rater count to consider.")
    ] = 9,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            help="Price on mturk ($0.05 per task + MTurk fees) or prolific (sessions paid "
            "by --hourly-rate + TURKOPS_PROLIFIC_FEE); default TURKOPS_PROVIDER.",
        ),
    ] = None,
    hourly_rate: Annotated[
        str, typer.Option("--hourly-rate", help="Prolific: USD per hour (minimum 8).")
    ] = "12.00",
    tasks_per_session: Annotated[
        int | None,
        typer.Option("--tasks-per-session", min=1, help="Prolific: tasks per session."),
    ] = None,
) -> None:
    """Choose inputs per pair, raters per input and aggregator minimising expected RCE."""
    from turkops.stats.planning import plan_budget
    from turkops.stats.simulation import SimulationConfig
    from turkops.stats.strategies import AggregatorOptions

    total = _money(budget)
    if sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    aggs = _names(aggregators, "aggregators", list(COLLECT_TO_SIMULATOR))
    sim_name = {agg: COLLECT_TO_SIMULATOR[agg] for agg in aggs}
    cost = _cost_model(provider, hourly_rate, tasks_per_session)
    per_pair = total / pairs
    biggest = cost.max_inputs(per_pair, 1)
    if biggest < cost.images_per_task:
        raise InputError(
            f"${per_pair:.4f} per pair buys no HIT (one HIT with one rater costs "
            f"${cost.cost_per_pair(cost.images_per_task, 1)})"
        )
    siglip: float | None
    surfaces: dict[str, RceSurface] = {}
    unique_by_draws: list[tuple[int, float]] | None = None
    if pilot is not None:
        if MA_ACT in aggs:
            raise InputError(
                "ma-act cannot be planned from a pilot: it needs the whole probing set "
                "(activations, concept probabilities, the proposal); plan it from simulation"
            )
        for agg in aggs:
            surfaces[agg], siglip = _pilot_surface(pilot, seed, sim_name[agg])
    else:
        pop, crowd = _settings(inputs, base_rate, correlation, auc, eta, "uniform", 0.0, None, 100)
        draws = []
        n = 10
        while n < 2 * biggest:
            draws.append(n)
            n *= 2
        draws.append(n)
        try:
            config = SimulationConfig(
                population=pop,
                crowd=crowd,
                n_pairs=sim_pairs,
                pairs_per_study=sim_pairs,
                draws=tuple(draws),
                raters=tuple(range(1, max_raters + 1)),
                samplers=(sampler,),
                aggregators=tuple(sim_name[a] for a in aggs),
                options=AggregatorOptions(),
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        result = _run(config, seed, "simulating designs")
        surfaces = {agg: result.surface(sampler, sim_name[agg]) for agg in aggs}
        siglip = result.siglip_rce
        unique_by_draws = [
            (d, float(u)) for d, u in zip(config.draws, result.unique_inputs[0], strict=True)
        ]
    plans = {
        agg: plan_budget(
            total,
            pairs,
            surface,
            raters=tuple(m for m in surface.raters if m <= max_raters),
            siglip_only_rce=siglip,
            cost_model=cost,
        )
        for agg, surface in surfaces.items()
    }
    _print_plans(plans, unique_by_draws, sampler)
