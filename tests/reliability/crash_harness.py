"""kill -9 `turkops launch` and `turkops poll` at random moments, restart, check invariants.

Used by tests/reliability/test_crash_safety.py (a few seeds in CI) and
scripts/soak_crash.py (many seeds). Every kill lands on a real process at an arbitrary point:
during start-up, between recording a token and the CreateHIT answer, mid-ingest, between an
approval and its record, or inside a database commit.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from turkops.db.models import Assignment, Event, Hit, HitItem, Rating
from turkops.marketplace import RunningMarketplace
from turkops.wiring import Runtime


@dataclass
class CrashLog:
    kills: int = 0  # processes killed while still running
    runs: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)


def run_with_random_kills(
    args: list[str],
    env: dict[str, str],
    rng: random.Random,
    log: CrashLog,
    phase: str,
    ok_codes: tuple[int, ...],
    max_delay: float,
    max_runs: int = 60,
) -> int:
    """Start the command repeatedly, killing it after a random delay, until a run ends by itself
    with an accepted exit code; returns that code."""
    for _ in range(max_runs):
        proc = subprocess.Popen(
            [sys.executable, "-m", "turkops", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        log.runs += 1
        delay = rng.uniform(0.0, max_delay)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            log.kills += 1
            log.by_phase[phase] = log.by_phase.get(phase, 0) + 1
            # Later attempts wait longer, so the loop always ends with a clean run.
            max_delay *= 1.3
            continue
        out, err = proc.communicate()
        if proc.returncode in ok_codes:
            if proc.returncode == 0 or phase != "poll":
                return proc.returncode
            continue
        raise AssertionError(f"{args} exited {proc.returncode}: {err.decode()[-2000:]}")
    raise AssertionError(f"{args} never completed in {max_runs} runs")


def subprocess_env(rt: Runtime, market: RunningMarketplace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURKOPS_")}
    env.update(
        TURKOPS_DATABASE_URL=rt.settings.database_url,
        TURKOPS_DATA_DIR=str(rt.settings.data_dir),
        TURKOPS_ENDPOINT="local",
        TURKOPS_LOCAL_URL=market.url,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    return env


def check_invariants(rt: Runtime, market: RunningMarketplace, name: str) -> dict[str, int]:
    """Nothing lost, nothing twice, nothing paid twice, every change explained."""
    store = market.ctx.store
    remote_hits = {r[0]: r[1] for r in store.query("SELECT hit_id, requester_annotation FROM hits")}
    remote_done = {
        r[0]: r[1]
        for r in store.query(
            "SELECT assignment_id, status FROM assignments "
            "WHERE status IN ('Submitted','Approved','Rejected')"
        )
    }
    with rt.transaction() as repo:
        study = repo.study(name)
        hits = repo.session.scalars(select(Hit).where(Hit.study_id == study.id)).all()
        local_hit_ids = [h.hit_id for h in hits]
        assignments = repo.session.execute(
            select(
                Assignment.assignment_id,
                Assignment.status,
                Assignment.paid,
                Assignment.valid,
                Assignment.hit_row_id,
            )
        ).all()
        ratings = repo.session.scalar(select(func.count(Rating.id))) or 0
        items_per_hit = dict(
            repo.session.execute(
                select(HitItem.hit_row_id, func.count(HitItem.id)).group_by(HitItem.hit_row_id)
            ).all()
        )
        events = repo.session.execute(
            select(Event.kind, Event.entity, Event.detail).order_by(Event.id)
        ).all()
    # No HIT exists twice, and every HIT created remotely is known locally.
    assert None not in local_hit_ids
    assert sorted(local_hit_ids) == sorted(remote_hits), "remote and local HITs differ"
    annotations = list(remote_hits.values())
    assert len(set(annotations)) == len(annotations), "two remote HITs share a token"
    # Every submitted assignment ingested exactly once, with its ratings.
    local_ids = [a[0] for a in assignments]
    assert len(local_ids) == len(set(local_ids))
    assert set(local_ids) == set(remote_done), "assignments lost or invented"
    expected_ratings = sum(items_per_hit[a[4]] for a in assignments if a[3])
    assert ratings == expected_ratings
    # Local and remote agree on decisions, and money matches the marketplace's ledger.
    for aid, status, _paid, _valid, _h in assignments:
        assert status == remote_done[aid], (aid, status, remote_done[aid])
    spent_remote = Decimal(str(store.balance().spent))
    spent_local = sum((Decimal(str(a[2])) for a in assignments), Decimal("0"))
    assert spent_local == spent_remote, (spent_local, spent_remote)
    # The event log explains every HIT and every assignment state change: replaying the log
    # gives each assignment's recorded status (docs/reliability.md, "Event log").
    entities = {(k, e) for k, e, _d in events}
    for hit_id in local_hit_ids:
        assert ("hit.created", f"hit:{hit_id}") in entities or (
            "hit.adopted",
            f"hit:{hit_id}",
        ) in entities
    replayed = replay_statuses(events)
    for aid, status, *_ in assignments:
        assert ("assignment.ingested", f"assignment:{aid}") in entities
        assert replayed.get(aid) == status, (aid, status, replayed.get(aid), "not in the event log")
    approvals = [e for k, e, _d in events if k == "assignment.approved"]
    assert len(approvals) == len(set(approvals)), "an assignment was approved twice"
    return {"hits": len(local_hit_ids), "assignments": len(local_ids), "ratings": ratings}


def replay_statuses(events: Sequence[Sequence[Any]]) -> dict[str, str]:
    """Assignment id -> status, from (kind, entity, detail) events in log order."""
    out: dict[str, str] = {}
    for kind, entity, detail in events:
        if not entity or not entity.startswith("assignment:"):
            continue
        aid = entity.removeprefix("assignment:")
        if kind == "assignment.ingested":
            out[aid] = str(detail["status"])
        elif kind == "assignment.approved":
            out[aid] = "Approved"
        elif kind == "assignment.rejected":
            out[aid] = "Rejected"
        elif kind == "assignment.changed_remotely":
            out[aid] = str(detail["now"])
    return out


def crash_cycle(
    rt: Runtime, market: RunningMarketplace, name: str, seed: int, log: CrashLog, raters: int = 2
) -> dict[str, int]:
    rng = random.Random(seed)
    env = subprocess_env(rt, market)
    run_with_random_kills(
        ["launch", name, "--raters", str(raters)],
        env,
        rng,
        log,
        "launch",
        ok_codes=(0,),
        max_delay=2.5,
    )
    deadline = time.monotonic() + 120
    while True:
        code = run_with_random_kills(
            ["poll", name], env, rng, log, "poll", ok_codes=(0, 10), max_delay=2.0
        )
        if code == 0:
            break
        assert time.monotonic() < deadline
    return check_invariants(rt, market, name)
