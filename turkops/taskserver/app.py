"""The Starlette app: thin routes, each one service call (turkops.services.participation).

Routes:
  GET  /p/{study}?PROLIFIC_PID=&STUDY_ID=&SESSION_ID=   arrival: consent page
  POST /s/{token}/consent                              consent -> 303 first page
  GET  /s/{token}                                      the current page (task or check)
  POST /s/{token}                                      answers -> 303 next page or Prolific
  GET  /static/{name}   GET /healthz
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from turkops.domain import InputError, NotFoundError
from turkops.services import participation as svc
from turkops.services.leases import expire_leases
from turkops.taskpage import DEFAULT_STUDY_INFO, TEMPLATES_DIR
from turkops.taskserver.middleware import BodyLimit, SecurityHeaders, content_security_policy
from turkops.taskserver.security import (
    CSRF_COOKIE,
    csrf_token,
    load_secret,
    new_csrf_cookie,
    sign_session,
    verify_csrf,
    verify_session,
)
from turkops.wiring import Runtime

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = {
    "task.css": (TEMPLATES_DIR / "task.css", "text/css"),  # shared with the MTurk page
    "session.css": (HERE / "static" / "session.css", "text/css"),
    "session_task.js": (HERE / "static" / "session_task.js", "text/javascript"),
}
# Prolific ids are 24 hex characters; accept any printable text up to the column width so a
# mistyped link still works, and escape it wherever it is shown.
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")
_ITEM = re.compile(r"^item_(\d{1,3})$")
MAX_FIELDS = 200


def _env() -> Environment:
    return Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(str(HERE / "templates")), FileSystemLoader(str(TEMPLATES_DIR))]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )


class TaskServer:
    """Per-process state: the runtime, the secret, templates, static files, study facts."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.secret = load_secret(rt.settings)
        self.env = _env()
        self.static = {name: (path.read_bytes(), mime) for name, (path, mime) in STATIC.items()}
        self.studies = svc.StudyCache()
        self.secure_cookies = rt.settings.public_url.startswith("https://")
        self.complete_url = rt.settings.prolific_complete_url

    # --- helpers -----------------------------------------------------------------------
    def render(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status, headers={"cache-control": "no-store"})

    def message(self, title: str, message: str, status: int, link: str | None = None) -> Response:
        return self.render("message.html.j2", status, title=title, message=message, link=link)

    def completion(self, code: str) -> str:
        sep = "&" if "?" in self.complete_url else "?"
        return f"{self.complete_url}{sep}{urlencode({'cc': code})}"

    def session_of(self, request: Request) -> tuple[int, str]:
        token = request.path_params["token"]
        sid = verify_session(self.secret, token)
        if sid is None:
            raise HTTPException(403, "This link is not valid.")
        return sid, token

    def csrf_for(self, request: Request, sid: int) -> tuple[str, str | None]:
        """(form token, cookie to set or None when the browser already has one)."""
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = None
        if not cookie or len(cookie) > 64:
            cookie = fresh = new_csrf_cookie()
        return csrf_token(self.secret, sid, cookie), fresh

    def with_cookie(self, response: Response, cookie: str | None) -> Response:
        if cookie:
            response.set_cookie(
                CSRF_COOKIE, cookie, httponly=True, samesite="lax", secure=self.secure_cookies
            )
        return response

    async def checked_form(self, request: Request, sid: int, token: str) -> FormData:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        if form.get("session_token") != token:
            raise HTTPException(403, "This form does not belong to your session.")
        csrf = form.get("csrf_token")
        if not verify_csrf(
            self.secret,
            sid,
            request.cookies.get(CSRF_COOKIE),
            csrf if isinstance(csrf, str) else None,
        ):
            raise HTTPException(403, "The form expired or cookies are blocked; reload the page.")
        return form

    # --- routes ------------------------------------------------------------------------
    async def arrive(self, request: Request) -> Response:
        q = request.query_params
        pid = q.get("PROLIFIC_PID", "")
        study_ref = q.get("STUDY_ID") or None
        session_ref = q.get("SESSION_ID") or None
        if (
            not _valid(pid, 64)
            or not _valid(study_ref, 64, True)
            or not _valid(session_ref, 128, True)
        ):
            return self.message(
                "Invalid link", "The link lacks a valid PROLIFIC_PID, STUDY_ID or SESSION_ID.", 400
            )
        info = await run_in_threadpool(
            svc.start_session, self.rt, request.path_params["study"], pid, study_ref, session_ref
        )
        token = sign_session(self.secret, info.id)
        if info.consented:
            return RedirectResponse(f"/s/{quote(token)}", 303)
        return await self.consent_page(request, info, token, None)

    async def consent_page(
        self, request: Request, info: svc.SessionInfo, token: str, error: str | None
    ) -> Response:
        csrf, fresh = self.csrf_for(request, info.id)
        facts = await run_in_threadpool(self._facts, info.study_id)
        response = self.render(
            "consent.html.j2",
            400 if error else 200,
            participant_id=info.participant_id,
            study_info=DEFAULT_STUDY_INFO,
            n_pages=facts.session_pages,
            page_size=facts.page_size,
            action=f"/s/{quote(token)}/consent",
            session_token=token,
            csrf_token=csrf,
            error=error,
        )
        return self.with_cookie(response, fresh)

    def _facts(self, study_id: int) -> svc.StudyFacts:
        with self.rt.transaction() as repo:
            return self.studies.get(repo, study_id)

    async def consent(self, request: Request) -> Response:
        sid, token = self.session_of(request)
        form = await self.checked_form(request, sid, token)
        if form.get("consent") != "yes":
            info = await run_in_threadpool(svc.session_info, self.rt, sid)
            return await self.consent_page(
                request, info, token, "Please tick the box to agree before you start."
            )
        await run_in_threadpool(svc.give_consent, self.rt, sid)
        return RedirectResponse(f"/s/{quote(token)}", 303)

    async def show(self, request: Request) -> Response:
        sid, token = self.session_of(request)
        state = await run_in_threadpool(svc.current_page, self.rt, sid, self.studies)
        if isinstance(state, svc.NeedsConsent):
            info = await run_in_threadpool(svc.session_info, self.rt, sid)
            return await self.consent_page(request, info, token, None)
        if isinstance(state, svc.Done):
            return self.finished(state)
        csrf, fresh = self.csrf_for(request, sid)
        response = self.render(
            "session_task.html.j2",
            concept=state.concept,
            items=state.images,
            number=state.number,
            total=state.total,
            action=f"/s/{quote(token)}",
            session_token=token,
            csrf_token=csrf,
            task_key=state.key,
        )
        return self.with_cookie(response, fresh)

    async def submit(self, request: Request) -> Response:
        sid, token = self.session_of(request)
        form = await self.checked_form(request, sid, token)
        key = form.get("task")
        if not isinstance(key, str) or not re.fullmatch(r"[hc]\d{1,18}", key):
            return self.message("Invalid form", "The form is missing its task.", 400)
        answers = _answers(form)
        if answers is None:
            return self.message("Invalid form", "Every image needs a 0 or 1 answer.", 400)
        outcome, state = await run_in_threadpool(
            svc.submit_page, self.rt, sid, key, answers, self.studies
        )
        log.info("session %d page %s: %s", sid, key, outcome)
        if isinstance(state, svc.Done):
            return self.finished(state)
        return RedirectResponse(f"/s/{quote(token)}", 303)

    def finished(self, state: svc.Done) -> Response:
        if state.code:
            return RedirectResponse(self.completion(state.code), 303)
        if state.status == "full":
            return self.message(
                "No tasks left",
                "Every task of this study has enough answers already. Please return the "
                "study on Prolific; thank you for your time.",
                200,
            )
        return self.message(
            "Session ended",
            "This session has ended (it was returned or timed out). Please return the study "
            "on Prolific.",
            410,
        )

    async def static_file(self, request: Request) -> Response:
        found = self.static.get(request.path_params["name"])
        if found is None:
            raise HTTPException(404, "Not found.")
        body, mime = found
        return Response(body, media_type=mime, headers={"cache-control": "public, max-age=3600"})

    async def favicon(self, request: Request) -> Response:
        return Response(status_code=204)  # browsers ask for it; an error would only be noise

    async def healthz(self, request: Request) -> Response:
        try:
            await run_in_threadpool(self._ping)
        except Exception:  # noqa: BLE001 - a proxy only needs up/down; the log has the reason
            log.exception("health check failed")
            return PlainTextResponse("database unavailable", 503)
        return PlainTextResponse("ok")

    def _ping(self) -> None:
        with self.rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def _valid(value: str | None, max_len: int, optional: bool = False) -> bool:
    if value is None:
        return optional
    return 0 < len(value) <= max_len and bool(_PRINTABLE.match(value))


