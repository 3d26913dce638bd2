"""Simulated raters: they read the task page and answer from the truth with their error rate."""

from __future__ import annotations

import random
import statistics
import xml.etree.ElementTree as ET
from typing import Any

from tests.marketplace.helpers import (
    CONCEPT,
    IMAGES,
    TRUTH,
    admin,
    html_question,
    make_client,
    new_hit,
    new_hit_type,
    task_page,
    wait_for,
)
from turkops.marketplace import ANSWER_NAMESPACE, RunningMarketplace, read_task_form
from turkops.marketplace.answers import build_answer_xml
from turkops.marketplace.taskpage import html_from_question, submitted_fields
from turkops.marketplace.workers import SimulatedWorker, answer_task, make_workers

NS = {"q": ANSWER_NAMESPACE}


def parse_answer(xml: str) -> dict[str, str]:
    root = ET.fromstring(xml)
    return {
        a.findtext("q:QuestionIdentifier", namespaces=NS) or "": a.findtext(
            "q:FreeText", default="", namespaces=NS
        )
        for a in root.findall("q:Answer", NS)
    }


def collect(client: Any, hit_ids: list[str], per_hit: int) -> list[dict[str, Any]]:
    def done() -> bool:
        return all(client.get_hit(HITId=h)["HIT"]["HITStatus"] == "Reviewable" for h in hit_ids)

    wait_for(done, timeout=30)
    out = []
    for hit_id in hit_ids:
        pages = client.get_paginator("list_assignments_for_hit").paginate(HITId=hit_id)
        assignments = [a for p in pages for a in p["Assignments"]]
        assert len(assignments) == per_hit
        assert len({a["WorkerId"] for a in assignments}) == per_hit  # one per worker per HIT
        out.extend(assignments)
    return out


def error_rate(assignments: list[dict[str, Any]], images: tuple[str, ...]) -> float:
    wrong = total = 0
    for a in assignments:
        answer = parse_answer(a["Answer"])
        assert answer["consent"] == "yes"
        for k, image in enumerate(images):
            wrong += (answer[f"item_{k}"] == "1") != TRUTH[(image, CONCEPT)]
            total += 1
    return wrong / total


def test_task_form_is_read_from_the_page() -> None:
    html = html_from_question(html_question(task_page("hot dog & bun", IMAGES[:3])))
    assert html is not None
    form = read_task_form(html)
    assert form is not None
    assert form.concept == "hot dog & bun"
    assert dict(form.images) == {0: "img/0.png", 1: "img/1.png", 2: "img/2.png"}
    assert form.item_indices() == [0, 1, 2]
    fields = submitted_fields(form, {"item_1": "1"}, tick={"consent"})
    assert fields == [("consent", "yes"), ("item_0", "0"), ("item_1", "1"), ("item_2", "0")]
    assert read_task_form("<html><form id='other'></form></html>") is None


def test_answer_xml_is_mturk_question_form_answers() -> None:
    xml = build_answer_xml(
        [("consent", "yes"), ("note", "café <b> & ü"), ("tag", "a"), ("tag", "b")]
    )
    assert xml.startswith('<?xml version="1.0" encoding="ASCII"?>')
    assert xml.isascii()
    assert parse_answer(xml) == {"consent": "yes", "note": "café <b> & ü", "tag": "a|b"}


def test_a_perfect_worker_answers_the_truth() -> None:
    html = html_from_question(html_question(task_page(CONCEPT, IMAGES)))
    form = read_task_form(html or "")
    assert form is not None
    fields = dict(answer_task(form, SimulatedWorker("A1", 0.0, False), TRUTH, random.Random(0)))
    assert fields == {"consent": "yes"} | {
        f"item_{k}": "1" if k % 2 == 0 else "0" for k in range(len(IMAGES))
    }


