"""kill -9 of `turkops launch` and `turkops poll` on Prolific at random moments, restart:
one Prolific study, every submission decided at most once, local records match Prolific."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from tests.conftest import write_study_files
from tests.prolific.conftest import TOKEN
from tests.prolific.taskserver_standin import run_session
from tests.prolific.test_lifecycle import PER_SESSION, prolific_settings, study_row
from tests.reliability.crash_harness import CrashLog, run_with_random_kills
from turkops.db.models import Assignment, TaskSession
from turkops.domain import SamplingStrategy
from turkops.prolific_sim import RunningSimulator, SimFaults
from turkops.services.leases import SessionStatus
from turkops.services.sampling import sample_study
from turkops.services.studies import create_study
from turkops.wiring import open_runtime


def test_kill_9_of_launch_and_poll_keeps_every_decision_single(
    tmp_path: Path, sim: RunningSimulator
) -> None:
    db_url = f"sqlite:///{tmp_path / 'crash.sqlite'}"
    rt = open_runtime(prolific_settings(db_url, tmp_path, sim))
    files = write_study_files(tmp_path / "files")
    create_study(
        rt, "s", files["inputs"], files["activations"], files["explanations"], files["scores"]
    )
    sample_study(rt, "s", 20, SamplingStrategy.MG_IS, 0.2, seed=3)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "TURKOPS_DATABASE_URL": db_url,
        "TURKOPS_DATA_DIR": str(tmp_path / "data"),
        "TURKOPS_PROVIDER": "prolific",
        "TURKOPS_PROLIFIC_URL": sim.url,
        "TURKOPS_PROLIFIC_TOKEN": TOKEN,
        "TURKOPS_PUBLIC_URL": "https://tasks.example.org",
    }
    sim.state.faults = SimFaults(delay=0.05)  # widens the windows a kill can land in
    rng = random.Random(7)
    log = CrashLog()
    launch = ["launch", "s", "--raters", "2", "--tasks-per-session", str(PER_SESSION),
              "--check-rate", "0"]  # fmt: skip
    assert run_with_random_kills(launch, env, rng, log, "launch", (0,), max_delay=4.0) == 0
    assert len(sim.state.studies) == 1
    study_id, ref, params = study_row(rt)
    code, failed = str(params["completion_code"]), str(params["failed_check_code"])
    for n in range(40):
        pid = f"p{n}"
        bad = n % 5 == 1
        s = run_session(
            rt, study_id, pid, PER_SESSION,
            status=SessionStatus.FAILED_CHECK if bad else SessionStatus.COMPLETED,
            code=failed if bad else code, checks_failed=2 if bad else 0,
        )  # fmt: skip
        if s.tasks_done == 0:
            break
        sub = sim.state.start_submission(ref, pid)
        if sub is None:  # no place left: a (killable) poll pass tops the places up
            run_with_random_kills(["poll", "s"], env, rng, log, "pass", (0, 10), max_delay=4.0)
            sub = sim.state.start_submission(ref, pid)
            assert sub is not None
        sim.state.finish_submission(sub["id"], "AWAITING REVIEW", failed if bad else code)
        if n % 4 == 3:
            run_with_random_kills(["poll", "s"], env, rng, log, "pass", (0, 10), max_delay=4.0)
    final = run_with_random_kills(["poll", "s"], env, rng, log, "poll", (0, 10), max_delay=6.0)
    assert final == 0, "study not complete"
    assert log.kills > 0
    approvals: Counter[str] = Counter()
    rejections: Counter[str] = Counter()
    for _, path, body in sim.state.requests:
        if path.endswith("/bulk-approve/"):
            approvals.update(body["submission_ids"])
        elif path.startswith("/api/v1/submissions/") and path.endswith("/transition/"):
            rejections[path] += 1
    assert all(n == 1 for n in approvals.values()) and all(n == 1 for n in rejections.values())
    remote = {s["participant_id"]: s["status"] for s in sim.state.submissions.values()}
    with rt.transaction() as repo:
        for session in repo.session.scalars(select(TaskSession)).all():
            statuses = set(
                repo.session.scalars(
                    select(Assignment.status).where(
                        Assignment.assignment_id.like(f"ps-{session.id}-%")
                    )
                ).all()
            )
            if session.participant_id not in remote:  # found no task left: never joined
                assert statuses == set()
                continue
            want = {"APPROVED": "Approved", "REJECTED": "Rejected"}[remote[session.participant_id]]
            assert statuses == {want}, session.participant_id
    rt.close()
