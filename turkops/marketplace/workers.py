"""Simulated raters: they take Assignable HITs, read the task page and answer from the truth.

A worker reads the HTMLQuestion's HTML with html.parser exactly as a person would see it
(concept text, each item's image reference, the form's fields); nothing else about the HIT
is visible to it. Per item it answers the truth flipped with its own error rate; spammers
and pairs missing from the truth get a fair coin.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from turkops.marketplace import assignments, qualifications
from turkops.marketplace.answers import build_answer_xml
from turkops.marketplace.store import Store
from turkops.marketplace.taskpage import (
    CONSENT_FIELD,
    ITEM_FIELD_PREFIX,
    TaskForm,
    html_from_question,
    read_task_form,
    submitted_fields,
)

log = logging.getLogger(__name__)

_WORKER_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ACCEPTS_PER_STEP = 150
_SUBMITS_PER_STEP = 300
_HITS_PER_STEP = 100
_FORM_CACHE_SIZE = 4096
HUGE_ANSWER_CHARS = 2_000_000


@dataclass(frozen=True, slots=True)
class SimulatedWorker:
    worker_id: str
    error_rate: float
    spammer: bool


def make_workers(
    n: int,
    error_rate: float,
    spammer_share: float,
    concentration: float | None,
    rng: random.Random,
) -> list[SimulatedWorker]:
    """n workers (ids 'A' + 13 uppercase alnum); round(n * spammer_share) of them spammers.

    Error rates are all `error_rate`, or Beta(error_rate*k, (1-error_rate)*k) draws for
    concentration k (mean error_rate).
    """
    ids: list[str] = []
    while len(ids) < n:
        wid = "A" + "".join(rng.choice(_WORKER_ID_ALPHABET) for _ in range(13))
        if wid not in ids:
            ids.append(wid)
    spammers = set(rng.sample(range(n), round(n * spammer_share)))
    out = []
    for i, wid in enumerate(ids):
        rate = error_rate
        if concentration is not None and 0.0 < error_rate < 1.0:
            rate = rng.betavariate(error_rate * concentration, (1 - error_rate) * concentration)
        out.append(SimulatedWorker(wid, rate, i in spammers))
    return out


def answer_task(
    form: TaskForm,
    worker: SimulatedWorker,
    truth: Mapping[tuple[str, str], bool],
    rng: random.Random,
) -> list[tuple[str, str]]:
    """The form fields the worker posts: consent ticked, item_k = 1 if it sees the concept."""
    values: dict[str, str] = {}
    for k in form.item_indices():
        image = form.images.get(k)
        present = None
        if image is not None and form.concept is not None:
            present = truth.get((image, form.concept))
        if worker.spammer or present is None:
            seen = rng.random() < 0.5
        else:
            seen = present if rng.random() >= worker.error_rate else not present
        values[f"{ITEM_FIELD_PREFIX}{k}"] = "1" if seen else "0"
    return submitted_fields(form, values, tick={CONSENT_FIELD})


def malformed_answer(fields: Sequence[tuple[str, str]], kind: str) -> str:
    """A broken Answer of the given kind (see faults.MALFORMED_KINDS)."""
    items = [i for i, (name, _) in enumerate(fields) if name.startswith(ITEM_FIELD_PREFIX)]
    broken = list(fields)
    if kind == "not_xml":
        return "<QuestionFormAnswers><Answer><QuestionIdentifier>item_0"
    if kind == "missing_field" and items:
        del broken[items[-1]]
    elif kind == "extra_field":
        broken.append(("unexpected_field", "surprise"))
    elif kind == "bad_value" and items:
        broken[items[0]] = (broken[items[0]][0], "yes")
    elif kind == "huge":
        broken.append(("comment", "x" * HUGE_ANSWER_CHARS))
    elif kind == "nul_byte":
        # build_answer_xml would replace the NUL; a raw one is what this fault is about.
        return build_answer_xml([*broken, ("comment", "NUL")]).replace(
            "<FreeText>NUL</FreeText>", "<FreeText>a\x00b</FreeText>"
        )
    return build_answer_xml(broken)


class SimulatedCrowd:
    """The background loop: submit what is due, accept new work, sleep when idle."""

    def __init__(
        self,
        store: Store,
        workers: Sequence[SimulatedWorker],
        truth: Mapping[tuple[str, str], bool],
        pace_seconds: float,
        rng: random.Random,
        next_malformed: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.store = store
        self.workers = {w.worker_id: w for w in workers}
        self.truth = truth
        self.pace_seconds = pace_seconds
        self.rng = rng  # only for pacing delays: timing is not reproducible anyway
        # Who takes a HIT and what they answer come from generators keyed by the HIT's content
        # and the worker, not from one shared stream: otherwise how many HITs a crowd step
        # happened to see (thread timing) changed every answer, and one seed gave different
        # results run to run.
        self._seed = rng.getrandbits(64)
        self.next_malformed = next_malformed
        self.paused = threading.Event()
        self._wake = threading.Event()
        self._forms: OrderedDict[str, tuple[TaskForm | None, str]] = OrderedDict()

    def wake(self) -> None:
        self._wake.set()

    def _load_forms(self, hit_ids: Sequence[str]) -> None:
        missing = [h for h in hit_ids if h not in self._forms]
        for hit_id, question in assignments.questions(self.store, missing).items():
            html = html_from_question(question)
            key = hashlib.sha256(question.encode("utf-8", "surrogatepass")).hexdigest()
            self._forms[hit_id] = (read_task_form(html) if html is not None else None, key)
        while len(self._forms) > _FORM_CACHE_SIZE:
            self._forms.popitem(last=False)

    def _form(self, hit_id: str) -> TaskForm | None:
        self._load_forms([hit_id])
        return self._forms.get(hit_id, (None, ""))[0]

    def _rng_for(self, purpose: str, hit_id: str, detail: str) -> random.Random:
        """A generator determined by the seed, the HIT's question text and `detail`."""
        self._load_forms([hit_id])
        key = self._forms.get(hit_id, (None, hit_id))[1]
        return random.Random(f"{self._seed}:{purpose}:{key}:{detail}")

    def _delay(self) -> float:
        return self.rng.expovariate(1.0 / self.pace_seconds) if self.pace_seconds > 0 else 0.0

    def accept_new(self) -> int:
        busy = assignments.busy_workers(self.store) if self.pace_seconds > 0 else set()
        free = [w for w in self.workers if w not in busy]
        hits = assignments.assignable_hits(self.store, _HITS_PER_STEP) if free else []
        if not hits:
            return 0
        self._load_forms([h for h, _ in hits])
        taken = assignments.workers_on(self.store, [h for h, _ in hits])
        # Blocked workers (a DoesNotExist qualification they hold) never take the HIT.
        for hit_id, blocked in qualifications.excluded_workers(
            self.store, [h for h, _ in hits]
        ).items():
            taken[hit_id] |= blocked
        now = self.store.clock.now()
        requests: list[tuple[str, str, float | None]] = []
        for hit_id, slots in hits:
            if self._form(hit_id) is None:
                continue  # no task form a worker could fill in: nobody takes it
            eligible = [w for w in free if w not in taken[hit_id]]
            pick = self._rng_for("accept", hit_id, str(len(taken[hit_id])))
            chosen = pick.sample(eligible, min(slots, len(eligible)))
            requests.extend((hit_id, w, now + self._delay()) for w in chosen)
            if self.pace_seconds > 0:
                free = [w for w in free if w not in chosen]
            if not free or len(requests) >= _ACCEPTS_PER_STEP:
                break
        return len(assignments.accept_batch(self.store, requests))

    def submit_due(self) -> int:
        items: list[tuple[str, str]] = []
        for a in assignments.due_submissions(self.store, _SUBMITS_PER_STEP):
            form, worker = self._form(a.hit_id), self.workers.get(a.worker_id)
            if form is None or worker is None:
                continue
            fields = answer_task(
                form, worker, self.truth, self._rng_for("answer", a.hit_id, a.worker_id)
            )
            kind = self.next_malformed()
            items.append(
                (
                    a.assignment_id,
                    malformed_answer(fields, kind) if kind else build_answer_xml(fields),
                )
            )
        return assignments.submit_batch(self.store, items) if items else 0

    def step(self) -> int:
        """One round of work; returns how many assignments were accepted or submitted."""
        if self.paused.is_set():
            return 0
        self.store.tick()
        done = self.submit_due() + self.accept_new()
        if self.pace_seconds == 0:
            done += self.submit_due()
        return done

    def _idle_seconds(self) -> float:
        if self.pace_seconds == 0:
            return 0.05
        due = assignments.next_due_time(self.store)
        if due is None:
            return 0.25
        return min(0.25, max(0.005, due - self.store.clock.now()))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                done = self.step()
            except Exception:  # keep the crowd alive; the failure is in the log
                log.exception("simulated crowd step failed")
                done = 0
            if not done:
                self._wake.wait(self._idle_seconds())
                self._wake.clear()
