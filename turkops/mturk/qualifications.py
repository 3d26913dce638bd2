"""Worker qualification requirements from settings (MTurk system qualification type ids)."""

from __future__ import annotations

from typing import Any

from turkops.config import Settings

# System qualification type ids (MTurk API reference, QualificationRequirement).
LOCALE = "00000000000000000071"
NUMBER_HITS_APPROVED = "00000000000000000040"
PERCENT_ASSIGNMENTS_APPROVED = "000000000000000000L0"


def qualification_requirements(settings: Settings) -> tuple[dict[str, Any], ...]:
    reqs: list[dict[str, Any]] = []
    if settings.qualification_locale:
        reqs.append(
            {
                "QualificationTypeId": LOCALE,
                "Comparator": "EqualTo",
                "LocaleValues": [{"Country": settings.qualification_locale}],
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    if settings.qualification_min_approved_hits:
        reqs.append(
            {
                "QualificationTypeId": NUMBER_HITS_APPROVED,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [settings.qualification_min_approved_hits],
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    if settings.qualification_min_approval_rate:
        reqs.append(
            {
                "QualificationTypeId": PERCENT_ASSIGNMENTS_APPROVED,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [settings.qualification_min_approval_rate],
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    return tuple(reqs)


BLOCK_QUALIFICATION = "turkops-blocked"


def blocklist_requirement(qualification_type_id: str) -> dict[str, Any]:
    """Workers holding our block qualification can neither see nor accept the HITs."""
    return {
        "QualificationTypeId": qualification_type_id,
        "Comparator": "DoesNotExist",
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    }
