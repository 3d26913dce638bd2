"""Two pollers on the same study at once give the same result as one (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import cast

from sqlalchemy import create_engine, text

from tests.reliability.crash_harness import check_invariants, subprocess_env
from turkops.domain import ConflictError
from turkops.marketplace import RunningMarketplace
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import PollResult, poll_study
from turkops.wiring import Runtime


def test_two_pollers(mrt: Runtime, sampled: str, market: RunningMarketplace) -> None:
    result = launch_study(mrt, sampled, LaunchOptions(raters=3))
    expected = 3 * result.plan.hits
    deadline = time.monotonic() + 30
    while (
        market.ctx.store.query("SELECT COUNT(*) FROM assignments WHERE status='Submitted'")[0][0]
        < expected
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    env = subprocess_env(mrt, market)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "turkops", "poll", sampled],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode in (0, 10), err.decode()[-2000:]
    final = poll_study(mrt, sampled)  # whatever one poller skipped, the next pass finishes
    assert final.complete
    totals = check_invariants(mrt, market, sampled)
    assert totals["assignments"] == expected


def test_stale_assignment_list_never_moves_status_back(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    """Issue 10 item 11: poller B read the assignment list before poller A approved; B's
    stale list (all Submitted) must not move Approved back to Submitted."""
    from sqlalchemy import select

    from turkops.crowd import TaskPageProvider
    from turkops.db.models import Assignment, Hit
    from turkops.domain import AssignmentStatus
    from turkops.services.poll import PollResult, _ingest, moves_forward
    from turkops.services.status import study_status

    result = launch_study(mrt, sampled, LaunchOptions(raters=2))
    expected = 2 * result.plan.hits
    deadline = time.monotonic() + 30
    while (
        market.ctx.store.query("SELECT COUNT(*) FROM assignments WHERE status='Submitted'")[0][0]
        < expected
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pages = cast(TaskPageProvider, mrt.provider("mturk"))
    with mrt.transaction() as repo:
        rows = repo.session.execute(select(Hit.hit_id, Hit.id, Hit.study_id)).all()
    stale = [(row_id, study_id, list(pages.submissions(h))) for h, row_id, study_id in rows]
    assert {ra.raw_status for _r, _s, lst in stale for ra in lst} == {AssignmentStatus.SUBMITTED}
    assert poll_study(mrt, sampled).complete  # poller A ingests and approves everything
    replay = PollResult()
    for row_id, study_id, assignments in stale:  # poller B goes on with its old list
        for ra in assignments:
            _ingest(mrt, pages, study_id, row_id, ra, replay)
    with mrt.transaction() as repo:
        statuses = repo.session.scalars(select(Assignment.status)).all()
    assert len(statuses) == expected
    assert set(statuses) == {AssignmentStatus.APPROVED}, "a stale list moved a status back"
    assert replay.changed_behind_our_back == 0
    report = study_status(mrt, sampled)
    assert report.assignments == {AssignmentStatus.APPROVED: expected}
    check_invariants(mrt, market, sampled)
    assert not moves_forward(AssignmentStatus.APPROVED, AssignmentStatus.SUBMITTED)
    assert not moves_forward(AssignmentStatus.REJECTED, AssignmentStatus.SUBMITTED)
    assert not moves_forward(AssignmentStatus.APPROVED, AssignmentStatus.REJECTED)
    assert moves_forward(AssignmentStatus.SUBMITTED, AssignmentStatus.REJECTED)
    assert moves_forward(AssignmentStatus.REJECTED, AssignmentStatus.APPROVED)


def test_two_launchers(mrt: Runtime, sampled: str, market: RunningMarketplace) -> None:
    """Issue 10 item 15: two `turkops launch` at once. Each HIT exists once; the launcher that
    loses the race to record the HIT rows says so in one line with exit code 6, no traceback."""
    market.pause_workers()
    env = subprocess_env(mrt, market)
    blocker = create_engine(mrt.settings.database_url)
    # Hold the database's write lock (SQLite) / the hits table (PostgreSQL) while both launchers
    # plan, so both have counted zero HIT rows before either can record them.
    conn = blocker.connect()
    if blocker.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(text("LOCK TABLE hits IN EXCLUSIVE MODE"))
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "turkops", "launch", sampled, "--raters", "2"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 60
        while market.stats().get("CreateHITType", 0) < 2:  # both are about to record
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.05)
        time.sleep(1.5)
    finally:
        conn.rollback()
        conn.close()
        blocker.dispose()
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    for (_out, err), p in zip(outs, procs, strict=True):
        text_err = err.decode()
        assert "Traceback" not in text_err, text_err[-2000:]
        if p.returncode != 0:
            assert p.returncode == ConflictError.exit_code, text_err
            # One error line (a progress bar may precede it on stderr; that is not an error).
            errors = [ln for ln in text_err.splitlines() if ln.startswith("error")]
            assert len(errors) == 1 and "another `turkops launch" in errors[0], text_err
    assert codes == [0, ConflictError.exit_code], outs
    again = launch_study(mrt, sampled, LaunchOptions(raters=2))  # nothing left to do
    assert again.already == again.plan.hits
    market.resume_workers()
    assert poll_until_done(mrt, sampled).complete
    totals = check_invariants(mrt, market, sampled)
    assert totals["hits"] == again.plan.hits


def poll_until_done(rt: Runtime, name: str) -> PollResult:
    deadline = time.monotonic() + 60
    while not (result := poll_study(rt, name)).complete:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return result
