"""`turkops marketplace serve`: run the local MTurk-compatible marketplace in the foreground."""

from __future__ import annotations

import signal
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from turkops.cli.app import app
from turkops.domain import InputError
from turkops.marketplace import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MarketplaceConfig,
    default_db_path,
    is_loopback,
    load_truth,
    start_marketplace,
)

marketplace_app = typer.Typer(
    help=(
        "The local, offline MTurk-compatible marketplace with simulated raters. Point turkops "
        "at it with TURKOPS_ENDPOINT=local (or boto3 with endpoint_url=its URL)."
    ),
    no_args_is_help=True,
)
app.add_typer(marketplace_app, name="marketplace")


def _share(value: float, option: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{option} must be between 0 and 1, got {value}")
    return value


@marketplace_app.command()
def serve(
    port: Annotated[
        int, typer.Option("--port", help="TCP port to listen on (0 picks a free one).")
    ] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; only loopback unless --allow-remote.")
    ] = DEFAULT_HOST,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="SQLite file holding HITs, assignments and balance across restarts "
            "(default: $TURKOPS_MARKETPLACE_DB, else ~/.turkops/marketplace.sqlite).",
        ),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="CSV image,concept,present (present 0/1; image exactly as in the study's "
            "inputs.csv) the simulated raters answer from; without it they answer at random.",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Number of simulated raters.")
    ] = 50,
    error_rate: Annotated[
        float,
        typer.Option("--error-rate", help="Probability a (non-spammer) rater flips an answer."),
    ] = 0.23,
    spammers: Annotated[
        float, typer.Option("--spammers", help="Share of raters who answer at random.")
    ] = 0.1,
    pace: Annotated[
        float,
        typer.Option(
            "--pace",
            min=0.0,
            help="Mean seconds a rater spends on an assignment (0 = as fast as possible; "
            "e.g. 3600 for realistic hours).",
        ),
    ] = 0.0,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed for rater ids, error rates and answers."),
    ] = None,
    balance: Annotated[
        str, typer.Option("--balance", help="Starting balance in USD of a new database.")
    ] = "10000.00",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a non-loopback --host (anyone who can reach it can spend the fake "
            "balance and read the task pages).",
        ),
    ] = False,
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            help="mturk: the MTurk-compatible marketplace; prolific: the Prolific API v1 "
            "simulator, whose participants take studies on the turkops task server "
            "(`turkops serve`); it accepts the token in TURKOPS_PROLIFIC_TOKEN.",
        ),
    ] = "mturk",
    fault_429_every: Annotated[
        int,
        typer.Option("--fault-429-every", min=0, help="Prolific: every Nth call starts a "
                     "burst of three 429 answers (0 = never)."),
    ] = 0,
    fault_5xx: Annotated[
        float, typer.Option("--fault-5xx", help="Prolific: share of calls answered 500.")
    ] = 0.0,
    fault_delay: Annotated[
        float, typer.Option("--fault-delay", min=0.0, help="Prolific: seconds added per call.")
    ] = 0.0,
    fault_duplicates: Annotated[
        float,
        typer.Option("--fault-duplicates", help="Prolific: share of task forms posted twice."),
    ] = 0.0,
) -> None:
    """Serve MTurk's requester API, the task pages (/preview/<hit_id>, /work/<hit_id>) and
    /_admin/ on HOST:PORT until Ctrl-C or SIGTERM (or, with --provider prolific, the
    Prolific API simulator and its participants)."""
    if not allow_remote and not is_loopback(host):
        raise InputError(f"--host {host} is not a loopback address; add --allow-remote")
    if provider == "prolific":
        from turkops.prolific_sim.cli import serve_prolific

        serve_prolific(
            host=host,
            port=port,
            truth=load_truth(truth) if truth is not None else None,
            workers=workers,
            error_rate=_share(error_rate, "--error-rate"),
            spammers=_share(spammers, "--spammers"),
            seed=seed,
            pace=pace,
            faults=(fault_429_every, _share(fault_5xx, "--fault-5xx"), fault_delay,
                    _share(fault_duplicates, "--fault-duplicates")),
            echo=typer.echo,
        )
        return
    if provider != "mturk":
        raise InputError(f"--provider must be mturk or prolific, got {provider!r}")
    try:
        initial = Decimal(balance.strip().lstrip("$"))
    except InvalidOperation:
        raise InputError(f"--balance: {balance!r} is not an amount in USD") from None
    if initial < 0 or not initial.is_finite():
        raise InputError("--balance must be a non-negative amount")
    config = MarketplaceConfig(
        host=host,
        port=port,
        db_path=db or default_db_path(),
        n_workers=workers,
        error_rate=_share(error_rate, "--error-rate"),
        spammer_share=_share(spammers, "--spammers"),
        seed=seed,
        pace_seconds=pace,
        truth=load_truth(truth) if truth is not None else None,
        initial_balance=initial,
        allow_remote=allow_remote,
    )
    running = start_marketplace(config)

    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        running.request_stop()

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    typer.echo(f"turkops marketplace listening on {running.url}")
    typer.echo(f"  database: {config.resolved_db_path()}")
    typer.echo(f"  task pages: {running.url}/  admin: {running.url}/_admin/stats")
    typer.echo("  Ctrl-C to stop")
    try:
        running.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        signal.signal(signal.SIGTERM, previous)
    typer.echo("marketplace stopped")
