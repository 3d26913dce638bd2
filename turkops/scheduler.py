"""`turkops monitor`: the poll pass on a schedule (APScheduler) until the study completes."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from turkops.domain import ProviderError
from turkops.services.poll import PollResult, ReviewPolicy, poll_study
from turkops.wiring import Runtime

log = logging.getLogger(__name__)


def monitor_study(
    rt: Runtime,
    name: str,
    every_seconds: float,
    policy: ReviewPolicy,
    on_pass: Callable[[PollResult], None] | None = None,
    max_passes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PollResult | None:
    """Run poll passes every `every_seconds` until complete, SIGTERM/SIGINT or max_passes.

    One job per study, never overlapping (max_instances=1), missed runs coalesced. A provider
    error in one pass is logged and retried at the next tick rather than ending the monitor.
    """
    scheduler = BlockingScheduler()
    last: list[PollResult] = []
    passes = [0]

    def run_pass() -> None:
        try:
            result = poll_study(rt, name, policy, progress=progress)
        except ProviderError as exc:
            log.warning("poll pass failed, retrying next tick: %s", exc)
            return
        last.append(result)
        passes[0] += 1
        if on_pass:
            on_pass(result)
        if result.complete or (max_passes is not None and passes[0] >= max_passes):
            scheduler.shutdown(wait=False)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping monitor after the current pass", signum)
        scheduler.shutdown(wait=False)

    scheduler.add_job(
        run_pass,
        "interval",
        seconds=every_seconds,
        id=f"poll:{name}",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(),
        replace_existing=True,
    )
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return last[-1] if last else None
