"""Crash soak: many seeds of kill -9 during `turkops launch` / `turkops poll`, then invariants.

    python scripts/soak_crash.py --seeds 20 [--database-url postgresql+psycopg://...]

For each seed: a fresh study (30 images, 5 explanations, MG-IS, 2 raters) on a fresh local
marketplace; launch and poll are started as real processes and killed with SIGKILL after a
random delay until each finishes by itself; then tests/reliability/crash_harness.py checks that
no HIT exists twice, every submitted assignment was ingested once with its ratings, local and
remote decisions and money agree, no approval happened twice, and the event log explains it all.
Prints the number of crash points (kills of a running process) per phase.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import write_study_files  # noqa: E402
from tests.market_fixtures import truth_for  # noqa: E402
from tests.reliability.crash_harness import CrashLog, crash_cycle  # noqa: E402
from turkops.config import Settings  # noqa: E402
from turkops.domain import SamplingStrategy  # noqa: E402
from turkops.marketplace import FaultConfig, MarketplaceConfig, start_marketplace  # noqa: E402
from turkops.services.sampling import sample_study  # noqa: E402
from turkops.services.studies import create_study  # noqa: E402
from turkops.wiring import open_runtime  # noqa: E402


def one_seed(seed: int, pg_url: str | None, log: CrashLog) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'turkops.sqlite'}"
        schema = None
        if pg_url:
            schema = f"soak_{uuid.uuid4().hex[:10]}"
            with create_engine(pg_url).begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = f"{pg_url}?options=-csearch_path%3D{schema}"
        config = MarketplaceConfig(db_path=work / "m.sqlite", n_workers=12, error_rate=0.1,
                                   spammer_share=0.0, seed=seed, truth=truth_for(30))
        with start_marketplace(config) as market:
            market.set_faults(FaultConfig(delay_seconds=0.05))
            rt = open_runtime(Settings(database_url=url, data_dir=work / "data",  # type: ignore[call-arg]
                                       endpoint="local", local_url=market.url, _env_file=None))
            files = write_study_files(work / "files", seed=seed)
            create_study(rt, "s", files["inputs"], files["activations"], files["explanations"],
                         files["scores"])
            sample_study(rt, "s", 20, SamplingStrategy.MG_IS, 0.2, seed=seed)
            crash_cycle(rt, market, "s", seed, log)
            rt.close()
        if pg_url and schema:
            with create_engine(pg_url).begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    args = parser.parse_args()
    log = CrashLog()
    started = time.monotonic()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        one_seed(seed, args.database_url, log)
        print(f"seed {seed}: ok ({log.kills} crash points so far)", flush=True)
    print(f"{args.seeds} seeds, {log.runs} runs, {log.kills} crash points {log.by_phase}, "
          f"all invariants held; {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
