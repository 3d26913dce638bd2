"""A tiny in-memory server of the P1/P2 HTML contract (consent form, task forms, 303 to the
completion URL), to test the simulated participants before the real task server is merged.
It keeps every posted answer so tests can check what participants read and sent."""

from __future__ import annotations

import html
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

COMPLETE = "https://app.prolific.com/submissions/complete"


@dataclass
class ContractServer:
    tasks: list[tuple[str, list[str]]]  # (concept, image refs)
    code: str = "CDONE123"
    answers: list[tuple[str, int, str, list[int]]] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)
    progress: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    url: str = ""

    def app(self) -> Starlette:
        async def arrive(request: Request) -> Response:
            pid = request.query_params.get("PROLIFIC_PID", "")
            if not pid:
                return HTMLResponse("<p>missing id</p>", status_code=403)
            token = self.tokens.setdefault(pid, secrets.token_hex(8))
            return HTMLResponse(
                '<form id="consent_form" method="post" action="/consent">'
                f'<input type="hidden" name="session" value="{token}">'
                '<input type="hidden" name="csrf" value="c1">'
                '<input type="checkbox" name="consent" value="yes"> I agree'
                "<button>Start</button></form>"
            )

        def pid_of(token: str) -> str | None:
            return next((p for p, t in self.tokens.items() if t == token), None)

        async def consent(request: Request) -> Response:
            form = await request.form()
            pid = pid_of(str(form.get("session")))
            if pid is None or form.get("consent") != "yes" or form.get("csrf") != "c1":
                return HTMLResponse("<p>forbidden</p>", status_code=403)
            self.consents.append(pid)
            self.progress.setdefault(pid, 0)
            return RedirectResponse(f"/task/{self.tokens[pid]}", status_code=303)

        async def task(request: Request) -> Response:
            token = request.path_params["token"]
            pid = pid_of(token)
            if pid is None:
                return HTMLResponse("<p>forbidden</p>", status_code=403)
            n = self.progress[pid]
            if request.method == "POST":
                form = await request.form()
                if int(str(form.get("task"))) == n:  # a resubmit of an earlier page is ignored
                    concept, images = self.tasks[n]
                    values = [int(str(form.get(f"item_{k}"))) for k in range(len(images))]
                    self.answers.append((pid, n, concept, values))
                    self.progress[pid] = n = n + 1
                if n >= len(self.tasks):
                    return RedirectResponse(f"{COMPLETE}?cc={self.code}", status_code=303)
                return RedirectResponse(f"/task/{token}", status_code=303)
            concept, images = self.tasks[n]
            imgs = "".join(
                f'<img data-image="{html.escape(ref)}" src="/img/{k}">'
                f'<input type="hidden" name="item_{k}" value="0">'
                for k, ref in enumerate(images)
            )
            return HTMLResponse(
                f'<p>Select all the images that contain: <b id="concept">{html.escape(concept)}'
                f'</b></p><form id="task_form" method="post" action="/task/{token}">'
                f'<input type="hidden" name="task" value="{n}">{imgs}<button>Next</button></form>'
            )

        return Starlette(
            routes=[
                Route("/p/{study}", arrive),
                Route("/consent", consent, methods=["POST"]),
                Route("/task/{token}", task, methods=["GET", "POST"]),
            ]
        )


@contextmanager
def serve(server: ContractServer) -> Iterator[ContractServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    uv = uvicorn.Server(uvicorn.Config(server.app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.02)
    server.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield server
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
