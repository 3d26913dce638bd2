"""Requester-owned qualification types on the local marketplace: enough of MTurk's
CreateQualificationType / ListQualificationTypes / AssociateQualificationWithWorker for
turkops' blocklist, and the rule simulated workers follow: a worker holding a qualification
that a HIT requires to be absent (Comparator DoesNotExist) never takes that HIT."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from turkops.marketplace.errors import request_error
from turkops.marketplace.store import Store

Body = dict[str, Any]


def _name(body: Body, key: str, max_len: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise request_error(f"{key} is required (at most {max_len} characters).")
    return value


def create_qualification_type(store: Store, body: Body) -> Body:
    name = _name(body, "Name", 256)
    description = _name(body, "Description", 2000)
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM qualification_types WHERE name=?", (name,)).fetchone():
            raise request_error(f"You have already created a QualificationType named {name}.")
        qid = "3" + secrets.token_hex(15).upper()[:29]
        conn.execute(
            "INSERT INTO qualification_types(qualification_type_id, name, description, created)"
            " VALUES (?, ?, ?, ?)",
            (qid, name, description, store.clock.now()),
        )
    return {"QualificationType": _type(qid, name, description)}


def list_qualification_types(store: Store, body: Body) -> Body:
    query = str(body.get("Query") or "").lower()
    rows = store.query(
        "SELECT qualification_type_id, name, description FROM qualification_types ORDER BY created"
    )
    found = [
        _type(r[0], r[1], r[2])
        for r in rows
        if query in str(r[1]).lower() or query in str(r[2]).lower()
    ]
    return {"NumResults": len(found), "QualificationTypes": found}


def associate_qualification_with_worker(store: Store, body: Body) -> Body:
    qid, worker = _name(body, "QualificationTypeId", 64), _name(body, "WorkerId", 64)
    with store.transaction() as conn:
        if not conn.execute(
            "SELECT 1 FROM qualification_types WHERE qualification_type_id=?", (qid,)
        ).fetchone():
            raise request_error(f"QualificationType {qid} does not exist.")
        conn.execute(
            "INSERT OR REPLACE INTO worker_qualifications(qualification_type_id, worker_id, "
            "value) VALUES (?, ?, ?)",
            (qid, worker, int(body.get("IntegerValue", 1))),
        )
    return {}


def excluded_workers(store: Store, hit_ids: Sequence[str]) -> dict[str, set[str]]:
    """hit_id -> workers who hold a qualification the HIT requires to be absent."""
    out: dict[str, set[str]] = {h: set() for h in hit_ids}
    if not hit_ids:
        return out
    marks = ",".join("?" * len(hit_ids))
    for hit_id, raw in store.query(
        f"SELECT hit_id, qualification_requirements FROM hits WHERE hit_id IN ({marks})",
        hit_ids,
    ):
        absent = [
            q["QualificationTypeId"]
            for q in json.loads(raw or "[]")
            if q.get("Comparator") == "DoesNotExist"
        ]
        if absent:
            qmarks = ",".join("?" * len(absent))
            out[hit_id] = {
                str(r[0])
                for r in store.query(
                    "SELECT worker_id FROM worker_qualifications "
                    f"WHERE qualification_type_id IN ({qmarks})",
                    absent,
                )
            }
    return out


def _type(qid: str, name: str, description: str) -> Body:
    return {
        "QualificationTypeId": qid,
        "Name": name,
        "Description": description,
        "QualificationTypeStatus": "Active",
        "IsRequestable": False,
        "AutoGranted": False,
    }
