"""Starting and stopping a marketplace in-process: HTTP server + simulated crowd threads."""

from __future__ import annotations

import logging
import random
import secrets
import threading
from types import TracebackType

from turkops.domain import InputError
from turkops.marketplace.config import FaultConfig, MarketplaceConfig
from turkops.marketplace.context import MarketplaceContext
from turkops.marketplace.faults import FaultState
from turkops.marketplace.server import MarketplaceHTTPServer
from turkops.marketplace.store import Store
from turkops.marketplace.truth import normalized_truth
from turkops.marketplace.workers import SimulatedCrowd, SimulatedWorker, make_workers

log = logging.getLogger(__name__)


class RunningMarketplace:
    """A marketplace serving on `url` until `stop()` (also a context manager)."""

    def __init__(
        self,
        config: MarketplaceConfig,
        ctx: MarketplaceContext,
        server: MarketplaceHTTPServer,
        threads: list[threading.Thread],
        stop_event: threading.Event,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self._server = server
        self._threads = threads
        self._stop_event = stop_event
        self._stopped = False
        host, port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self.port = port
        ctx.base_url = self.url

    @property
    def workers(self) -> list[SimulatedWorker]:
        return list(self.ctx.crowd.workers.values())

    def set_faults(self, faults: FaultConfig) -> None:
        self.ctx.faults.replace(faults)

    def pause_workers(self) -> None:
        self.ctx.crowd.paused.set()

    def resume_workers(self) -> None:
        self.ctx.crowd.paused.clear()
        self.ctx.crowd.wake()

    def stats(self) -> dict[str, int]:
        """API calls received so far, by operation."""
        return self.ctx.stats.snapshot()

    def stop(self) -> None:
        """Stop serving, stop the crowd and close the database (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        self.ctx.crowd.wake()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self.ctx.store.close()
        log.info("marketplace at %s stopped", self.url)

    def request_stop(self) -> None:
        """Make wait() return (safe from a signal handler); call stop() afterwards."""
        self._stop_event.set()

    def wait(self) -> None:
        """Block until stop() or request_stop() is called (from a thread or signal handler)."""
        while not self._stop_event.wait(0.5):
            pass

    def __enter__(self) -> RunningMarketplace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _crowd_seed(store: Store, config: MarketplaceConfig) -> int:
    """The configured seed, else the one this database last ran with (same workers again)."""
    saved = store.meta_value("crowd_seed")
    if config.seed is not None:
        seed = config.seed
    elif saved is not None:
        seed = int(saved)
    else:
        seed = secrets.randbits(63)
    store.set_meta_value("crowd_seed", str(seed))
    return seed


def _save_workers(store: Store, workers: list[SimulatedWorker]) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE workers SET active=0")
        conn.executemany(
            "INSERT OR REPLACE INTO workers VALUES (?,?,?,1)",
            [(w.worker_id, w.error_rate, int(w.spammer)) for w in workers],
        )


def start_marketplace(config: MarketplaceConfig) -> RunningMarketplace:
    """Open the state, bind the server and start the server and crowd threads."""
    store = Store(config.resolved_db_path())
    try:
        store.open_account(config.initial_balance)
        seed = _crowd_seed(store, config)
        workers = make_workers(
            config.n_workers,
            config.error_rate,
            config.spammer_share,
            config.error_rate_concentration,
            random.Random(f"{seed}:workers"),
        )
        _save_workers(store, workers)
        faults = FaultState(config.faults)
        crowd = SimulatedCrowd(
            store,
            workers,
            normalized_truth(config.truth or {}),
            config.pace_seconds,
            random.Random(f"{seed}:answers"),
            faults.next_malformed,
        )
        ctx = MarketplaceContext(store=store, faults=faults, crowd=crowd)
        try:
            server = MarketplaceHTTPServer((config.host, config.port), ctx)
        except OSError as exc:
            raise InputError(f"cannot listen on {config.host}:{config.port}: {exc}") from None
    except BaseException:
        store.close()
        raise
    stop_event = threading.Event()
    threads = [
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="marketplace-http",
            daemon=True,
        ),
        threading.Thread(
            target=crowd.run, args=(stop_event,), name="marketplace-crowd", daemon=True
        ),
    ]
    running = RunningMarketplace(config, ctx, server, threads, stop_event)
    for thread in threads:
        thread.start()
    log.info("marketplace serving %s (db %s)", running.url, store.path)
    return running
