"""The demo's Prolific crowd: the simulator, its participants and the turkops task server.

Started in-process on loopback ports. The task server is the ASGI app of
`turkops.taskserver` (create_app(runtime)), served by uvicorn; the participants reach it
only over HTTP through its HTML forms.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import uvicorn
from pydantic import SecretStr

from turkops.config import Settings
from turkops.domain import ConfigError
from turkops.prolific_sim import SimState, start_simulator
from turkops.prolific_sim.participants import CrowdConfig
from turkops.wiring import open_runtime


def require_task_server() -> None:
    """Fail in one line before the demo spends a minute on data when the server is absent."""
    try:
        from turkops.taskserver import create_app  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the task server is not available ({exc})") from None


@contextmanager
def prolific_crowd(
    base: Mapping[str, Any],
    truth: Mapping[tuple[str, str], bool],
    error_rate: float,
    seed: int,
    participants: int = 60,
    spammers: float = 0.0,
) -> Iterator[Settings]:
    """Settings (from `base`) pointed at a running simulator + task server, until exit."""
    try:
        from turkops.taskserver import create_app  # the participant-facing task server
    except ImportError as exc:
        raise ConfigError(f"the task server is not available ({exc})") from None
    token = secrets.token_urlsafe(24)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    settings = Settings(  # type: ignore[call-arg]
        **base,
        provider="prolific",
        prolific_token=SecretStr(token),
        public_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        _env_file=None,
    )
    crowd = CrowdConfig(
        n_participants=participants,
        error_rate=error_rate,
        spammer_share=spammers,
        return_rate=0.03,
        timeout_rate=0.02,
        concurrency=8,
        seed=seed,
        truth=truth,
    )
    sim = start_simulator(SimState(token=token), seed=seed, crowd=crowd)
    settings = settings.model_copy(update={"prolific_url": sim.url})
    served = open_runtime(settings)  # the task server's own runtime (its engine, its pool)
    server = uvicorn.Server(
        uvicorn.Config(create_app(served), log_level="warning", lifespan="auto")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield settings
    finally:
        sim.stop()
        server.should_exit = True
        thread.join(timeout=10)
        served.close()
