"""A local, offline MTurk-compatible marketplace with simulated raters.

It speaks MTurk's JSON protocol over HTTP on loopback, so a real
`boto3.client("mturk", endpoint_url=...)` talks to it exactly as to MTurk. State lives in one
SQLite file. Stdlib only; see docs/marketplace.md.

    with start_marketplace(MarketplaceConfig(db_path=path, truth=load_truth("truth.csv"))) as m:
        client = boto3.client("mturk", endpoint_url=m.url, ...)
"""

from turkops.marketplace.answers import ANSWER_NAMESPACE, build_answer_xml
from turkops.marketplace.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_URL,
    FaultConfig,
    MarketplaceConfig,
    default_db_path,
    is_loopback,
)
from turkops.marketplace.runtime import RunningMarketplace, start_marketplace
from turkops.marketplace.taskpage import HTML_QUESTION_NAMESPACE, TaskForm, read_task_form
from turkops.marketplace.truth import load_truth
from turkops.marketplace.workers import SimulatedWorker

__all__ = [
    "ANSWER_NAMESPACE",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_URL",
    "HTML_QUESTION_NAMESPACE",
    "FaultConfig",
    "MarketplaceConfig",
    "RunningMarketplace",
    "SimulatedWorker",
    "TaskForm",
    "build_answer_xml",
    "default_db_path",
    "is_loopback",
    "load_truth",
    "read_task_form",
    "start_marketplace",
]