def _answers(form: FormData) -> list[int] | None:
    """item_0..item_{n-1}, each "0" or "1", contiguous; None when malformed."""
    found: dict[int, int] = {}
    for key, value in form.multi_items():
        m = _ITEM.match(key)
        if not m:
            continue
        k = int(m.group(1))
        if k in found or value not in ("0", "1"):
            return None
        found[k] = int(value)
    if not found or sorted(found) != list(range(len(found))):
        return None
    return [found[k] for k in range(len(found))]


def create_app(rt: Runtime, sweep_seconds: float | None = None) -> Starlette:
    """The task-server ASGI app on `rt`'s database; expired leases are swept in the background."""
    server = TaskServer(rt)
    every = sweep_seconds if sweep_seconds is not None else rt.settings.lease_sweep_seconds

    async def sweep() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await run_in_threadpool(expire_leases, rt)
            except Exception:  # noqa: BLE001 - keep sweeping; a DB hiccup is retried next round
                log.exception("lease sweep failed")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()

    async def not_found(request: Request, exc: Exception) -> Response:
        return server.message("Not found", "There is no such study or page.", 404)

    async def not_eligible(request: Request, exc: Exception) -> Response:
        return server.message("Not eligible", "This study is not open to you.", 403)

    async def bad_input(request: Request, exc: Exception) -> Response:
        return server.message("Invalid request", str(exc), 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return server.message("Error", exc.detail, exc.status_code)

    app = Starlette(
        routes=[
            Route("/healthz", server.healthz, methods=["GET"]),
            Route("/static/{name}", server.static_file, methods=["GET"]),
            Route("/favicon.ico", server.favicon, methods=["GET"]),
            Route("/p/{study}", server.arrive, methods=["GET"]),
            Route("/s/{token}/consent", server.consent, methods=["POST"]),
            Route("/s/{token}", server.show, methods=["GET"]),
            Route("/s/{token}", server.submit, methods=["POST"]),
        ],
        exception_handlers={
            NotFoundError: not_found,
            svc.NotEligibleError: not_eligible,
            InputError: bad_input,
            HTTPException: http_error,
        },
        lifespan=lifespan,
    )
    complete = urlsplit(rt.settings.prolific_complete_url)
    targets = [f"{complete.scheme}://{complete.netloc}"] if complete.netloc else []
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(targets))
    return app


def app_from_env() -> Starlette:
    """uvicorn factory for `--workers N`: each worker process builds its own runtime."""
    from turkops.config import load_settings
    from turkops.wiring import open_runtime

    return create_app(open_runtime(load_settings()))
