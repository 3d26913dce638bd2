"""Issue 11 item 5 on Prolific: the simulator's spammers (answering at random) are flagged by
the aggregator's per-worker error rates after a whole study through the task server."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from sqlalchemy import select

pytest.importorskip("turkops.taskserver", reason="the task server is merged separately")

from tests.conftest import write_study_files  # noqa: E402
from tests.market_fixtures import truth_for  # noqa: E402
from turkops.config import Settings  # noqa: E402
from turkops.db.models import BlockedWorker, Event  # noqa: E402
from turkops.demo.prolific import prolific_crowd  # noqa: E402
from turkops.domain import ProviderError, SamplingStrategy  # noqa: E402
from turkops.prolific_sim.participants import CrowdConfig, make_participants  # noqa: E402
from turkops.services.launch import LaunchOptions, launch_study  # noqa: E402
from turkops.services.poll import poll_study  # noqa: E402
from turkops.services.publish import SessionOptions  # noqa: E402
from turkops.services.ratings import load_ratings  # noqa: E402
from turkops.services.sampling import sample_study  # noqa: E402
from turkops.services.spammers import MIN_RATINGS, fit_workers, flag_spammers  # noqa: E402
from turkops.services.studies import create_study  # noqa: E402
from turkops.wiring import open_runtime  # noqa: E402

PARTICIPANTS, ERROR_RATE, SPAMMERS, SEED = 40, 0.05, 0.5, 3


def test_prolific_simulator_spammers_are_flagged_and_not_blocked_silently(
    tmp_path: Path,
) -> None:
    # The simulator draws its participants from random.Random(seed) first: the same people.
    people = make_participants(
        CrowdConfig(n_participants=PARTICIPANTS, error_rate=ERROR_RATE, spammer_share=SPAMMERS),
        random.Random(SEED),
    )
    spammers = {p.pid for p in people if p.spammer}
    files = write_study_files(tmp_path / "files")
    base = {"database_url": f"sqlite:///{tmp_path / 't.sqlite'}", "data_dir": tmp_path / "data"}
    open_runtime(Settings(**base, _env_file=None)).close()  # type: ignore[call-arg]
    with prolific_crowd(
        base, truth_for(30), ERROR_RATE, SEED, participants=PARTICIPANTS, spammers=SPAMMERS
    ) as settings:
        rt = open_runtime(settings)
        try:
            create_study(
                rt,
                "s",
                files["inputs"],
                files["activations"],
                files["explanations"],
                files["scores"],
            )
            sample_study(rt, "s", 60, SamplingStrategy.MG_IS, 0.2, seed=3)
            # No attention checks: here the aggregator alone has to find the spammers.
            sessions = SessionOptions(tasks_per_session=8, check_rate=0.0)
            launch_study(rt, "s", LaunchOptions(raters=10, sessions=sessions))
            deadline = time.monotonic() + 240
            while True:
                try:
                    if poll_study(rt, "s").complete:
                        break
                except ProviderError:
                    pass  # a throttled pass is retried
                assert time.monotonic() < deadline, "the simulated crowd did not finish"
                time.sleep(0.3)
            with rt.transaction() as repo:
                _, table = load_ratings(repo, repo.study("s").id)
            fits = fit_workers(table)
            flagged = {f.worker for f in flag_spammers(rt, "s")}
            assert flagged <= spammers, "an honest participant was flagged"
            enough = {f.worker for f in fits if f.ratings >= MIN_RATINGS} & spammers
            assert enough, "no spammer took a session: the test proves nothing"
            assert flagged, [(f.worker in spammers, f.sensitivity + f.specificity) for f in fits]
            with rt.transaction() as repo:
                logged = repo.session.scalars(
                    select(Event.entity).where(Event.kind == "worker.flagged_spammer")
                ).all()
                assert sorted(logged) == sorted(f"worker:{w}" for w in flagged)
                assert not repo.session.scalars(select(BlockedWorker)).all()
        finally:
            rt.close()
