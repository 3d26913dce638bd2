"""Prolific-style studies built as P1's launch builds them, and a participant that reads HTML.

`make_prolific_study` does what `launch` does on Prolific (the P1/P2 contract): pack the
samples into tasks exactly as for MTurk, one HitType whose params carry the session settings,
Hit rows with a local hit_id and status Assignable, provider='prolific'.
`Participant` is a person without a browser: it reads the real pages with html.parser,
posts every hidden input of the real forms, and follows the redirects itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import numpy as np
from sqlalchemy import select

from tests.conftest import write_study_files
from turkops.db.models import Hit, HitItem, HitType, Pair, Sample
from turkops.domain import SamplingStrategy, StudyStatus
from turkops.mturk.tasks import SampleItem, pack_tasks, request_token

# Tests read pages exactly as the simulated Prolific participants do: one parser for both.
from turkops.prolific_sim.pages import Page as ParsedPage
from turkops.prolific_sim.pages import parse_page
from turkops.services.sampling import sample_study
from turkops.services.studies import create_study
from turkops.wiring import Runtime

COMPLETE = "https://app.prolific.com/submissions/complete"


def make_prolific_study(
    rt: Runtime,
    folder: Path,
    name: str = "ps",
    raters: int = 2,
    images_per_task: int = 5,
    per_pair: int = 20,
    tasks_per_session: int = 3,
    check_rate: float = 0.0,
    lease_seconds: int = 900,
    n_inputs: int = 30,
    n_neurons: int = 4,
    explanations: str | None = None,
    concepts: tuple[str, ...] = ("red", "dog", "cat"),
    probs: np.ndarray | None = None,
) -> int:
    """Create, sample and 'launch' a Prolific study; returns its number of tasks."""
    kwargs: dict[str, object] = {"n_inputs": n_inputs, "n_neurons": n_neurons, "concepts": concepts}
    if explanations is not None:
        kwargs["explanations"] = explanations
    files = write_study_files(folder, **kwargs)  # type: ignore[arg-type]
    if probs is not None:
        np.savez(files["scores"], concepts=np.array(concepts), probs=probs)
    create_study(
        rt, name, files["inputs"], files["activations"], files["explanations"], files["scores"]
    )
    sample_study(rt, name, per_pair, SamplingStrategy.MG_IS, 0.2, seed=3)
    with rt.transaction() as repo:
        study = repo.study(name)
        study.provider = "prolific"
        params = {
            "tasks_per_session": tasks_per_session,
            "completion_code": "C0MPL3TE",
            "failed_check_code": "FAILED_ATTENTION_CHECK",
            "check_rate": check_rate,
            "lease_seconds": lease_seconds,
        }
        ht = HitType(
            study_id=study.id,
            params_hash=hashlib.sha256(json.dumps(params).encode()).hexdigest(),
            hit_type_id=f"prolific-{study.id}",
            reward=Decimal("0.05"),
            params=params,
        )
        repo.session.add(ht)
        repo.session.flush()
        rows = repo.session.execute(
            select(Sample.id, Pair.concept).join(Pair).where(Pair.study_id == study.id)
        ).all()
        tasks = pack_tasks(
            [SampleItem(int(s), c) for s, c in rows],
            images_per_task,
            np.random.default_rng([study.sample_seed or 0, 7919]),
        )
        for task in tasks:
            hit = Hit(
                study_id=study.id,
                hit_type_row_id=ht.id,
                task_index=task.index,
                unique_request_token=request_token(name, task),
                hit_id=f"T{study.id}-{task.index}",
                concept=task.concept,
                status="Assignable",
                max_assignments=raters,
                reward=Decimal("0.05"),
            )
            repo.session.add(hit)
            repo.session.flush()
            repo.session.add_all(
                HitItem(hit_row_id=hit.id, position=p, sample_id=s)
                for p, s in enumerate(task.sample_ids)
            )
        study.status = StudyStatus.LAUNCHED
        return len(tasks)


Answer = Callable[[str, list[str]], list[int]]


@dataclass
class SessionResult:
    pages: int
    completion_url: str | None
    code: str | None
    status: int


class Participant:
    """One participant with its own cookie jar, reading forms from the HTML it is served."""

    def __init__(self, base_url: str, pid: str, timeout: float = 60.0) -> None:
        self.base_url = base_url
        self.pid = pid
        self.client = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False)
        self.page: ParsedPage | None = None
        self.url: str = ""

    def close(self) -> None:
        self.client.close()

    def arrive(self, study: str) -> httpx.Response:
        r = self.client.get(
            f"/p/{study}",
            params={"PROLIFIC_PID": self.pid, "STUDY_ID": "S1", "SESSION_ID": f"sess-{self.pid}"},
        )
        self._read(r, f"/p/{study}")
        return r

    def _read(self, r: httpx.Response, url: str) -> None:
        self.url = url
        self.page = (
            parse_page(r.text)
            if r.headers.get("content-type", "").startswith("text/html")
            else None
        )

    def post_form(self, form_id: str, extra: dict[str, str]) -> httpx.Response:
        assert self.page is not None and form_id in self.page.forms, form_id
        form = self.page.forms[form_id]
        data = {**form.fields, **extra}
        return self.client.post(urljoin(self.url, form.action), data=data)

    def follow(self, r: httpx.Response) -> httpx.Response:
        """Follow our own server's 303s; stop at an external (completion) URL."""
        while r.status_code in (302, 303) and r.headers["location"].startswith("/"):
            loc = r.headers["location"]
            r = self.client.get(loc)
            self._read(r, loc)
        return r

    def consent(self) -> httpx.Response:
        return self.follow(self.post_form("consent_form", {"consent": "yes"}))

    def answer_page(self, answer: Answer) -> httpx.Response:
        assert self.page is not None and self.page.concept is not None
        values = answer(self.page.concept, self.page.images)
        return self.follow(
            self.post_form("task_form", {f"item_{k}": str(v) for k, v in enumerate(values)})
        )

    def run(self, study: str, answer: Answer, max_pages: int | None = None) -> SessionResult:
        r = self.follow(self.arrive(study))
        if self.page and "consent_form" in self.page.forms:
            r = self.consent()
        pages = 0
        while r.status_code == 200 and self.page and "task_form" in self.page.forms:
            if max_pages is not None and pages >= max_pages:
                return SessionResult(pages, None, None, r.status_code)
            r = self.answer_page(answer)
            pages += 1
        if r.status_code == 303:
            loc = r.headers["location"]
            code = parse_qs(urlsplit(loc).query).get("cc", [None])[0]
            return SessionResult(pages, loc, code, 303)
        return SessionResult(pages, None, None, r.status_code)


def none_selected(concept: str, images: list[str]) -> list[int]:
    return [0] * len(images)
