"""The state machine and ledger directly: invariants under random operations, concurrency."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.marketplace.helpers import QUESTION, make_client, new_hit_type
from turkops.marketplace import ANSWER_NAMESPACE, RunningMarketplace, build_answer_xml, requester
from turkops.marketplace import assignments as work
from turkops.marketplace.assignments import WorkRefused
from turkops.marketplace.errors import MTurkError
from turkops.marketplace.requester import HitTypeProps
from turkops.marketplace.store import Store

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["create", "accept", "submit", "return", "approve", "reject", "override", "expire",
             "extend", "review", "delete", "time"]
        ),
        st.integers(0, 5),
    ),
    max_size=40,
)  # fmt: skip


def check_invariants(store: Store) -> None:
    b = store.balance()
    assert b.available + b.committed + b.spent == b.deposits
    assert b.available >= 0 and b.committed >= 0
    for h in store.query("SELECT * FROM hits"):
        counted = h["n_pending"] + h["n_submitted"] + h["n_approved"] + h["n_rejected"]
        assert counted + h["n_available"] <= h["max_assignments"]
        assert Decimal(h["committed"]) >= 0
        if h["status"] == "Disposed":
            assert Decimal(h["committed"]) == 0 and h["n_submitted"] == 0
    committed = sum(Decimal(h["committed"]) for h in store.query("SELECT committed FROM hits"))
    assert committed == b.committed


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_ledger_and_counts_stay_consistent(ops: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "m.sqlite")
        store.open_account(Decimal("1.00"))
        props = HitTypeProps("t", "d", None, Decimal("0.05"), 600, 3600, "[]")
        type_id = requester.create_hit_type(store, props)
        hits: list[str] = []
        workers = [f"AWORKER{i}" for i in range(4)]
        try:
            for op, k in ops:
                try:
                    apply(store, op, k, type_id, hits, workers)
                except (MTurkError, WorkRefused):
                    pass
                store.tick()
                check_invariants(store)
        finally:
            store.close()


def apply(store: Store, op: str, k: int, type_id: str, hits: list[str], workers: list[str]) -> None:
    def assignment(status: str) -> str:
        rows = store.query(
            "SELECT assignment_id FROM assignments WHERE status=? ORDER BY seq", (status,)
        )
        if not rows:
            raise WorkRefused("none")
        return str(rows[k % len(rows)][0])

    hit = hits[k % len(hits)] if hits else "NONE"
    if op == "create":
        hits.append(
            requester.create_hit(store, type_id, 1 + k % 3, 3600, QUESTION, None, None)["hit_id"]
        )
    elif op == "accept":
        work.accept(store, hit, workers[k % len(workers)])
    elif op == "submit":
        work.submit(store, assignment("Accepted"), "<x/>")
    elif op == "return":
        work.return_assignment(store, assignment("Accepted"))
    elif op == "approve":
        requester.approve(store, assignment("Submitted"), None, False)
    elif op == "reject":
        requester.reject(store, assignment("Submitted"), "no")
    elif op == "override":
        requester.approve(store, assignment("Rejected"), None, True)
    elif op == "expire":
        requester.update_expiration(store, hit, 0.0)
    elif op == "extend":
        requester.update_expiration(store, hit, store.clock.now() + 3600)
    elif op == "review":
        requester.set_reviewing(store, hit, revert=k % 2 == 1)
    elif op == "delete":
        requester.delete_hit(store, hit)
    elif op == "time":
        store.advance_clock(1000.0 * k)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),
            st.text(st.characters(codec="utf-8"), max_size=50),
        ),
        max_size=8,
    )
)
def test_answer_xml_round_trips(fields: list[tuple[str, str]]) -> None:
    xml = build_answer_xml(fields)
    assert xml.isascii()
    ns = {"q": ANSWER_NAMESPACE}
    root = ET.fromstring(xml)
    parsed = [
        (a.findtext("q:QuestionIdentifier", "", ns), a.findtext("q:FreeText", "", ns))
        for a in root.findall("q:Answer", ns)
    ]
    expected: dict[str, list[str]] = {}
    for name, value in fields:
        expected.setdefault(name, []).append(value)

    def xml_safe(text: str) -> str:
        # XML 1.0 cannot carry most control characters; \r is normalised to \n by parsers.
        out = "".join(
            c if c in "\t\n\r" or c >= " " and c not in "\ufffe\uffff" else "\ufffd" for c in text
        )
        return out.replace("\r\n", "\n").replace("\r", "\n")

    assert parsed == [(xml_safe(n), xml_safe("|".join(v))) for n, v in expected.items()]


def test_concurrent_creates_with_one_token_make_one_hit(paused: RunningMarketplace) -> None:
    type_id = new_hit_type(make_client(paused.url))
    outcomes: list[str] = []

    def create() -> None:
        client = make_client(paused.url)
        try:
            client.create_hit_with_hit_type(
                HITTypeId=type_id,
                LifetimeInSeconds=600,
                Question=QUESTION,
                UniqueRequestToken="same",
            )
            outcomes.append("created")
        except client.exceptions.RequestError as exc:
            outcomes.append(exc.response["TurkErrorCode"])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["AWS.MechanicalTurk.HitAlreadyExists"] * 7 + ["created"]
    assert len(make_client(paused.url).list_hits()["HITs"]) == 1


def test_marketplace_imports_only_the_stdlib_and_domain() -> None:
    code = (
        "import sys, turkops.marketplace;"
        "print([m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'boto3', 'botocore')"
        " or m.startswith(('turkops.db', 'turkops.mturk', 'turkops.services'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
