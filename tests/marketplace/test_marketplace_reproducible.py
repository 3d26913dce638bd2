"""Issue 10 item 19: one seed, the same crowd answers, whatever the thread timing.

Who takes a HIT and what each rater answers depend on the seed, the HIT's question and the
worker only: not on how many HITs the crowd thread happened to see in one step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tests.marketplace.helpers import (
    CONCEPT,
    IMAGES,
    base_config,
    html_question,
    make_client,
    new_hit,
    new_hit_type,
    task_page,
    wait_for,
)
from turkops.marketplace import start_marketplace

N_HITS = 6
RATERS = 3


def _questions() -> list[str]:
    return [
        html_question(task_page(CONCEPT, IMAGES[k:] + IMAGES[:k])) for k in range(N_HITS)
    ]


def _answers(client: Any, hit_ids: list[str]) -> set[tuple[int, str, str]]:
    out = set()
    for index, hit_id in enumerate(hit_ids):
        for a in client.list_assignments_for_hit(HITId=hit_id)["Assignments"]:
            out.add((index, a["WorkerId"], a["Answer"]))
    return out


def _submitted(market: Any) -> int:
    return int(
        market.ctx.store.query("SELECT COUNT(*) FROM assignments WHERE status='Submitted'")[0][0]
    )


def test_same_seed_same_answers_whatever_the_timing(tmp_path: Path) -> None:
    config = dataclasses.replace(
        base_config(tmp_path), n_workers=8, error_rate=0.3, pace_seconds=0.0
    )
    # All HITs exist before the crowd starts: one crowd step sees all of them.
    with start_marketplace(
        dataclasses.replace(config, db_path=tmp_path / "a.sqlite")
    ) as first:
        first.pause_workers()
        client = make_client(first.url)
        type_id = new_hit_type(client)
        hits_a = [new_hit(client, type_id, RATERS, q)["HITId"] for q in _questions()]
        first.resume_workers()
        wait_for(lambda: _submitted(first) == N_HITS * RATERS)
        answers_a = _answers(client, hits_a)
    # One HIT at a time, each finished before the next exists.
    with start_marketplace(
        dataclasses.replace(config, db_path=tmp_path / "b.sqlite")
    ) as second:
        client = make_client(second.url)
        type_id = new_hit_type(client)
        hits_b = []
        for n, q in enumerate(_questions(), start=1):
            hits_b.append(new_hit(client, type_id, RATERS, q)["HITId"])
            wait_for(lambda n=n: _submitted(second) == n * RATERS)  # type: ignore[misc]
        answers_b = _answers(client, hits_b)
    assert len(answers_a) == N_HITS * RATERS
    assert answers_a == answers_b
