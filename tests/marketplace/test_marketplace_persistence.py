"""State survives a restart on the same SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.marketplace.helpers import (
    admin,
    base_config,
    make_client,
    new_hit,
    new_hit_type,
    wait_for,
)
from turkops.domain import InputError
from turkops.marketplace import start_marketplace


def test_restart_keeps_hits_assignments_balance_and_tokens(tmp_path: Path) -> None:
    with start_marketplace(base_config(tmp_path)) as first:
        client = make_client(first.url)
        type_id = new_hit_type(client)
        hit_id = new_hit(client, type_id, UniqueRequestToken="restart-1")["HITId"]
        wait_for(lambda: client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable")
        assignments = client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
        client.approve_assignment(AssignmentId=assignments[0]["AssignmentId"])
        balance = client.get_account_balance()["AvailableBalance"]
        workers = admin(first.url, "workers")["workers"]

    with start_marketplace(base_config(tmp_path, seed=None)) as second:
        client = make_client(second.url)
        assert client.get_account_balance()["AvailableBalance"] == balance
        assert client.get_hit(HITId=hit_id)["HIT"]["HITStatus"] == "Reviewable"
        again = client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
        assert [(a["AssignmentId"], a["WorkerId"], a["Answer"]) for a in again] == [
            (a["AssignmentId"], a["WorkerId"], a["Answer"]) for a in assignments
        ]
        assert [a["AssignmentStatus"] for a in again] == ["Approved", "Submitted", "Submitted"]
        with pytest.raises(client.exceptions.RequestError, match=hit_id):
            new_hit(client, type_id, UniqueRequestToken="restart-1")
        assert new_hit_type(client) == type_id
        # Without a seed the crowd keeps the seed the database was started with first.
        assert admin(second.url, "workers")["workers"] == workers


def test_clock_offset_survives_restart(tmp_path: Path) -> None:
    with start_marketplace(base_config(tmp_path)) as first:
        now = admin(first.url, "advance_clock", {"seconds": 86_400})["now"]
    with start_marketplace(base_config(tmp_path)) as second:
        assert admin(second.url, "stats")["clock"] >= now


def test_a_file_that_is_not_a_marketplace_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "marketplace.sqlite"
    bad.write_text("this is not sqlite")
    with pytest.raises(InputError, match="not a marketplace database"):
        start_marketplace(base_config(tmp_path))
