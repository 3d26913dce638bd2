"""Request bodies turkops sends to Prolific and how its answers map to neutral words.

Field names follow Prolific's API reference (Studies > Create a draft study; Submissions >
submission object); tests/prolific/fixtures holds the shapes written from that reference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from turkops.crowd import Submission, SubmissionState, WorkSpec

# Prolific's submission statuses (API reference, submission object).
STATES = {
    "ACTIVE": SubmissionState.ACTIVE,
    "AWAITING REVIEW": SubmissionState.AWAITING_REVIEW,
    "APPROVED": SubmissionState.APPROVED,
    "REJECTED": SubmissionState.REJECTED,
    "RETURNED": SubmissionState.RETURNED,
    "TIMED-OUT": SubmissionState.TIMED_OUT,
}
PLACEHOLDERS = "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"


def study_url(public_url: str, study_name: str) -> str:
    """The external study URL with the three placeholders Prolific fills in."""
    from urllib.parse import quote

    return f"{public_url.rstrip('/')}/p/{quote(study_name, safe='')}?{PLACEHOLDERS}"


def draft_study(work: WorkSpec) -> dict[str, Any]:
    """Body of POST /api/v1/studies/ (a draft: UNPUBLISHED until transitioned)."""
    if work.external_url is None:
        raise ValueError("a Prolific study needs an external_url")
    # Both codes go to manual review, so `poll` decides; FAILED_ATTENTION_CHECK is the code
    # type Prolific reserves for it (completion codes guide).
    codes = [
        {
            "code": work.completion_code,
            "code_type": "COMPLETED",
            "actions": [{"action": "MANUALLY_REVIEW"}],
        },
        {
            "code": work.failed_check_code,
            "code_type": "FAILED_ATTENTION_CHECK",
            "actions": [{"action": "MANUALLY_REVIEW"}],
        },
    ]
    filters: list[dict[str, Any]] = []
    if work.blocked_workers:
        filters.append(
            {"filter_id": "custom_blocklist", "selected_values": sorted(work.blocked_workers)}
        )
    return {
        "name": work.name,
        "internal_name": work.token,
        "description": work.description,
        "external_study_url": work.external_url,
        "prolific_id_option": "url_parameters",
        "completion_codes": codes,
        "total_available_places": work.places,
        "estimated_completion_time": work.minutes,
        "maximum_allowed_time": max(work.minutes * 4, work.minutes + 10),
        "reward": int(round(work.reward * 100)),  # cents (pence) of the workspace currency
        "device_compatibility": ["desktop"],
        "peripheral_requirements": [],
        "filters": filters,
    }


def submission(raw: dict[str, Any], study_id: str) -> Submission:
    status = str(raw.get("status", ""))
    started = raw.get("completed_at") or raw.get("started_at")
    return Submission(
        submission_id=str(raw["id"]),
        work_ref=str(raw.get("study_id") or study_id),
        worker_id=str(raw.get("participant_id") or raw.get("participant", "")),
        state=STATES.get(status, SubmissionState.OTHER),
        code=raw.get("study_code") or raw.get("entered_code"),
        submitted_at=_time(started),
        raw_status=status,
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
