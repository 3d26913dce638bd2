"""Task-server throughput on PostgreSQL: participants at once x uvicorn workers.

    PYTHONPATH=. python scripts/bench_taskserver.py [--concurrency 50 200 500] [--workers 1 2]

For each (workers, concurrency) it creates a fresh Prolific-style study in a new PostgreSQL
schema, starts `turkops serve --workers W` as a real process, and lets C simulated
participants (asyncio + httpx, one process, reading the real HTML forms) arrive at once, consent
and answer --pages tasks each. Reported: task pages served and submissions recorded per second
(wall clock from first arrival to last completion), and p50/p99 latency of task-page GETs and
answer POSTs. The participants run on the same machine as the server, so they compete for CPU.
Used for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.taskserver.crowd import crowd  # noqa: E402
from tests.taskserver.helpers import make_prolific_study  # noqa: E402
from tests.taskserver.serverproc import free_port, start_server  # noqa: E402
from turkops.config import Settings  # noqa: E402
from turkops.wiring import open_runtime  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_one(pg: str, workers: int, concurrency: int, pages: int, folder: Path) -> dict[str, float]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{pg}?options=-csearch_path%3D{schema}"
    rt = open_runtime(Settings(database_url=url, data_dir=folder / schema, _env_file=None))  # type: ignore[call-arg]
    server = None
    try:
        raters = 5
        n_tasks = make_prolific_study(
            rt,
            folder / schema / "files",
            raters=raters,
            images_per_task=5,
            n_inputs=400,
            n_neurons=60,
            explanations="neuron,method,concept\n"
            + "".join(f"{k},A,{('red', 'dog', 'cat')[k % 3]}\n" for k in range(60)),
            per_pair=60,
            tasks_per_session=pages,
        )
        assert n_tasks * raters >= concurrency * pages, (n_tasks, concurrency)
        server = start_server(rt, folder / schema / "srv", free_port(), workers=workers)
        t0 = time.perf_counter()
        records = asyncio.run(crowd(server.url, "ps", concurrency, concurrency, prefix="B"))
        wall = time.perf_counter() - t0
    finally:
        if server is not None:
            server.stop()
        rt.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    gets = [s for r in records for m, s in r.latencies if m == "get"]
    posts = [s for r in records for m, s in r.latencies if m == "post"]
    submitted = sum(len(r.acknowledged) for r in records)
    errors = sum(r.outcome.startswith("error") for r in records)
    return {
        "workers": workers,
        "concurrency": concurrency,
        "wall_s": wall,
        "pages_per_s": (submitted + concurrency) / wall,  # each submission follows one page
        "submissions_per_s": submitted / wall,
        "get_p50_ms": 1000 * statistics.median(gets),
        "get_p99_ms": 1000 * pct(gets, 0.99),
        "post_p50_ms": 1000 * statistics.median(posts),
        "post_p99_ms": 1000 * pct(posts, 0.99),
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg-url", default=PG)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[50, 200, 500])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--pages", type=int, default=3, help="tasks per participant")
    args = ap.parse_args()
    print(
        f"{'workers':>7} {'particip.':>9} {'wall s':>7} {'pages/s':>8} {'subm/s':>7} "
        f"{'GET p50':>8} {'GET p99':>8} {'POST p50':>9} {'POST p99':>9} {'errors':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            for c in args.concurrency:
                r = run_one(args.pg_url, w, c, args.pages, Path(tmp))
                print(
                    f"{w:>7} {c:>9} {r['wall_s']:>7.1f} {r['pages_per_s']:>8.1f} "
                    f"{r['submissions_per_s']:>7.1f} {r['get_p50_ms']:>6.0f}ms "
                    f"{r['get_p99_ms']:>6.0f}ms {r['post_p50_ms']:>7.0f}ms "
                    f"{r['post_p99_ms']:>7.0f}ms {r['errors']:>6}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