def test_workers_answer_with_their_error_rate(start: Any) -> None:
    m: RunningMarketplace = start(error_rate=0.2, n_workers=20, seed=11)
    client = make_client(m.url)
    type_id = new_hit_type(client)
    hit_ids = [new_hit(client, type_id)["HITId"] for _ in range(40)]
    assignments = collect(client, hit_ids, 3)
    # 1800 answers: standard error ~0.0094, so +-0.04 is > 4 standard errors.
    assert abs(error_rate(assignments, IMAGES) - 0.2) < 0.04


def test_spammers_answer_at_random(start: Any) -> None:
    m: RunningMarketplace = start(error_rate=0.1, n_workers=10, spammer_share=0.5, seed=5)
    client = make_client(m.url)
    workers = admin(m.url, "workers")["workers"]
    spammers = {w["worker_id"] for w in workers if w["spammer"]}
    assert len(spammers) == 5
    type_id = new_hit_type(client)
    hit_ids = [new_hit(client, type_id, max_assignments=5)["HITId"] for _ in range(40)]
    assignments = collect(client, hit_ids, 5)
    by_spammers = [a for a in assignments if a["WorkerId"] in spammers]
    by_others = [a for a in assignments if a["WorkerId"] not in spammers]
    assert abs(error_rate(by_spammers, IMAGES) - 0.5) < 0.06
    assert abs(error_rate(by_others, IMAGES) - 0.1) < 0.04


def test_without_truth_workers_answer_at_random(start: Any) -> None:
    m: RunningMarketplace = start(truth=None, seed=3)
    client = make_client(m.url)
    type_id = new_hit_type(client)
    hit_ids = [new_hit(client, type_id)["HITId"] for _ in range(20)]
    answers = [parse_answer(a["Answer"]) for a in collect(client, hit_ids, 3)]
    ones = [v == "1" for a in answers for k, v in a.items() if k.startswith("item_")]
    assert len(ones) == 900
    assert abs(sum(ones) / len(ones) - 0.5) < 0.06


def test_hits_without_a_task_form_are_left_alone(market: RunningMarketplace, client: Any) -> None:
    type_id = new_hit_type(client)
    plain = new_hit(client, type_id, question=html_question("<p>no form here</p>"))["HITId"]
    normal = new_hit(client, type_id)["HITId"]
    collect(client, [normal], 3)
    assert client.get_hit(HITId=plain)["HIT"]["NumberOfAssignmentsAvailable"] == 3


def test_beta_distributed_error_rates() -> None:
    workers = make_workers(2000, 0.23, 0.0, 20.0, random.Random(1))
    rates = [w.error_rate for w in workers]
    assert abs(statistics.fmean(rates) - 0.23) < 0.01
    assert 0.05 < statistics.stdev(rates) < 0.15
    assert len({w.worker_id for w in workers}) == 2000
    assert all(len(w.worker_id) == 14 and w.worker_id.startswith("A") for w in workers)


def test_pace_spreads_work_over_time(start: Any) -> None:
    m: RunningMarketplace = start(pace_seconds=60.0, n_workers=4)
    client = make_client(m.url)
    type_id = new_hit_type(client)  # assignments last at most 600 s
    hit_ids = [new_hit(client, type_id, max_assignments=2)["HITId"] for _ in range(3)]

    def work() -> dict[str, int]:
        counts: dict[str, int] = admin(m.url, "stats")["assignments"]
        return counts

    # Each worker holds one assignment at a time and needs ~60 s (exponential) for it.
    wait_for(lambda: work().get("Accepted", 0) == 4)
    assert work().get("Submitted", 0) == 0
    admin(m.url, "advance_clock", {"seconds": 590})
    wait_for(lambda: work().get("Submitted", 0) == 4 and work().get("Accepted", 0) == 2)
    admin(m.url, "advance_clock", {"seconds": 590})
    wait_for(lambda: work().get("Submitted", 0) == 6)
    assert {client.get_hit(HITId=h)["HIT"]["HITStatus"] for h in hit_ids} == {"Reviewable"}
