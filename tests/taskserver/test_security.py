"""Tokens, CSRF, Content-Security-Policy, body limit and escaping on the real server."""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.taskserver.helpers import Participant, make_prolific_study
from turkops.config import Settings
from turkops.db.models import Assignment
from turkops.taskserver.runner import RunningTaskServer, running_taskserver
from turkops.taskserver.security import (
    SECRET_FILE,
    load_secret,
    sign_session,
    verify_csrf,
    verify_session,
)
from turkops.wiring import Runtime

EVIL = "<script>alert(\"x\")</script> & 'q' </b>"
EVIL_PID = '"><img src=x onerror=alert(1)>'


def _started(server: RunningTaskServer, pid: str = "P1") -> Participant:
    p = Participant(server.url, pid)
    p.follow(p.arrive("ps"))
    p.consent()
    assert p.page is not None and "task_form" in p.page.forms
    return p


def _filled(p: Participant) -> dict[str, str]:
    assert p.page is not None
    fields = dict(p.page.forms["task_form"].fields)
    fields.update({f"item_{k}": "0" for k in range(len(p.page.images))})
    return fields


def _assert_csp(r: httpx.Response) -> None:
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'self' https://app.prolific.com" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_every_response_carries_the_policy(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    make_prolific_study(rt, tmp_path / "f")
    p = Participant(server.url, "CSP")
    responses = [p.arrive("ps")]
    responses.append(p.post_form("consent_form", {"consent": "yes"}))  # 303
    responses.append(p.follow(responses[-1]))  # task page
    c = p.client
    responses += [
        c.get("/healthz"),
        c.get("/static/session_task.js"),
        c.get("/static/task.css"),
        c.get("/static/nope.js"),  # 404
        c.get("/p/ps"),  # 400
        c.get("/s/1.forged"),  # 403
        c.post("/s/1.forged", content=b"x" * 70_000),  # 413
    ]
    assert [r.status_code for r in responses] == [200, 303, 200, 200, 200, 200, 404, 400, 403, 413]
    for r in responses:
        _assert_csp(r)
    for r in (responses[0], responses[2]):
        # Nothing inline that the policy would block: scripts and styles are files.
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)
        assert "<style" not in r.text and " style=" not in r.text
        assert not re.search(r"\son[a-z]+\s*=", r.text)  # no inline event handlers
        assert r.headers["cache-control"] == "no-store"
    assert '<script src="/static/session_task.js"></script>' in responses[2].text
    p.close()


