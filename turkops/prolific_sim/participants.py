"""Simulated Prolific participants who take a study on the real turkops task server.

Each one joins a study (a submission, ACTIVE), opens its external URL with the three
placeholders filled, reads and submits the consent form and each task form over HTTP
(one httpx.Client with cookies, like a browser), answers from the truth with its own error
rate (spammers at random), sometimes returns or times out mid-session, and finally reads the
completion redirect's Location and reports the code, as a person pasting it would.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from turkops.prolific_sim.pages import Page, parse_page
from turkops.prolific_sim.state import SimState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CrowdConfig:
    n_participants: int = 50
    error_rate: float = 0.23
    spammer_share: float = 0.1
    return_rate: float = 0.05  # per session: gives up part-way and returns the study
    timeout_rate: float = 0.03  # per session: stops answering and times out
    concurrency: int = 8
    pace_seconds: float = 0.0  # mean seconds per task page
    seed: int | None = None
    truth: Mapping[tuple[str, str], bool] | None = None


@dataclass
class Participant:
    pid: str
    error_rate: float
    spammer: bool
    done: set[str] = field(default_factory=set)  # studies taken (a participant takes one once)


def make_participants(config: CrowdConfig, rng: random.Random) -> list[Participant]:
    people = []
    for _ in range(config.n_participants):
        spammer = rng.random() < config.spammer_share
        rate = min(0.5, max(0.0, rng.gauss(config.error_rate, 0.05)))
        people.append(Participant(f"{rng.getrandbits(96):024x}", rate, spammer))
    return people


def fill_url(url: str, pid: str, study_id: str, session_id: str) -> str:
    return (
        url.replace("{{%PROLIFIC_PID%}}", pid)
        .replace("{{%STUDY_ID%}}", study_id)
        .replace("{{%SESSION_ID%}}", session_id)
    )


def take_study(
    state: SimState,
    study_id: str,
    person: Participant,
    config: CrowdConfig,
    rng: random.Random,
    stop: threading.Event | None = None,
) -> str:
    """One participant's whole visit; returns the submission's final status."""
    sub = state.start_submission(study_id, person.pid)
    if sub is None:
        return "NO PLACE"
    person.done.add(study_id)
    url = fill_url(state.study(study_id)["external_study_url"], person.pid, study_id, sub["id"])
    leaves_at = None
    if rng.random() < config.return_rate + config.timeout_rate:
        leaves_at = rng.randint(0, 5)  # after this many task pages
    gives_up = (
        "RETURNED"
        if rng.random() * (config.return_rate + config.timeout_rate) < config.return_rate
        else "TIMED-OUT"
    )
    status, code = "RETURNED", None
    try:
        with httpx.Client(follow_redirects=False, timeout=60.0) as http:
            status, code = _visit(
                http,
                url,
                person,
                config,
                rng,
                leaves_at,
                gives_up,
                stop,
                state.faults.duplicate_submits,
            )
    except httpx.HTTPError as exc:
        log.info("participant %s: %s", person.pid, type(exc).__name__)
        status = "RETURNED"
    state.finish_submission(sub["id"], status, code)
    return status


def _visit(
    http: httpx.Client,
    url: str,
    person: Participant,
    config: CrowdConfig,
    rng: random.Random,
    leaves_at: int | None,
    gives_up: str,
    stop: threading.Event | None,
    duplicate_rate: float,
) -> tuple[str, str | None]:
    resp = http.get(url)
    pages = 0
    while True:
        if stop is not None and stop.is_set():
            return "RETURNED", None
        if resp.status_code in (301, 302, 303, 307, 308):
            location = urljoin(str(resp.url), resp.headers.get("location", ""))
            code = _completion_code(location)
            if code is not None:
                return "AWAITING REVIEW", code  # Prolific reads the code from this URL
            resp = http.get(location)
            continue
        if resp.status_code != 200:
            return "RETURNED", None
        page = parse_page(resp.text)
        if "consent_form" in page.forms:
            form = page.forms["consent_form"]
            data = dict(form.fields)
            data["consent"] = "yes"
            resp = http.post(urljoin(str(resp.url), form.action), data=data)
            continue
        if "task_form" in page.forms:
            if leaves_at is not None and pages >= leaves_at:
                return gives_up, None
            form = page.forms["task_form"]
            data = dict(form.fields)
            for k, image in enumerate(page.images):
                data[f"item_{k}"] = "1" if _answer(person, page, image, config, rng) else "0"
            if config.pace_seconds:
                time.sleep(rng.expovariate(1 / config.pace_seconds))
            target = urljoin(str(resp.url), form.action)
            if rng.random() < duplicate_rate:
                http.post(target, data=data)  # a double click: the server must not count it twice
            resp = http.post(target, data=data)
            pages += 1
            continue
        for link in page.links:  # "no tasks left" page with the completion link
            code = _completion_code(urljoin(str(resp.url), link))
            if code is not None:
                return "AWAITING REVIEW", code
        return "RETURNED", None


def _completion_code(location: str) -> str | None:
    parts = urlsplit(location)
    if not parts.path.rstrip("/").endswith("/submissions/complete"):
        return None
    codes = parse_qs(parts.query).get("cc")
    return codes[0] if codes else None


def _answer(
    person: Participant, page: Page, image: str, config: CrowdConfig, rng: random.Random
) -> bool:
    if person.spammer or config.truth is None:
        return rng.random() < 0.5
    truth = config.truth.get((image, page.concept))
    if truth is None:
        return rng.random() < 0.5
    return (not truth) if rng.random() < person.error_rate else truth


class SimulatedCrowd:
    """Participants taking every active study that has free places, `concurrency` at once."""

    def __init__(self, state: SimState, config: CrowdConfig) -> None:
        self.state = state
        self.config = config
        self.rng = random.Random(config.seed)
        self.people = make_participants(config, self.rng)
        self.stop_event = threading.Event()
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="prolific-crowd")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=30)

    def _eligible(self, study: dict[str, Any]) -> list[Participant]:
        blocked: set[str] = set()
        for f in study.get("filters") or []:
            if isinstance(f, dict) and f.get("filter_id") == "custom_blocklist":
                blocked |= set(f.get("selected_values") or [])
        sid = str(study["id"])
        with self._lock:
            return [
                p
                for p in self.people
                if sid not in p.done and p.pid not in blocked and p.pid not in self._busy
            ]

    def _run(self) -> None:
        with ThreadPoolExecutor(self.config.concurrency) as pool:
            while not self.stop_event.is_set():
                started = 0
                with self.state.lock:
                    active = [
                        dict(s) for s in self.state.studies.values() if s["status"] == "ACTIVE"
                    ]
                for study in active:
                    free = self._free_places(str(study["id"]))
                    running = len(self._busy)
                    for person in self._eligible(study)[
                        : max(0, min(free, self.config.concurrency - running))
                    ]:
                        with self._lock:
                            self._busy.add(person.pid)
                        seed = self.rng.getrandbits(32)
                        pool.submit(self._one, str(study["id"]), person, seed)
                        started += 1
                if not started:
                    self.stop_event.wait(0.2)

    def _free_places(self, study_id: str) -> int:
        with self.state.lock:
            study = self.state.studies[study_id]
            taken = sum(
                1
                for s in self.state.submissions.values()
                if s["study_id"] == study_id
                and s["status"] not in ("RETURNED", "TIMED-OUT", "REJECTED")
            )
            return int(study["total_available_places"]) - taken

    def _one(self, study_id: str, person: Participant, seed: int) -> None:
        try:
            take_study(
                self.state, study_id, person, self.config, random.Random(seed), self.stop_event
            )
        except Exception:  # a simulated person must never kill the crowd
            log.exception("participant %s failed", person.pid)
        finally:
            with self._lock:
                self._busy.discard(person.pid)
