"""A whole Prolific study offline: simulator + simulated participants + the turkops task
server + launch/poll/collect/status."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from turkops.config import Settings
from turkops.db.models import Assignment, Hit, HitItem, Rating, TaskLease
from turkops.demo.pipeline import METHODS, DemoConfig, run_demo
from turkops.services.status import study_status
from turkops.wiring import open_runtime


def test_a_whole_study_on_the_simulator_ranks_right_and_accounts_for_every_rating(
    tmp_path: Path,
) -> None:
    work = tmp_path / "demo"
    result = run_demo(DemoConfig(workdir=work, seed=0, provider="prolific", timeout_seconds=600))
    ranking = [m.method for m in sorted(result.collect.methods, key=lambda m: m.rank)]
    truth_order = sorted(METHODS, key=lambda m: -result.true_method_means[m])
    assert ranking == truth_order
    engine = create_engine(f"sqlite:///{work / 'turkops.sqlite'}")
    with Session(engine) as s:
        for hit in s.scalars(select(Hit)).all():
            held = s.scalar(
                select(func.count(TaskLease.id)).where(
                    TaskLease.hit_row_id == hit.id,
                    TaskLease.status.in_(("leased", "submitted")),
                )
            )
            assert (held or 0) <= hit.max_assignments
            good = s.scalar(
                select(func.count(Assignment.id)).where(
                    Assignment.hit_row_id == hit.id,
                    Assignment.valid.is_(True),
                    Assignment.status == "Approved",
                )
            )
            assert good == hit.max_assignments
        # Every rating belongs to one submitted task and one of its images, exactly once.
        ratings = s.scalar(select(func.count(Rating.id))) or 0
        expected = s.scalar(
            select(func.count(HitItem.id))
            .select_from(Assignment)
            .join(HitItem, HitItem.hit_row_id == Assignment.hit_row_id)
        )
        assert ratings == expected
    engine.dispose()
    # status counts what the design needs: rejected sessions' work was rated again elsewhere.
    rt = open_runtime(
        Settings(  # type: ignore[call-arg]
            database_url=f"sqlite:///{work / 'turkops.sqlite'}",
            data_dir=work / "data",
            _env_file=None,
        )
    )
    try:
        report = study_status(rt, "demo")
    finally:
        rt.close()
    counts = report.assignments
    # Whether a participant fails the checks (and is rejected) depends on the simulated crowd's
    # timing; when one is, its work must not count towards the design.
    assert counts["Approved"] == report.expected_assignments
    assert report.received == counts["Approved"] + counts.get("Submitted", 0), counts
