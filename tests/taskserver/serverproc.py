"""`turkops serve --workers N` as a real process group (so a test can kill -9 all of it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from turkops.wiring import Runtime

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill9(self) -> None:
        """SIGKILL the master and every worker at once: nothing gets to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


def start_server(
    rt: Runtime, folder: Path, port: int, workers: int = 2, sweep_seconds: float = 1.0
) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURKOPS_")}
    env.update(
        PYTHONPATH=str(REPO),
        TURKOPS_DATABASE_URL=rt.engine.url.render_as_string(hide_password=False),
        TURKOPS_DATA_DIR=str(rt.settings.data_dir),
        TURKOPS_LEASE_SWEEP_SECONDS=str(sweep_seconds),
    )
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"server-{port}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "turkops", "serve", "--port", str(port)]
            + ["--workers", str(workers)],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).text == "ok":
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"turkops serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return ServerProcess(proc, url, log)
