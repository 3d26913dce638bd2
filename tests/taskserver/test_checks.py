"""Attention checks: known-answer pages mixed into sessions, graded, failing ends the session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.taskserver.helpers import Participant, make_prolific_study
from turkops.db.models import Assignment, Event, Rating, TaskLease, TaskSession
from turkops.services.checks import (
    CheckPage,
    KnownItem,
    build_check_pool,
    check_page,
    check_positions,
    grade_check,
)
from turkops.taskserver.runner import RunningTaskServer
from turkops.wiring import Runtime

CONCEPTS = ("red", "dog", "cat")
N = 30


def _probs() -> np.ndarray:
    # Every image is near-certain for every concept, so the known answers are the truth.
    return np.array(
        [[0.99 if (i + j) % 3 == 0 else 0.01 for j in range(len(CONCEPTS))] for i in range(N)]
    )


def truth(concept: str, image: str) -> int:
    i = int(image.split("/")[1].split(".")[0])
    return int(_probs()[i, CONCEPTS.index(concept)] > 0.5)


def honest(concept: str, images: list[str]) -> list[int]:
    return [truth(concept, im) for im in images]


def contrary(concept: str, images: list[str]) -> list[int]:
    return [1 - truth(concept, im) for im in images]


def _study(rt: Runtime, tmp_path: Path, **kw: object) -> int:
    return make_prolific_study(
        rt, tmp_path / "f", probs=_probs(), check_rate=1.0, tasks_per_session=2, raters=1, **kw
    )  # type: ignore[arg-type]


def test_attentive_participant_passes_and_checks_are_not_ratings(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    _study(rt, tmp_path)
    p = Participant(server.url, "ATTENTIVE")
    keys: list[str] = []
    r = p.follow(p.arrive("ps"))
    assert "You will see 4 pages" in " ".join(r.text.split())  # 2 tasks + 2 checks
    r = p.consent()
    while r.status_code == 200:
        assert p.page is not None
        keys.append(p.page.forms["task_form"].fields["task"])
        r = p.answer_page(honest)
    assert r.headers["location"].endswith("cc=C0MPL3TE")
    assert sorted(k[0] for k in keys) == ["c", "c", "h", "h"] and keys[0][0] == "h"
    with rt.transaction() as repo:
        s = repo.session.scalars(select(TaskSession)).one()
        assert (s.status, s.checks_passed, s.checks_failed, s.tasks_done) == (
            "completed",
            2,
            0,
            2,
        )
        assert repo.session.scalar(select(func.count(Assignment.id))) == 2
    p.close()


def test_inattentive_participant_fails_and_is_excluded(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    _study(rt, tmp_path)
    p = Participant(server.url, "CARELESS")
    result = p.run("ps", contrary)
    assert result.code == "FAILED_ATTENTION_CHECK"
    assert result.completion_url == (
        "https://app.prolific.com/submissions/complete?cc=FAILED_ATTENTION_CHECK"
    )
    with rt.transaction() as repo:
        s = repo.session.scalars(select(TaskSession)).one()
        assert (s.status, s.checks_failed, s.completion_code) == (
            "failed_check",
            2,
            "FAILED_ATTENTION_CHECK",
        )
        assignments = repo.session.scalars(select(Assignment)).all()
        assert assignments and all(
            not a.valid and a.problem == "failed attention check" for a in assignments
        )
        assert repo.session.scalar(select(func.count(Rating.id))) > 0  # kept, but excluded
        # The slots go back: none of the session's leases still counts against a task.
        assert set(repo.session.scalars(select(TaskLease.status))) == {"released"}
        events = repo.session.scalars(
            select(Event.kind).where(Event.kind == "session.failed_check")
        ).all()
        assert events == ["session.failed_check"]
    # Returning later does not give a second chance.
    r = p.follow(p.arrive("ps"))
    assert r.status_code == 303 and r.headers["location"].endswith("cc=FAILED_ATTENTION_CHECK")
    # Someone attentive can now take the tasks the careless one had done.
    q = Participant(server.url, "NEXT")
    assert q.run("ps", honest).code == "C0MPL3TE"
    with rt.transaction() as repo:
        assert (
            repo.session.scalar(select(func.count(Assignment.id)).where(Assignment.valid.is_(True)))
            == 2
        )
    p.close()
    q.close()


def test_check_resubmit_counts_once(rt: Runtime, server: RunningTaskServer, tmp_path: Path) -> None:
    _study(rt, tmp_path)
    p = Participant(server.url, "DOUBLE")
    r = p.follow(p.arrive("ps"))
    r = p.consent()
    while p.page is not None and p.page.forms["task_form"].fields["task"][0] != "c":
        r = p.answer_page(honest)
    assert r.status_code == 200 and p.page is not None
    fields = dict(p.page.forms["task_form"].fields)
    fields.update(
        {f"item_{k}": str(v) for k, v in enumerate(contrary(p.page.concept or "", p.page.images))}
    )
    action = p.page.forms["task_form"].action
    for _ in range(3):
        assert p.client.post(action, data=fields).status_code == 303
    with rt.transaction() as repo:
        s = repo.session.scalars(select(TaskSession)).one()
        assert (s.checks_failed, s.status) == (1, "active")  # once, not three times
    p.close()


def test_no_checks_without_known_items(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    # Scores all near 0.5: nothing is near-certain, so sessions have no checks.
    make_prolific_study(
        rt, tmp_path / "f", probs=np.full((N, 3), 0.5), check_rate=1.0, tasks_per_session=2
    )
    p = Participant(server.url, "NOCHECK")
    res = p.run("ps", honest)
    assert (res.pages, res.code) == (2, "C0MPL3TE")
    p.close()


def test_pool_positions_and_grading(rt: Runtime, tmp_path: Path) -> None:
    _study(rt, tmp_path)
    with rt.transaction() as repo:
        pool = build_check_pool(repo, repo.study("ps"), 15)
    assert pool is not None and set(pool.concepts) == set(CONCEPTS)
    for sid in range(1, 40):
        pos = check_positions(sid, 20, 0.2, True)
        assert len(pos) == 4 and 0 not in pos and max(pos) < 24 and pos == sorted(set(pos))
        page = check_page(pool, sid, 1)
        assert page == check_page(pool, sid, 1)  # rebuilt identically when graded
        assert 0 < sum(k.present for k in page.items) < len(page.items) <= 15
    assert check_positions(1, 20, 0.2, False) == [] == check_positions(1, 20, 0.0, True)
    page = CheckPage("x", tuple(KnownItem(i, i < 3) for i in range(10)))
    right = [int(i < 3) for i in range(10)]
    assert grade_check(page, right)
    four_wrong = [1 - v if i < 4 else v for i, v in enumerate(right)]
    assert grade_check(page, four_wrong)  # 6 of 10 right: passes
    five_wrong = [1 - v if i < 5 else v for i, v in enumerate(right)]
    assert not grade_check(page, five_wrong)
    with pytest.raises(ValueError):
        grade_check(page, right[:3])
