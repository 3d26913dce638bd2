"""Simulated participants read and submit the contract's HTML forms over real HTTP."""

from __future__ import annotations

import random
import time
from decimal import Decimal

from tests.prolific.contract_pages import ContractServer, serve
from tests.prolific.test_client import work
from turkops.prolific.shapes import draft_study, study_url
from turkops.prolific_sim import RunningSimulator, SimFaults
from turkops.prolific_sim.pages import parse_page
from turkops.prolific_sim.participants import (
    CrowdConfig,
    Participant,
    SimulatedCrowd,
    take_study,
)

TASKS = [
    ('dog & "cat" <b>', ["img/1.png", "img/2.png", "img/3.png"]),
    ("red", ["img/4.png", "img/5.png"]),
]
TRUTH = {  # (image, concept) -> present, as load_truth returns it
    ("img/1.png", 'dog & "cat" <b>'): True,
    ("img/2.png", 'dog & "cat" <b>'): False,
    ("img/3.png", 'dog & "cat" <b>'): True,
    ("img/4.png", "red"): False,
    ("img/5.png", "red"): True,
}


def publish(sim: RunningSimulator, base: str, places: int) -> str:
    body = draft_study(work(external_url=study_url(base, "s"), places=places, reward=Decimal("1")))
    study = sim.state.create_study(body)
    sim.state.transition_study(study["id"], "PUBLISH")
    return str(study["id"])


def test_parser_reads_escaped_concepts_and_hidden_fields() -> None:
    page = parse_page(
        '<b id="concept">dog &amp; &quot;cat&quot;\n &lt;b&gt;</b><form id="task_form" '
        'action="/x"><input type="hidden" name="t" value="a&amp;b">'
        '<input type="checkbox" name="c" value="1"><img data-image="img/&lt;1&gt;.png"></form>'
    )
    assert page.concept == 'dog & "cat" <b>'
    assert page.forms["task_form"].fields == {"t": "a&b"}
    assert page.images == ["img/<1>.png"]


def test_a_careful_participant_answers_the_truth_and_reports_the_code(
    sim: RunningSimulator,
) -> None:
    with serve(ContractServer(TASKS)) as server:
        study_id = publish(sim, server.url, 1)
        person = Participant("a" * 24, error_rate=0.0, spammer=False)
        config = CrowdConfig(truth=TRUTH, return_rate=0, timeout_rate=0)
        status = take_study(sim.state, study_id, person, config, random.Random(1))
    assert status == "AWAITING REVIEW"
    (sub,) = sim.state.study_submissions(study_id)
    assert sub["study_code"] == server.code and sub["participant_id"] == person.pid
    assert server.consents == [person.pid]
    assert [(n, v) for _, n, _, v in server.answers] == [(0, [1, 0, 1]), (1, [0, 1])]


def test_duplicate_submits_are_sent_and_participants_return_or_time_out(
    sim: RunningSimulator,
) -> None:
    sim.state.faults = SimFaults(duplicate_submits=1.0)
    with serve(ContractServer(TASKS)) as server:
        study_id = publish(sim, server.url, 6)
        crowd = SimulatedCrowd(
            sim.state,
            CrowdConfig(
                n_participants=6,
                truth=TRUTH,
                return_rate=0.3,
                timeout_rate=0.2,
                concurrency=3,
                seed=4,
            ),
        )
        crowd.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            subs = sim.state.study_submissions(study_id)
            if len(subs) == 6 and all(s["status"] != "ACTIVE" for s in subs):
                break
            time.sleep(0.1)
        crowd.stop()
    statuses = sorted(s["status"] for s in sim.state.study_submissions(study_id))
    assert len(statuses) == 6 and "ACTIVE" not in statuses
    finished = [
        s for s in sim.state.study_submissions(study_id) if s["status"] == "AWAITING REVIEW"
    ]
    assert all(s["study_code"] == server.code for s in finished)
    # Every finished participant's pages were recorded once, despite the double posts.
    for s in finished:
        assert [n for pid, n, _, _ in server.answers if pid == s["participant_id"]] == [0, 1]


def test_blocked_participants_never_join(sim: RunningSimulator) -> None:
    with serve(ContractServer(TASKS)) as server:
        crowd = SimulatedCrowd(
            sim.state, CrowdConfig(n_participants=3, seed=2, return_rate=0, timeout_rate=0)
        )
        blocked = crowd.people[0].pid
        body = draft_study(
            work(
                external_url=study_url(server.url, "s"),
                places=3,
                reward=Decimal("1"),
                blocked_workers=(blocked,),
            )
        )
        study = sim.state.create_study(body)
        sim.state.transition_study(study["id"], "PUBLISH")
        crowd.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            subs = sim.state.study_submissions(study["id"])
            if len(subs) == 2 and all(s["status"] != "ACTIVE" for s in subs):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        crowd.stop()
    pids = {s["participant_id"] for s in sim.state.study_submissions(study["id"])}
    assert len(pids) == 2 and blocked not in pids
