"""`turkops serve`: the participant-facing task server (Prolific sends participants here)."""

from __future__ import annotations

from typing import Annotated

import typer

from turkops.cli.app import app
from turkops.config import load_settings


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; keep 127.0.0.1 behind a proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="uvicorn worker processes (> 1 needs PostgreSQL)."
        ),
    ] = 1,
) -> None:
    """Serve study pages to participants: consent, tasks, completion redirect.

    Participants arrive at TURKOPS_PUBLIC_URL/p/STUDY?PROLIFIC_PID=..&STUDY_ID=..&SESSION_ID=..
    Run it behind an HTTPS proxy (docs/prolific.md, "Serving the task pages").
    """
    from turkops.taskserver.runner import serve as run_server

    run_server(load_settings(), host, port, workers)
