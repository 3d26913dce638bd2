"""`turkops simulate` and `turkops plan`: the statistics core's simulator and budget planner.

Both are thin shells over turkops.stats.simulation / turkops.stats.planning: parse options,
run, print Rich tables, and write the optional JSON and PNG files.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from turkops.cli.app import app
from turkops.domain import InputError
from turkops.stats.planning import BudgetPlan, CostModel, RceSurface, plan_budget
from turkops.stats.sampling import DEFAULT_EPS, DEFAULT_GAMMA
from turkops.stats.simulation import (
    BASELINE,
    DEFAULT_AGGREGATORS,
    SAMPLERS,
    TURKOPS_AGGREGATOR,
    SimulationConfig,
    SimulationResult,
    run_simulation,
)
from turkops.stats.strategies import AGGREGATORS, AggregatorOptions
from turkops.stats.synthetic import CrowdSetting, PopulationSetting

console = Console()
err_console = Console(stderr=True)


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
) -> tuple[PopulationSetting, CrowdSetting]:
    if rater_errors not in ("uniform", "beta", "spammers"):
        raise InputError("--rater-errors must be uniform, beta or spammers")
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
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return pop, crowd


def _run(config: SimulationConfig, seed: int, label: str) -> SimulationResult:
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
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def _print_grid(result: SimulationResult) -> None:
    cfg = result.config
    for r, m in enumerate(cfg.raters):
        table = Table(
            title=f"RCE with {m} rater(s) per input, by draws per pair", title_justify="left"
        )
        table.add_column("strategy", no_wrap=True)
        for n in cfg.draws:
            table.add_column(f"n={n}", justify="right")
        for s, sampler in enumerate(cfg.samplers):
            for a, agg in enumerate(cfg.aggregators):
                table.add_row(f"{sampler}+{agg}", *(_fmt(x) for x in result.rce[s, a, :, r]))
        console.print(table)
    inputs = Table(
        title="Distinct inputs shown per pair (cost = inputs x raters)", title_justify="left"
    )
    inputs.add_column("sampler")
    for n in cfg.draws:
        inputs.add_column(f"n={n}", justify="right")
    for s, sampler in enumerate(cfg.samplers):
        inputs.add_row(sampler, *(f"{x:.0f}" for x in result.unique_inputs[s]))
    console.print(inputs)
    floors = Table(
        title="Noise floor: RCE with infinitely many draws (bias of the labels)",
        title_justify="left",
    )
    floors.add_column("aggregator")
    for m in cfg.raters:
        floors.add_column(f"m={m}", justify="right")
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
    table = Table(
        title=f"Evaluations (inputs x raters per pair) to reach RCE {target:.1%}; "
        f"cost reduction versus {BASELINE[0]}+{BASELINE[1]}",
        title_justify="left",
    )
    for col in ("strategy", "evaluations", "raters", "fewest raters", "cost reduction", "best RCE"):
        table.add_column(
            col, justify="left" if col == "strategy" else "right", no_wrap=col == "strategy"
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
        str, typer.Option("--rater-errors", help="uniform | beta (per rater) | spammers.")
    ] = "uniform",
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
            + ", ".join(AGGREGATORS),
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
) -> None:
    """Simulate studies and print the RCE of every sampler x aggregator over a budget grid."""
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
    )
    try:
        config = SimulationConfig(
            population=pop,
            crowd=crowd,
            n_pairs=pairs,
            pairs_per_study=pairs_per_study,
            draws=_ints(draws, "--draws"),
            raters=_ints(raters, "--raters"),
            samplers=_names(samplers, "samplers", SAMPLERS),
            aggregators=_names(aggregators, "aggregators", list(AGGREGATORS)),
            target_rce=target,
            self_normalised=self_normalised,
            eps=eps,
            gamma=gamma,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for path in (json_path, plot_path):
        if path is not None and not path.parent.exists():
            raise InputError(f"folder {path.parent} does not exist")
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
        json_path.write_text(json.dumps(payload, indent=1, default=str))
        console.print(f"wrote {json_path}")
    if plot_path is not None:
        _plot(result, plot_path)
        console.print(f"wrote {plot_path}")


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"--budget must be an amount in USD, got {text!r}") from None
    if value <= 0 or not value.is_finite():
        raise InputError("--budget must be > 0")
    return value


def _pilot_surface(path: Path, seed: int, aggregator: str) -> tuple[RceSurface, float | None]:
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


def _print_plans(plans: dict[str, BudgetPlan]) -> None:
    first = next(iter(plans.values()))
    best_agg = min(
        (a for a in plans if plans[a].best is not None),
        key=lambda a: plans[a].best.expected_rce,  # type: ignore[union-attr]
        default=None,
    )
    table = Table(
        title=f"Designs for ${first.budget} over {first.n_pairs} pairs "
        f"(${first.budget_per_pair} per pair, RCE from {first.source})",
        title_justify="left",
    )
    for col in ("aggregator", "raters", "inputs", "ratings", "USD/pair", "USD total", "RCE"):
        table.add_column(col, justify="left" if col == "aggregator" else "right")
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
            "[bold]recommendation:[/bold] SigLIP-only; no affordable human design beats it"
        )
        return
    console.print(
        f"[bold]recommendation:[/bold] {b.n_inputs} inputs x {b.n_raters} raters per pair "
        f"with {best_agg}, ${b.total_cost:.2f} in total, expected RCE {b.expected_rce:.3f}"
    )


def _cost_model(provider: str | None, hourly_rate: str, tasks_per_session: int | None) -> CostModel:
    """MTurk's price list, or Prolific's per-task cost (session reward share + fee + VAT)."""
    from turkops.cli.crowd import parse_money
    from turkops.config import load_settings

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
            "--aggregators", help="Aggregators to choose from, comma-separated (best one wins)."
        ),
    ] = f"{TURKOPS_AGGREGATOR},ds-model",
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
    total = _money(budget)
    if sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLERS)}")
    aggs = _names(aggregators, "aggregators", list(AGGREGATORS))
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
    if pilot is not None:
        for agg in aggs:
            surfaces[agg], siglip = _pilot_surface(pilot, seed, agg)
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
                aggregators=aggs,
                options=AggregatorOptions(),
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        result = _run(config, seed, "simulating designs")
        surfaces = {agg: result.surface(sampler, agg) for agg in aggs}
        siglip = result.siglip_rce
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
    _print_plans(plans)
