"""Running the Prolific simulator in the foreground (`turkops marketplace serve --provider
prolific`); the CLI module passes its options here and owns the printing callback."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType

from turkops.config import load_settings
from turkops.domain import ConfigError
from turkops.prolific_sim.participants import CrowdConfig
from turkops.prolific_sim.server import start_simulator
from turkops.prolific_sim.state import SimFaults, SimState


def serve_prolific(
    host: str,
    port: int,
    truth: Mapping[tuple[str, str], bool] | None,
    workers: int,
    error_rate: float,
    spammers: float,
    seed: int | None,
    pace: float,
    faults: tuple[int, float, float, float],
    echo: Callable[[str], None],
) -> None:
    settings = load_settings()
    if settings.prolific_token is None:
        raise ConfigError(
            "set TURKOPS_PROLIFIC_TOKEN to any secret: the simulator accepts only that token"
        )
    every, share_5xx, delay, duplicates = faults
    state = SimState(
        token=settings.prolific_token.get_secret_value(),
        faults=SimFaults(
            burst_every=every, error_rate=share_5xx, delay=delay, duplicate_submits=duplicates
        ),
    )
    crowd = CrowdConfig(
        n_participants=workers,
        error_rate=error_rate,
        spammer_share=spammers,
        seed=seed,
        pace_seconds=pace,
        truth=truth,
    )
    running = start_simulator(state, host, port, seed, crowd)
    stop = threading.Event()

    def _on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    echo(f"turkops Prolific simulator listening on {running.url}")
    echo(f"  point turkops at it: TURKOPS_PROLIFIC_URL={running.url}")
    echo(f"  {workers} simulated participants; Ctrl-C to stop")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
        signal.signal(signal.SIGTERM, previous)
    echo("simulator stopped")
