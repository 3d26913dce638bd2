"""Load check of the local marketplace: a 12,000-HIT study (3 assignments each) through boto3.

Measures HIT creation throughput, full ListHITs / ListReviewableHITs passes, how fast the
simulated crowd completes 36,000 assignments, and ListAssignmentsForHIT call rate.

    .venv/bin/python scripts/bench_marketplace.py [--hits 12000] [--threads 4] [--db PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from turkops.marketplace import MarketplaceConfig, start_marketplace


def question(hit_index: int) -> str:
    """A realistic 15-image task page (~4 KB) following the task-page contract."""
    items = "".join(
        f'<div class="item" data-item="{k}"><img src="https://example.org/img/{hit_index}_{k}.jpg"'
        f' data-image="images/{hit_index:05d}_{k:02d}.jpg" alt="image {k + 1}">'
        f'<input type="hidden" name="item_{k}" value="0"></div>'
        for k in range(15)
    )
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Select images</title>"
        "<style>.item{display:inline-block;margin:4px}</style></head><body>"
        f'<p>Select all the images that contain: <b id="concept">{escape("striped fabric")}</b></p>'
        '<form id="mturk_form" method="post"><input type="hidden" name="assignmentId" value="">'
        '<label><input type="checkbox" name="consent" value="yes"> I agree</label>'
        f'{items}<input type="submit" value="Submit"></form>'
        "<script>/* the real template ticks item_k when an image is clicked */</script>"
        "</body></html>"
    )
    return (
        '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        f'2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA[{html}]]></HTMLContent>'
        "<FrameHeight>0</FrameHeight></HTMLQuestion>"
    )


def client_for(url: str) -> Any:
    return boto3.session.Session().client(
        "mturk",
        endpoint_url=url,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
        config=Config(retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=4),
    )


def timed(label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - began
    print(f"{label}: {seconds:.2f} s")
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=12_000)
    parser.add_argument("--assignments", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="parallel boto3 clients")
    parser.add_argument("--db", type=Path, default=None, help="default: a temporary file")
    args = parser.parse_args()

    db = args.db or Path(tempfile.mkdtemp()) / "bench.sqlite"
    config = MarketplaceConfig(db_path=db, seed=1, initial_balance=Decimal(10**7))
    with start_marketplace(config) as market:
        market.pause_workers()  # creation alone first; the crowd is measured separately
        clients = [client_for(market.url) for _ in range(args.threads)]
        type_id = clients[0].create_hit_type(
            AssignmentDurationInSeconds=600,
            Reward="0.05",
            Title="Select the images that contain a concept",
            Description="Tick every image that contains the concept.",
            AutoApprovalDelayInSeconds=259_200,
        )["HITTypeId"]
        latencies: list[float] = []

        def create(i: int) -> str:
            began = time.perf_counter()
            hit = clients[i % args.threads].create_hit_with_hit_type(
                HITTypeId=type_id,
                MaxAssignments=args.assignments,
                LifetimeInSeconds=7 * 86_400,
                Question=question(i),
                RequesterAnnotation=f"bench/{i}",
                UniqueRequestToken=f"bench/{i}",
            )
            latencies.append(time.perf_counter() - began)
            return str(hit["HIT"]["HITId"])

        def create_all() -> list[str]:
            with ThreadPoolExecutor(args.threads) as pool:
                return list(pool.map(create, range(args.hits)))

        hit_ids, seconds = timed(f"create {args.hits} HITs ({args.threads} clients)", create_all)
        ms = sorted(latencies)
        print(
            f"  {args.hits / seconds:.0f} HITs/s; latency median {statistics.median(ms) * 1e3:.1f}"
            f" ms, p99 {ms[int(len(ms) * 0.99)] * 1e3:.1f} ms"
        )

        client = clients[0]

        def list_all(operation: str, **params: Any) -> int:
            pages = client.get_paginator(operation).paginate(
                PaginationConfig={"PageSize": 100}, **params
            )
            return sum(len(p["HITs"]) for p in pages)

        n, seconds = timed(
            "ListHITs full pass (100/page, with Question)", lambda: list_all("list_hits")
        )
        print(f"  {n} HITs, {n / 100 / seconds:.0f} pages/s")

        market.resume_workers()
        total = args.hits * args.assignments

        def crowd_done() -> int:
            while True:
                submitted = market.ctx.store.query(
                    "SELECT COUNT(*) FROM assignments WHERE status='Submitted'"
                )[0][0]
                if submitted >= total:
                    return int(submitted)
                time.sleep(0.5)

        n, seconds = timed(f"simulated crowd submits {total} assignments", crowd_done)
        print(f"  {n / seconds:.0f} assignments/s")

        n, seconds = timed(
            "ListReviewableHITs full pass (100/page)",
            lambda: list_all("list_reviewable_hits", HITTypeId=type_id),
        )
        print(f"  {n} HITs, {n / 100 / seconds:.0f} pages/s")

        sample = hit_ids[:: max(1, len(hit_ids) // 2000)]

        def list_assignments(hit_id: str) -> int:
            return len(client.list_assignments_for_hit(HITId=hit_id)["Assignments"])

        counts, seconds = timed(
            f"ListAssignmentsForHIT x {len(sample)} (1 client)",
            lambda: [list_assignments(h) for h in sample],
        )
        assert all(c == args.assignments for c in counts)
        print(f"  {len(sample) / seconds:.0f} calls/s")
        print(f"database: {db} ({db.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