def test_forged_or_foreign_tokens_are_refused(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    make_prolific_study(rt, tmp_path / "f")
    alice, mallory = _started(server, "ALICE"), _started(server, "MALLORY")
    a_action = alice.page.forms["task_form"].action  # type: ignore[union-attr]
    a_sid = a_action.split("/")[2].split(".")[0]
    m_sid, _, m_mac = mallory.page.forms["task_form"].action.split("/")[2].partition(".")  # type: ignore[union-attr]
    # Mallory puts Alice's session id into her own token: the signature no longer matches.
    r = mallory.client.post(f"/s/{a_sid}.{m_mac}", data=_filled(mallory))
    assert r.status_code == 403
    assert mallory.client.get(f"/s/{a_sid}.{m_mac}").status_code == 403
    # Mallory posts her own valid form to Alice's URL: token and CSRF do not belong there.
    r = mallory.client.post(a_action, data=_filled(mallory))
    assert r.status_code == 403
    # Alice's own form, sent from a client without Alice's cookie (a cross-site post).
    with httpx.Client(base_url=server.url) as outsider:
        assert outsider.post(a_action, data=_filled(alice)).status_code == 403
    # Alice's form without its CSRF field, and with a wrong one.
    fields = _filled(alice)
    del fields["csrf_token"]
    assert alice.client.post(a_action, data=fields).status_code == 403
    fields = _filled(alice)
    fields["csrf_token"] = _filled(mallory)["csrf_token"]
    assert alice.client.post(a_action, data=fields).status_code == 403
    with rt.transaction() as repo:
        assert repo.session.scalar(select(func.count(Assignment.id))) == 0
    assert alice.client.post(a_action, data=_filled(alice)).status_code == 303
    for x in (alice, mallory):
        x.close()


@pytest.mark.parametrize(
    "change",
    [
        {"item_0": "2"},
        {"item_0": "<script>alert(1)</script>"},
        {"item_0": ""},
        {"item_99": "1"},
        {"task": "h999999"},
        {"task": "x1"},
    ],
)
def test_malformed_answers_are_refused(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path, change: dict[str, str]
) -> None:
    make_prolific_study(rt, tmp_path / "f")
    p = _started(server)
    fields = _filled(p)
    fields.update(change)
    r = p.client.post(p.page.forms["task_form"].action, data=fields)  # type: ignore[union-attr]
    assert r.status_code == 400
    assert "<script>alert" not in r.text
    with rt.transaction() as repo:
        assert repo.session.scalar(select(func.count(Assignment.id))) == 0
    p.close()


def test_missing_answer_is_refused(rt: Runtime, server: RunningTaskServer, tmp_path: Path) -> None:
    make_prolific_study(rt, tmp_path / "f")
    p = _started(server)
    fields = _filled(p)
    del fields[f"item_{len(p.page.images) - 1}"]  # type: ignore[union-attr]
    r = p.client.post(p.page.forms["task_form"].action, data=fields)  # type: ignore[union-attr]
    assert r.status_code == 400
    p.close()


def test_body_limit_streamed_and_announced(rt: Runtime, server: RunningTaskServer) -> None:
    def chunks():  # no Content-Length: the server must count
        for _ in range(100):
            yield b"a" * 1024

    with httpx.Client(base_url=server.url) as c:
        assert c.post("/s/1.x", content=chunks()).status_code == 413
        assert c.post("/s/1.x", content=b"a" * 65_537).status_code == 413
        assert c.post("/s/1.x", data={"a": "b"}).status_code == 403  # small: reaches the route


def test_hostile_concept_and_participant_id_are_escaped(
    rt: Runtime, server: RunningTaskServer, tmp_path: Path
) -> None:
    quoted = '"' + EVIL.replace('"', '""') + '"'
    make_prolific_study(
        rt,
        tmp_path / "f",
        explanations=f"neuron,method,concept\n0,A,{quoted}\n1,A,{quoted}\n",
        concepts=(EVIL,),
    )
    p = Participant(server.url, EVIL_PID)
    r = p.arrive("ps")
    assert r.status_code == 200
    assert "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text
    r = p.consent()
    assert r.status_code == 200 and p.page is not None
    assert p.page.concept == EVIL  # what a reader sees is exactly the concept...
    assert "<script>alert" not in r.text  # ...and it is never markup
    assert r.text.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 2
    res = p.run("ps", lambda c, imgs: [1] * len(imgs))
    assert res.code == "C0MPL3TE"
    with rt.transaction() as repo:
        raws = repo.session.scalars(select(Assignment.answer_raw)).all()
    assert raws and all(set(re.findall(r'": "(.*?)"', a)) == {"1"} for a in raws)
    p.close()


def test_secret_key_generated_once_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = Settings(database_url="sqlite://", data_dir=tmp_path / "d", _env_file=None)  # type: ignore[call-arg]
    key = load_secret(s)
    path = tmp_path / "d" / SECRET_FILE
    assert len(key) >= 48 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret(s) == key  # persisted, so tokens survive a restart
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    assert key.decode() not in caplog.text
    explicit = Settings(
        database_url="sqlite://", data_dir=tmp_path / "d", secret_key="k" * 40, _env_file=None
    )  # type: ignore[call-arg]
    assert load_secret(explicit) == b"k" * 40
    assert "k" * 40 not in repr(explicit)


def test_tokens_and_csrf_unit() -> None:
    token = sign_session(b"secret", 42)
    assert verify_session(b"secret", token) == 42
    assert verify_session(b"other", token) is None
    sid, _, mac = token.partition(".")
    assert verify_session(b"secret", f"43.{mac}") is None
    for bad in ("", "42", "42.", ".x", "x.y", "-1." + mac, "9" * 40 + "." + mac):
        assert verify_session(b"secret", bad) is None
    assert not verify_csrf(b"secret", 42, None, "x")
    assert not verify_csrf(b"secret", 42, "cookie", None)


def test_restart_with_same_data_dir_keeps_tokens(rt: Runtime, tmp_path: Path) -> None:
    make_prolific_study(rt, tmp_path / "f")
    with running_taskserver(rt) as first:
        p = _started(first, "KEEPER")
        action = p.page.forms["task_form"].action  # type: ignore[union-attr]
        fields = _filled(p)
    with running_taskserver(rt) as second:
        p.client.base_url = httpx.URL(second.url)
        assert p.client.post(action, data=fields).status_code == 303
    p.close()
