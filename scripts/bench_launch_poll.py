"""Launch and poll a large study against the local marketplace; print the measured figures.

    python scripts/bench_launch_poll.py --pairs 1000 --per-pair 180 --raters 3   # ~12,000 HITs

Measures: HITs created per second, API calls of a poll pass when nothing changed and when 1% of
the HITs changed, wall time to poll 36,000 assignments to completion, and the process' peak RSS
before and after polling (flat memory = the poller does not accumulate state between passes).
Used for docs/benchmarks.md and (small) by tests/reliability/test_load.py.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from turkops.config import Settings  # noqa: E402
from turkops.domain import SamplingStrategy  # noqa: E402
from turkops.marketplace import MarketplaceConfig, admin, build_answer_xml, start_marketplace  # noqa: E402
from turkops.services.launch import LaunchOptions, launch_study  # noqa: E402
from turkops.services.poll import poll_study  # noqa: E402
from turkops.services.sampling import sample_study  # noqa: E402
from turkops.services.studies import create_study  # noqa: E402
from turkops.wiring import open_runtime  # noqa: E402


@dataclass
class LoadFigures:
    hits: int
    assignments: int
    launch_seconds: float
    hits_per_second: float
    calls_pass_nothing_changed: int
    hits_changed_1pct: int
    calls_pass_1pct_changed: int
    poll_seconds_to_complete: float
    poll_passes: int
    max_rss_mb_before_poll: float
    max_rss_mb_after_poll: float


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_study(folder: Path, n_inputs: int, n_pairs: int, seed: int) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (200, 30, 30)).save(folder / "x.png")
    # One small image file serves every input row: the benchmark measures orchestration.
    (folder / "inputs.csv").write_text(
        "input_id,image\n" + "".join(f"i{i},https://img.example/{i}.jpg\n" for i in range(n_inputs))
    )
    n_neurons = (n_pairs + 1) // 2
    np.save(folder / "acts.npy", rng.normal(size=(n_inputs, n_neurons)).astype(np.float32))
    concepts = [f"concept {j}" for j in range(n_pairs)]
    (folder / "expl.csv").write_text(
        "neuron,method,concept\n"
        + "".join(f"{k // 2},{'AB'[k % 2]},{concepts[k]}\n" for k in range(n_pairs))
    )
    np.savez(
        folder / "scores.npz",
        concepts=np.array(concepts),
        probs=rng.uniform(size=(n_inputs, n_pairs)).astype(np.float32),
    )
    return {
        "inputs": folder / "inputs.csv",
        "acts": folder / "acts.npy",
        "expl": folder / "expl.csv",
        "scores": folder / "scores.npz",
    }


def run(
    pairs: int,
    per_pair: int,
    raters: int,
    n_inputs: int,
    database_url: str | None,
    workdir: Path,
    seed: int = 0,
) -> LoadFigures:
    files = build_study(workdir / "files", n_inputs, pairs, seed)
    config = MarketplaceConfig(
        db_path=workdir / "market.sqlite",
        n_workers=200,
        error_rate=0.2,
        spammer_share=0.0,
        seed=seed,
        initial_balance=__import__("decimal").Decimal("100000"),
    )
    with start_marketplace(config) as market:
        market.pause_workers()
        rt = open_runtime(
            Settings(  # type: ignore[call-arg]
                database_url=database_url or f"sqlite:///{workdir / 'turkops.sqlite'}",
                data_dir=workdir / "data",
                endpoint="local",
                local_url=market.url,
                _env_file=None,
            )
        )
        create_study(rt, "load", files["inputs"], files["acts"], files["expl"], files["scores"])
        sample_study(rt, "load", per_pair, SamplingStrategy.MG_IS, 0.2, seed)
        t0 = time.perf_counter()
        launched = launch_study(rt, "load", LaunchOptions(raters=raters))
        launch_s = time.perf_counter() - t0
        hits = launched.plan.hits

        def calls() -> int:
            return sum(market.stats().values())

        before = calls()
        poll_study(rt, "load")
        nothing = calls() - before

        hit_ids = [r[0] for r in market.ctx.store.query("SELECT hit_id FROM hits ORDER BY seq")]
        chosen = hit_ids[: max(1, hits // 100)]
        for hit_id in chosen:
            n_items = market.ctx.store.query("SELECT question FROM hits WHERE hit_id=?", (hit_id,))[
                0
            ][0].count('name="item_')
            answer = build_answer_xml(
                [("consent", "yes")] + [(f"item_{k}", "0") for k in range(n_items)]
            )
            for _ in range(raters):
                admin.submit_raw(market.ctx, {"hit_id": hit_id, "answer": answer})
        before = calls()
        changed = poll_study(rt, "load")
        one_pct = calls() - before

        rss_before = _rss_mb()
        market.resume_workers()
        t0 = time.perf_counter()
        passes = 0
        while True:
            passes += 1
            if poll_study(rt, "load").complete:
                break
            time.sleep(0.5)
        poll_s = time.perf_counter() - t0
        rt.close()
    return LoadFigures(
        hits,
        hits * raters,
        round(launch_s, 1),
        round(hits / launch_s, 1),
        nothing,
        changed.hits_changed,
        one_pct,
        round(poll_s, 1),
        passes,
        round(rss_before, 1),
        round(_rss_mb(), 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--per-pair", type=int, default=180)
    parser.add_argument("--raters", type=int, default=3)
    parser.add_argument("--inputs", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(
            args.pairs, args.per_pair, args.raters, args.inputs, args.database_url, Path(tmp)
        )
    print(json.dumps(asdict(figures), indent=2))
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2))


if __name__ == "__main__":
    main()
