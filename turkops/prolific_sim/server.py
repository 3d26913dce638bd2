"""Running the simulator in-process: uvicorn on a loopback socket, in a thread."""

from __future__ import annotations

import random
import socket
import threading
import time
from types import TracebackType

import uvicorn

from turkops.prolific_sim.app import build_app
from turkops.prolific_sim.participants import CrowdConfig, SimulatedCrowd
from turkops.prolific_sim.state import SimState


class RunningSimulator:
    def __init__(
        self,
        state: SimState,
        server: uvicorn.Server,
        thread: threading.Thread,
        port: int,
        host: str,
        crowd: SimulatedCrowd | None = None,
    ) -> None:
        self.state = state
        self.crowd = crowd
        self._server = server
        self._thread = thread
        self.port = port
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        if self.crowd is not None:
            self.crowd.stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def wait(self) -> None:
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(
    state: SimState,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    crowd: CrowdConfig | None = None,
) -> RunningSimulator:
    """Serve the simulated Prolific API on host:port (0 = a free port) until stop(); with
    `crowd`, simulated participants take every published study."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    config = uvicorn.Config(
        build_app(state, random.Random(seed)),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    running = SimulatedCrowd(state, crowd) if crowd is not None else None
    if running is not None:
        running.start()
    return RunningSimulator(state, server, thread, sock.getsockname()[1], host, running)
