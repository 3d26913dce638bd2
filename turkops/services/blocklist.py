"""The blocklist that carries across studies: blocked_workers, per provider.

Prolific launches add it as a custom_blocklist filter; MTurk launches grant blocked workers
turkops' block qualification and require that it does not exist. `poll` on Prolific adds
participants rejected for failed attention checks; people can be added by hand too.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from turkops.db.models import BlockedWorker
from turkops.domain import InputError
from turkops.wiring import Runtime

PROVIDERS = ("mturk", "prolific")


def block_worker(rt: Runtime, provider: str, worker_id: str, reason: str) -> bool:
    """Block a worker on `provider`; False when already blocked."""
    if provider not in PROVIDERS:
        raise InputError(f"--provider must be one of {', '.join(PROVIDERS)}")
    if not worker_id.strip() or not reason.strip():
        raise InputError("a worker id and a reason are required")
    with rt.transaction() as repo:
        found = repo.session.scalar(
            select(BlockedWorker).where(
                BlockedWorker.provider == provider, BlockedWorker.worker_id == worker_id
            )
        )
        if found is not None:
            return False
        repo.session.add(BlockedWorker(provider=provider, worker_id=worker_id, reason=reason))
        repo.log(None, "worker.blocked", f"worker:{worker_id}", provider=provider, reason=reason)
        return True


def blocked_workers(rt: Runtime, provider: str) -> Sequence[BlockedWorker]:
    with rt.transaction() as repo:
        rows = repo.session.scalars(
            select(BlockedWorker)
            .where(BlockedWorker.provider == provider)
            .order_by(BlockedWorker.id)
        ).all()
        repo.session.expunge_all()
        return rows
