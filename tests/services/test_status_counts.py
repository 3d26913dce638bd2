"""`status`'s received count: the work the design needs, not every assignment ever made."""

from __future__ import annotations

from decimal import Decimal

from turkops.services.status import StudyStatusReport


def test_rejected_work_does_not_count_as_received() -> None:
    # On Prolific a rejected session's tasks go back to the pool and are rated again, so the
    # study ends with more assignments than the design asked for; only the valid ones count.
    report = StudyStatusReport(
        name="s",
        status="complete",
        hits={"Reviewing": 129},
        assignments={"Approved": 387, "Rejected": 18, "Submitted": 4},
        expected_assignments=387,
        paid=Decimal("30.96"),
        committed=Decimal("0"),
        provider="prolific",
    )
    assert report.received == 391
    assert abs(report.submitted_share - 391 / 387) < 1e-12
