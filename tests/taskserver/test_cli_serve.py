"""`turkops serve`: help text, option checks, one-line errors; single worker as a process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.taskserver.helpers import Participant, make_prolific_study, none_selected
from tests.taskserver.serverproc import free_port, start_server
from turkops.cli import app
from turkops.wiring import Runtime

runner = CliRunner()


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for word in ("--host", "--port", "--workers", "127.0.0.1", "PostgreSQL"):
        assert word in result.output


def test_several_workers_need_postgresql(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(tmp_path / "data"))
    result = runner.invoke(app, ["serve", "--workers", "2", "--port", str(free_port())])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --workers > 1 needs PostgreSQL (TURKOPS_DATABASE_URL)"
    assert runner.invoke(app, ["serve", "--workers", "0"]).exit_code == 2


def test_serve_one_worker_process(rt: Runtime, tmp_path: Path) -> None:
    make_prolific_study(rt, tmp_path / "f")
    server = start_server(rt, tmp_path / "srv", free_port(), workers=1)
    try:
        assert httpx.get(f"{server.url}/healthz").text == "ok"
        p = Participant(server.url, "CLI")
        assert p.run("ps", none_selected).code == "C0MPL3TE"
        p.close()
    finally:
        server.stop()
    assert "Uvicorn running on http://127.0.0.1" in server.log.read_text()
