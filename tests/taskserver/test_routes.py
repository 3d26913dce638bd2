"""The participant's path through the real HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tests.taskserver.helpers import (
    COMPLETE,
    Participant,
    make_prolific_study,
    none_selected,
    parse_page,
)
from turkops.db.models import (
    Assignment,
    Hit,
    HitItem,
    Input,
    Rating,
    Sample,
    TaskLease,
    TaskSession,
    utcnow,
)
from turkops.services.leases import expire_leases
from turkops.taskserver.runner import RunningTaskServer
from turkops.wiring import Runtime


def _first_two(concept: str, images: list[str]) -> list[int]:
    return [int(k < 2) for k in range(len(images))]


def test_a_session_from_arrival_to_completion(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    make_prolific_study(rt, tmp_path / "f", tasks_per_session=3, raters=2)
    p = Participant(server.url, "5f1a2b3c4d5e6f7a8b9c0d1e")
    r = p.arrive("ps")
    assert r.status_code == 200 and p.page is not None
    consent = p.page.forms["consent_form"]
    assert {"session_token", "csrf_token"} <= set(consent.fields)
    assert "turkops_csrf" in r.cookies
    r = p.consent()
    assert r.status_code == 200 and p.page is not None
    form = p.page.forms["task_form"]
    assert form.fields["task"].startswith("h")
    assert p.page.concept in {"red", "dog", "cat"}
    # data-image is the inputs.csv reference; the page's item_k fields match the images.
    assert p.page.images and all(i.startswith("img/") for i in p.page.images)
    assert sorted(k for k in form.fields if k.startswith("item_")) == sorted(
        f"item_{k}" for k in range(len(p.page.images))
    )
    assert 'src="data:image/png;base64,' in r.text
    with rt.transaction() as repo:
        hit = repo.session.get(Hit, int(form.fields["task"][1:]))
        assert hit is not None
        shown = [
            i.image
            for i in repo.session.scalars(
                select(Input)
                .join(Sample, Sample.input_id == Input.id)
                .join(HitItem, HitItem.sample_id == Sample.id)
                .where(HitItem.hit_row_id == hit.id)
                .order_by(HitItem.position)
            )
        ]
    assert p.page.images == shown and p.page.concept == hit.concept

    pages = 1
    while True:
        r = p.answer_page(_first_two)
        if r.status_code == 303:
            break
        pages += 1
    assert pages == 3
    assert r.headers["location"] == f"{COMPLETE}?cc=C0MPL3TE"

    with rt.transaction() as repo:
        s = repo.session.scalars(select(TaskSession)).one()
        assert (s.status, s.tasks_done, s.completion_code) == ("completed", 3, "C0MPL3TE")
        assignments = repo.session.scalars(select(Assignment)).all()
        assert len(assignments) == 3
        assert {a.assignment_id for a in assignments} == {
            f"ps-{s.id}-{lease.hit_row_id}" for lease in repo.session.scalars(select(TaskLease))
        }
        assert all(a.status == "Submitted" and a.valid for a in assignments)
        values = repo.session.execute(
            select(HitItem.position, Rating.value).join(Rating, Rating.hit_item_id == HitItem.id)
        ).all()
        assert values and all(v == int(pos < 2) for pos, v in values)
        leases = repo.session.scalars(select(TaskLease.status)).all()
        assert leases == ["submitted"] * 3
    # Coming back after the end sends the participant to Prolific again, with the same code.
    r = p.follow(p.arrive("ps"))
    assert r.status_code == 303 and r.headers["location"].endswith("cc=C0MPL3TE")
    p.close()


def test_raters_cap_and_no_task_twice(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    n_tasks = make_prolific_study(rt, tmp_path / "f", tasks_per_session=2, raters=2)
    results = []
    for k in range(n_tasks + 3):
        p = Participant(server.url, f"P{k:03d}")
        results.append(p.run("ps", none_selected))
        p.close()
    with rt.transaction() as repo:
        per_hit = dict(
            repo.session.execute(
                select(Hit.id, func.count(Assignment.id))
                .outerjoin(Assignment, Assignment.hit_row_id == Hit.id)
                .group_by(Hit.id)
            ).all()
        )
        pairs = repo.session.execute(select(TaskLease.session_row_id, TaskLease.hit_row_id)).all()
    assert set(per_hit.values()) == {2}  # every task got exactly its 2 raters
    assert len(pairs) == len(set(pairs))
    done = [r for r in results if r.code == "C0MPL3TE"]
    assert sum(r.pages for r in done) == 2 * n_tasks
    # Latecomers find the study full: a 200 page, no completion code.
    late = Participant(server.url, "LATE")
    r = late.follow(late.arrive("ps"))
    r = late.consent()
    assert r.status_code == 200 and "No tasks left" in r.text
    late.close()


def test_double_submit_records_once(rt: Runtime, server: RunningTaskServer, tmp_path: Path) -> None:
    make_prolific_study(rt, tmp_path / "f", tasks_per_session=3, raters=2)
    p = Participant(server.url, "DOUBLE")
    p.follow(p.arrive("ps"))
    p.consent()
    assert p.page is not None
    fields = {**p.page.forms["task_form"].fields}
    fields.update({f"item_{k}": "1" for k in range(len(p.page.images))})
    action = p.page.forms["task_form"].action
    first = p.client.post(action, data=fields)
    second = p.client.post(action, data=fields)
    assert first.status_code == second.status_code == 303
    with rt.transaction() as repo:
        assert repo.session.scalar(select(func.count(Assignment.id))) == 1
        assert repo.session.scalar(select(func.count(Rating.id))) == len(p.page.images)
        assert repo.session.scalars(select(TaskSession.tasks_done)).one() == 1
    # The next page is a different task.
    r = p.follow(first)
    assert p.page is not None and p.page.forms["task_form"].fields["task"] != fields["task"]
    assert r.status_code == 200
    p.close()


def test_reload_shows_the_same_task(rt: Runtime, server: RunningTaskServer, tmp_path: Path) -> None:
    make_prolific_study(rt, tmp_path / "f")
    p = Participant(server.url, "RELOADER")
    p.follow(p.arrive("ps"))
    p.consent()
    assert p.page is not None
    key = p.page.forms["task_form"].fields["task"]
    r = p.follow(p.arrive("ps"))  # the Prolific link again: resumes the session
    assert r.status_code == 200 and p.page.forms["task_form"].fields["task"] == key
    with rt.transaction() as repo:
        assert repo.session.scalar(select(func.count(TaskSession.id))) == 1
        assert repo.session.scalar(select(func.count(TaskLease.id))) == 1
    p.close()


def test_expired_lease_goes_back_to_the_pool(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    n_tasks = make_prolific_study(rt, tmp_path / "f", raters=1, tasks_per_session=50)
    gone = Participant(server.url, "WALKS_AWAY")
    gone.follow(gone.arrive("ps"))
    gone.consent()
    assert gone.page is not None
    stale_form = dict(gone.page.forms["task_form"].fields)
    # Someone else takes every other task; the abandoned one is still held.
    other = Participant(server.url, "STAYS")
    assert other.run("ps", none_selected).code == "C0MPL3TE"
    assert expire_leases(rt, now=utcnow()) == 0  # not yet expired
    assert expire_leases(rt, now=utcnow() + timedelta(seconds=901)) == 1
    with rt.transaction() as repo:
        statuses = dict(
            repo.session.execute(select(TaskSession.participant_id, TaskSession.status)).all()
        )
        assert statuses["WALKS_AWAY"] == "timed_out"
        assert (
            repo.session.scalar(
                select(func.count(TaskLease.id)).where(TaskLease.status == "released")
            )
            == 1
        )
    late = Participant(server.url, "LATECOMER")
    result = late.run("ps", none_selected)
    assert (result.pages, result.code) == (1, "C0MPL3TE")
    # The one who walked away cannot submit the released task any more.
    stale_form.update({f"item_{k}": "0" for k in range(len(gone.page.images))})
    r = gone.client.post(gone.page.forms["task_form"].action, data=stale_form)
    assert r.status_code == 410 and "ended" in r.text
    with rt.transaction() as repo:
        assert repo.session.scalar(select(func.count(Assignment.id))) == n_tasks
    for x in (gone, other, late):
        x.close()


def test_healthz_and_unknown_study(rt: Runtime, server: RunningTaskServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/healthz").text == "ok"
        r = c.get("/p/nope", params={"PROLIFIC_PID": "X"})
        assert r.status_code == 404
        assert parse_page(r.text).forms == {}
        assert c.get("/p/nope").status_code == 400  # no PROLIFIC_PID


def test_returned_participant_gives_the_task_back(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    # What poll does when Prolific reports RETURNED: the one release function.
    from turkops.services.leases import SessionStatus, release_session

    n_tasks = make_prolific_study(rt, tmp_path / "f", raters=1, tasks_per_session=50)
    quitter = Participant(server.url, "RETURNS")
    quitter.follow(quitter.arrive("ps"))
    quitter.consent()
    assert quitter.page is not None
    form = {**quitter.page.forms["task_form"].fields}
    form.update({f"item_{k}": "1" for k in range(len(quitter.page.images))})
    with rt.transaction() as repo:
        session = repo.session.scalars(select(TaskSession)).one()
        assert release_session(repo, session, SessionStatus.RETURNED) == 1
    other = Participant(server.url, "TAKES_ALL")
    result = other.run("ps", none_selected)
    assert (result.pages, result.code) == (n_tasks, "C0MPL3TE")  # including the returned one
    r = quitter.client.post(quitter.page.forms["task_form"].action, data=form)
    assert r.status_code == 410
    with rt.transaction() as repo:
        assert repo.session.scalar(select(func.count(Assignment.id))) == n_tasks
    quitter.close()
    other.close()


def test_blocked_participant_is_refused(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    from turkops.db.models import BlockedWorker

    make_prolific_study(rt, tmp_path / "f")
    with rt.transaction() as repo:
        repo.session.add(BlockedWorker(provider="prolific", worker_id="SPAMMER", reason="x"))
        repo.session.add(BlockedWorker(provider="mturk", worker_id="MTURKONLY", reason="x"))
    p = Participant(server.url, "SPAMMER")
    r = p.arrive("ps")
    assert r.status_code == 403 and "not open to you" in r.text
    ok = Participant(server.url, "MTURKONLY")  # blocked on another provider only
    assert ok.arrive("ps").status_code == 200
    with rt.transaction() as repo:
        assert repo.session.scalars(select(TaskSession.participant_id)).all() == ["MTURKONLY"]
    p.close()
    ok.close()
