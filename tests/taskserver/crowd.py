"""Many participants at once (asyncio + httpx), reading the real forms; for load tests.

Each participant keeps a record of what the server acknowledged (a 303 after a post), so a
test can check that every acknowledged answer is stored exactly once.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.taskserver.helpers import ParsedPage, parse_page


@dataclass
class Record:
    pid: str
    acknowledged: dict[str, list[int]] = field(default_factory=dict)  # task key -> answers
    code: str | None = None
    outcome: str = "running"  # completed | full | abandoned | error:...
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (get|post, seconds)


async def _request(
    client: httpx.AsyncClient, rec: Record, method: str, url: str, **kw: object
) -> httpx.Response:
    t0 = time.perf_counter()
    r = await client.request(method, url, **kw)  # type: ignore[arg-type]
    rec.latencies.append((method.lower(), time.perf_counter() - t0))
    return r


async def participant(
    base_url: str,
    study: str,
    pid: str,
    abandon_after: int | None = None,
    rng: random.Random | None = None,
    timeout: float = 120.0,
) -> Record:
    """Arrive, consent, answer pages (random 0/1 each image), follow redirects to the end."""
    rng = rng or random.Random(pid)
    rec = Record(pid)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as client:
        try:
            url = f"/p/{study}"
            r = await _request(
                client,
                rec,
                "GET",
                url,
                params={"PROLIFIC_PID": pid, "STUDY_ID": "S", "SESSION_ID": f"x{pid}"},
            )
            page = parse_page(r.text)
            pages = 0
            while True:
                if r.status_code == 303:
                    loc = r.headers["location"]
                    if not loc.startswith("/"):
                        rec.code = parse_qs(urlsplit(loc).query).get("cc", [None])[0]
                        rec.outcome = "completed"
                        return rec
                    url = loc
                    r = await _request(client, rec, "GET", url)
                    page = parse_page(r.text)
                    continue
                if r.status_code != 200:
                    rec.outcome = f"error:{r.status_code}"
                    return rec
                if "consent_form" in page.forms:
                    r = await _post(client, rec, url, page, "consent_form", {"consent": "yes"})
                    continue
                if "task_form" not in page.forms:
                    rec.outcome = "full" if "No tasks left" in r.text else "error:page"
                    return rec
                if abandon_after is not None and pages >= abandon_after:
                    rec.outcome = "abandoned"
                    return rec
                answers = [rng.randint(0, 1) for _ in page.images]
                key = page.forms["task_form"].fields["task"]
                r = await _post(
                    client,
                    rec,
                    url,
                    page,
                    "task_form",
                    {f"item_{k}": str(v) for k, v in enumerate(answers)},
                )
                if r.status_code == 303 and key.startswith("h"):
                    rec.acknowledged[key] = answers
                pages += 1
        except httpx.HTTPError as exc:
            rec.outcome = f"error:{type(exc).__name__}"
            return rec


async def _post(
    client: httpx.AsyncClient,
    rec: Record,
    url: str,
    page: ParsedPage,
    form_id: str,
    extra: dict[str, str],
) -> httpx.Response:
    form = page.forms[form_id]
    return await _request(
        client, rec, "POST", urljoin(url, form.action), data={**form.fields, **extra}
    )


async def crowd(
    base_url: str,
    study: str,
    n: int,
    concurrency: int,
    abandon_share: float = 0.0,
    prefix: str = "P",
    seed: int = 0,
) -> list[Record]:
    """n participants, at most `concurrency` at once; a share of them walk away after 1 page."""
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)

    async def one(k: int) -> Record:
        abandon = 1 if rng.random() < abandon_share else None
        async with gate:
            return await participant(base_url, study, f"{prefix}{k:05d}", abandon)

    return list(await asyncio.gather(*(one(k) for k in range(n))))
