"""Sampling and the crowd lifecycle: sample, launch, poll, monitor, status, expire."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer
from rich.table import Table

from turkops import defaults
from turkops.cli.app import app
from turkops.cli.common import (
    ProgressLines,
    compact_table,
    console,
    from_setting,
    progress_bar,
    runtime,
)
from turkops.domain import ConfigError, InputError, SamplingStrategy

if TYPE_CHECKING:
    from turkops.config import Settings
    from turkops.services.poll import PollResult, ReviewPolicy
    from turkops.services.publish import PublishResult

EXIT_COMPLETE, EXIT_RUNNING = 0, 10
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")


def parse_money(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise InputError(f"{option}: {text!r} is not an amount in USD") from None
    if value < 0 or not value.is_finite():
        raise InputError(f"{option}: must be a non-negative amount")
    return value


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise InputError(f"--every: {text!r} is not a duration like 30s, 5m, 1h")
    seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if seconds < 1:
        raise InputError("--every must be at least 1 second")
    return seconds


@app.command()
def sample(
    study: str = typer.Argument(..., help="Study name."),
    per_pair: int = typer.Option(
        180,
        "--per-pair",
        help="i.i.d. draws per (neuron, concept) "
        "pair; an image drawn twice is shown once, weighted by 2.",
    ),
    strategy: SamplingStrategy = typer.Option(
        SamplingStrategy.MG_IS,
        "--strategy",
        help="mg-is: model-guided (needs concept scores); ag-is: activation-guided; uniform.",
    ),
    gamma: float = typer.Option(
        0.2,
        "--gamma",
        help="Share of the uniform distribution mixed "
        "into the proposal, so every image can be drawn.",
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same sample."),
) -> None:
    """Draw the images raters will see for every pair (importance sampling) and store them."""
    from turkops.services.sampling import sample_study

    with runtime() as rt, progress_bar() as bar:
        task = bar.add_task("sampling pairs", total=None)
        summary = sample_study(
            rt,
            study,
            per_pair,
            strategy,
            gamma,
            seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"sampled {summary.pairs} pairs x {summary.draws_per_pair} draws ({summary.strategy}, "
        f"seed {summary.seed}): {summary.unique_inputs} distinct images"
    )


@app.command()
def launch(
    study: str = typer.Argument(..., help="Study name."),
    raters: int | None = typer.Option(
        None,
        "--raters",
        help="Assignments per HIT (raters per image); below 10 avoids MTurk's extra 20% fee. "
        + from_setting("TURKOPS_RATERS", defaults.RATERS),
        show_default=False,
    ),
    images_per_hit: int | None = typer.Option(
        None,
        "--images-per-hit",
        help="Images per task page. "
        + from_setting("TURKOPS_IMAGES_PER_HIT", defaults.IMAGES_PER_HIT),
        show_default=False,
    ),
    reward: str | None = typer.Option(
        None,
        "--reward",
        help="USD per assignment. " + from_setting("TURKOPS_REWARD", defaults.REWARD),
        show_default=False,
    ),
    max_cost: str | None = typer.Option(
        None, "--max-cost", help="Refuse if the total (rewards + MTurk fees) exceeds this many USD."
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="Where you host the images: URL = base-url + '/' + the image path of inputs.csv.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the plan and cost; create nothing."
    ),
    tasks_per_session: int | None = typer.Option(
        None,
        "--tasks-per-session",
        min=1,
        help="Prolific: tasks (pages) per participant session (default: ~5 minutes at 15 s "
        "per task, i.e. 20).",
    ),
    hourly_rate: str = typer.Option(
        "12.00",
        "--hourly-rate",
        help="Prolific: target pay in USD per hour; the session reward follows from it "
        "(refused below Prolific's minimum of $8/h).",
    ),
    check_rate: float = typer.Option(
        0.2,
        "--check-rate",
        help="Prolific: attention-check tasks per real task in a session (0 disables).",
    ),
    test: bool = typer.Option(
        False,
        "--test",
        help="Prolific: publish in test mode (test participants only, no spending).",
    ),
) -> None:
    """Create the study's HITs (resumable: a re-run never creates a HIT twice)."""
    from turkops.services.launch import LaunchOptions, launch_study
    from turkops.services.publish import SessionOptions

    parsed_reward = parse_money(reward, "--reward") if reward is not None else None
    parsed_max = parse_money(max_cost, "--max-cost") if max_cost is not None else None
    with runtime() as rt:
        s = rt.settings
        options = LaunchOptions(
            raters=s.raters if raters is None else raters,
            images_per_hit=s.images_per_hit if images_per_hit is None else images_per_hit,
            reward=s.reward if parsed_reward is None else parsed_reward,
            max_cost=parsed_max,
            dry_run=dry_run,
            base_url=base_url,
            sessions=SessionOptions(
                tasks_per_session=tasks_per_session,
                hourly_rate=parse_money(hourly_rate, "--hourly-rate"),
                check_rate=check_rate,
                test=test,
            ),
        )
        where, refusal = endpoint_description(s)
        console.print(f"endpoint: {where}")
        if refusal is not None and not dry_run:
            raise ConfigError(refusal)
        with progress_bar() as bar:
            task = bar.add_task("creating HITs", total=None, visible=not dry_run)
            result = launch_study(
                rt,
                study,
                options,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    if result.sessions is not None:
        _print_sessions(result.sessions, result.dry_run)
        return
    p = result.plan
    assert p is not None
    table = compact_table(
        *((h, False) for h in ("HITs", "assignments", "rewards", "MTurk fees", "total")),
        title="launch plan",
    )
    table.add_row(
        str(p.hits), str(p.assignments), f"${p.rewards:.2f}", f"${p.fees:.2f}", f"${p.total:.2f}"
    )
    console.print(table)
    console.print(
        f"{options.raters} raters per HIT, {options.images_per_hit} images per HIT, "
        f"${options.reward} per assignment"
    )
    if p.many_assignments_surcharge:
        console.print("note: 10 or more raters per HIT adds MTurk's extra 20% fee")
    if result.dry_run:
        console.print("dry run: nothing was created")
        if refusal is not None:
            console.print(f"the real run would be refused: {refusal}")
    else:
        console.print(
            f"created {result.created} HITs, adopted {result.adopted} from an earlier "
            f"run, {result.already} already existed"
        )


def _print_sessions(published: PublishResult, dry_run: bool) -> None:
    p = published.plan
    table = Table("places", "reward", "rewards", "fee", "VAT", "total", title="launch plan")
    table.add_row(
        str(p.places),
        f"${p.reward:.2f}",
        f"${p.rewards:.2f}",
        f"${p.fees:.2f}",
        f"${p.vat:.2f}",
        f"${p.total:.2f}",
    )
    console.print(table)
    console.print(
        f"{p.tasks} tasks x {p.raters} raters in sessions of {p.tasks_per_session} tasks "
        f"(+{p.check_rate:.0%} attention checks, ~{p.minutes} min, "
        f"${p.hourly_rate:.2f}/h); fee {p.fee_rate:.1%}"
    )
    if dry_run:
        console.print("dry run: nothing was created")
    elif published.published:
        console.print(f"published Prolific study {published.provider_ref}")
    else:
        console.print(f"already published as {published.provider_ref}")


def endpoint_description(settings: Settings) -> tuple[str, str | None]:
    """(where HITs go, in words; why a real run would be refused, or None)."""
    from turkops.config import PRODUCTION_URL, SANDBOX_URL

    if settings.provider == "prolific":
        api = settings.prolific_url
        local = _host(api) in {"127.0.0.1", "localhost", "::1"}
        money = "the local simulator, no money" if local else "real participants, real money"
        return f"Prolific API at {api} ({money}); participants open {settings.public_url}", None
    try:
        url = settings.endpoint_url()
    except ConfigError as exc:  # e.g. production without TURKOPS_ALLOW_PRODUCTION=true
        return f"TURKOPS_ENDPOINT={settings.endpoint}", str(exc)
    if settings.is_local():
        return f"local marketplace at {url} (simulated, no money)", None
    if _host(url) == _host(SANDBOX_URL):
        return f"MTurk sandbox ({url}), no money", None
    if _host(url) == _host(PRODUCTION_URL):
        return f"MTurk production ({url}), real money", None
    return f"{url} (an explicit TURKOPS_ENDPOINT)", None


def _host(url: str) -> str:
    """Host of a URL as MTurk's DNS sees it: lower case, no port, no trailing dot."""
    return (urlsplit(url).hostname or "").rstrip(".").lower()


def _policy(approve: bool, reject_invalid: bool, reject_feedback: str | None) -> ReviewPolicy:
    from turkops.services.poll import ReviewPolicy

    return ReviewPolicy(
        approve=approve, reject_invalid=reject_invalid, reject_feedback=reject_feedback or ""
    )


def _print_pass(r: PollResult) -> None:
    console.print(
        f"{r.hits_changed} HITs changed, {r.ingested} assignments ingested ({r.invalid} invalid), "
        f"{r.approved} approved, {r.rejected} rejected, {r.changed_behind_our_back} changed "
        f"remotely; {r.hits_done}/{r.hits_total} HITs done"
    )
    for problem in r.problems[:10]:
        console.print(f"needs review: {problem}")


@app.command()
def poll(
    study: str = typer.Argument(..., help="Study name."),
    approve: bool = typer.Option(
        True, "--approve/--no-approve", help="Approve (pay) submitted work."
    ),
    reject_invalid: bool = typer.Option(
        False,
        "--reject-invalid",
        help="Reject malformed or unconsented answers instead of approving them.",
    ),
    reject_feedback: str | None = typer.Option(
        None, "--reject-feedback", help="Message to workers whose work is rejected (required)."
    ),
) -> None:
    """One polling pass, for cron. Exit 0 = study complete, 10 = still running, other = error."""
    from turkops.services.poll import poll_study
    from turkops.services.spammers import flag_spammers

    with runtime() as rt:
        result = poll_study(
            rt,
            study,
            _policy(approve, reject_invalid, reject_feedback),
            progress=ProgressLines("poll: HITs reviewed"),
        )
        # New ratings can change who looks like a spammer (logged once, blocked on request).
        spammers = flag_spammers(rt, study) if result.ingested or result.complete else []
    _print_pass(result)
    if spammers:
        console.print(
            f"{len(spammers)} workers look like spammers: turkops block --flagged {study} "
            "--reason TEXT"
        )
    raise typer.Exit(EXIT_COMPLETE if result.complete else EXIT_RUNNING)


@app.command()
def monitor(
    study: str = typer.Argument(..., help="Study name."),
    every: str | None = typer.Option(
        None,
        "--every",
        help="Interval between passes: 30s, 5m, 1h. "
        + from_setting("TURKOPS_POLL_INTERVAL_SECONDS", f"{defaults.POLL_INTERVAL_SECONDS}s"),
        show_default=False,
    ),
    approve: bool = typer.Option(True, "--approve/--no-approve", help="Approve submitted work."),
    reject_invalid: bool = typer.Option(
        False, "--reject-invalid", help="Reject malformed answers."
    ),
    reject_feedback: str | None = typer.Option(
        None, "--reject-feedback", help="Message to rejected workers."
    ),
) -> None:
    """Poll on a schedule until the study completes (stops cleanly on SIGTERM / Ctrl-C)."""
    from turkops.scheduler import monitor_study

    interval = parse_duration(every) if every is not None else None
    with runtime() as rt:
        last = monitor_study(
            rt,
            study,
            interval if interval is not None else float(rt.settings.poll_interval_seconds),
            _policy(approve, reject_invalid, reject_feedback),
            on_pass=_print_pass,
            progress=ProgressLines("monitor: HITs reviewed"),
        )
    raise typer.Exit(EXIT_COMPLETE if last is not None and last.complete else EXIT_RUNNING)


@app.command()
def status(study: str = typer.Argument(..., help="Study name.")) -> None:
    """HITs by state, assignments submitted/approved/rejected, money spent and committed."""
    from turkops.services.status import study_status

    with runtime() as rt:
        r = study_status(rt, study)
    table = Table(show_header=False, title=f"study {r.name} ({r.status})")
    table.add_row("provider", r.provider + (f" {r.provider_ref}" if r.provider_ref else ""))
    table.add_row("HITs", ", ".join(f"{k} {v}" for k, v in sorted(r.hits.items())) or "none")
    table.add_row(
        "assignments", ", ".join(f"{k} {v}" for k, v in sorted(r.assignments.items())) or "none"
    )
    table.add_row(
        "received",
        f"{r.received}/{r.expected_assignments} ({r.submitted_share:.0%})",
    )
    table.add_row("paid", f"${r.paid:.2f}")
    table.add_row("committed", f"${r.committed:.2f}")
    if r.spammers:
        table.add_row(
            "flagged",
            f"{r.spammers} workers look like spammers: turkops block --flagged {r.name} "
            "--reason TEXT",
        )
    console.print(table)


@app.command()
def expire(study: str = typer.Argument(..., help="Study name.")) -> None:
    """Expire all open HITs now (submitted work can still be polled and paid)."""
    from turkops.services.status import expire_study

    with runtime() as rt:
        n = expire_study(rt, study)
    console.print(f"expired {n} HITs")


@app.command()
def bonus(
    study: str = typer.Argument(..., help="Study name."),
    worker: str = typer.Argument(..., help="Worker id (MTurk) or PROLIFIC_PID."),
    amount: str = typer.Argument(..., help="USD, e.g. 0.50."),
    reason: str = typer.Option(..., "--reason", help="Message the worker sees."),
) -> None:
    """Pay a worker of the study a bonus, at most once (the same bonus asked twice is paid
    once; one interrupted while paying is reported, never paid again)."""
    from turkops.services.bonuses import pay_bonus

    with runtime() as rt:
        r = pay_bonus(rt, study, worker, parse_money(amount, "AMOUNT"), reason)
    console.print(f"bonus {r.token}: {'paid' if r.paid_now else 'already ' + r.status}")


@app.command()
def block(
    worker: str | None = typer.Argument(
        None, help="Worker id (MTurk) or PROLIFIC_PID; omit with --flagged."
    ),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the event log)."),
    provider: str | None = typer.Option(
        None, "--provider", help="mturk or prolific (default TURKOPS_PROVIDER)."
    ),
    flagged: str | None = typer.Option(
        None,
        "--flagged",
        metavar="STUDY",
        help="Block every worker the study's two-coin fit flags as a spammer "
        "(see `turkops status`), on the study's provider.",
    ),
) -> None:
    """Keep a worker out of every later study on that provider (Prolific: blocklist
    filter; MTurk: turkops' block qualification)."""
    from turkops.services.blocklist import block_worker
    from turkops.services.spammers import block_flagged

    if (worker is None) == (flagged is None):
        raise InputError("give a worker id or --flagged STUDY (one of them)")
    with runtime() as rt:
        if flagged is not None:
            added, total = block_flagged(rt, flagged, reason)
            console.print(f"blocked {added} of {total} flagged workers")
            return
        assert worker is not None
        added_one = block_worker(rt, provider or rt.settings.provider, worker, reason)
    console.print("blocked" if added_one else "already blocked")


images_app = typer.Typer(help="Make the study's images reachable by workers.")
app.add_typer(images_app, name="images")


@images_app.command("publish")
def images_publish(
    study: str = typer.Argument(..., help="Study name."),
    bucket: str = typer.Option(..., "--bucket", help="S3 bucket to upload to."),
    prefix: str = typer.Option("turkops", "--prefix", help="Key prefix inside the bucket."),
    expires_days: float = typer.Option(
        7.0,
        "--expires-days",
        help="Lifetime of the presigned URLs (at most 7 days; must exceed the HIT lifetime).",
    ),
) -> None:
    """Upload local images to S3 and use presigned URLs in the task pages (AWS credentials from
    boto3's usual chain)."""
    import boto3
    from botocore.config import Config

    from turkops.services.images import publish_images

    with runtime() as rt, progress_bar() as bar:
        task = bar.add_task("uploading images", total=None)
        n = publish_images(
            rt,
            study,
            bucket,
            boto3.client(
                "s3", region_name=rt.settings.aws_region, config=Config(signature_version="s3v4")
            ),  # v2 URLs are deprecated
            prefix=prefix,
            expires_seconds=int(expires_days * 86400),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"published {n} images to s3://{bucket}/{prefix}")
