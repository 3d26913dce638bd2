"""Running the task server: in the foreground (`turkops serve`) or in a thread (demo, tests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from turkops.config import Settings
from turkops.domain import ConfigError
from turkops.taskserver.app import create_app
from turkops.taskserver.security import load_secret
from turkops.wiring import Runtime, open_runtime

FACTORY = "turkops.taskserver.app:app_from_env"


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve until interrupted. With workers > 1 uvicorn starts N processes, each building
    its app from the environment (import-string factory); PostgreSQL is then required,
    because SQLite allows one writer and would serialise (and time out) the workers."""
    rt = open_runtime(settings)  # migrate once, before any worker starts
    load_secret(settings)  # create the shared key once, so workers cannot race on it
    try:
        if workers > 1:
            if rt.engine.dialect.name == "sqlite":
                raise ConfigError("--workers > 1 needs PostgreSQL (TURKOPS_DATABASE_URL)")
            rt.close()
            uvicorn.run(
                FACTORY,
                factory=True,
                host=host,
                port=port,
                workers=workers,
                proxy_headers=True,
                server_header=False,
                log_level="info",
            )
            return
        uvicorn.run(
            create_app(rt),
            host=host,
            port=port,
            proxy_headers=True,
            server_header=False,
            log_level="info",
        )
    finally:
        rt.close()


@dataclass
class RunningTaskServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def running_taskserver(
    rt: Runtime, host: str = "127.0.0.1", port: int = 0, sweep_seconds: float | None = None
) -> Iterator[RunningTaskServer]:
    """The task server in a background thread on `host:port` (0: a free port) until exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        create_app(rt, sweep_seconds),
        log_level="warning",
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the task server did not start")
        time.sleep(0.02)
    running = RunningTaskServer(f"http://{host}:{sock.getsockname()[1]}", server, thread)
    try:
        yield running
    finally:
        running.stop()
        sock.close()
