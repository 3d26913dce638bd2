"""A small client of Prolific's REST API v1 over httpx (docs.prolific.com/api-reference).

The API token travels only in the Authorization header of the httpx client: it is never part
of a message, a log line or an exception (httpx masks the header in reprs). 429 and 5xx are
retried with exponential back-off (honouring Retry-After); any other 4xx is one clear line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from turkops.domain import ConfigError, ProviderError

log = logging.getLogger(__name__)

API = "/api/v1"
BULK_APPROVE_LIMIT = 1000  # submission ids per bulk-approve call
MIN_REJECT_MESSAGE = 100  # Prolific refuses shorter rejection messages
REJECTION_CATEGORIES = frozenset(
    {
        "TOO_QUICKLY",
        "TOO_SLOWLY",
        "FAILED_INSTRUCTIONS",
        "INCOMP_LONGITUDINAL",
        "FAILED_CHECK",
        "LOW_EFFORT",
        "MALINGERING",
        "NO_CODE",
        "BAD_CODE",
        "NO_DATA",
        "UNSUPP_DEVICE",
        "OTHER",
    }
)


class ProlificAuthError(ConfigError):
    """401/403: the token is missing, wrong or lacks the permission."""


class ProlificRequestError(ProviderError):
    """Prolific refused a request (4xx other than 401/403/429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ProlificClient:
    """Prolific API v1 calls turkops makes. `http` carries base_url and the token header."""

    def __init__(
        self,
        http: httpx.Client,
        max_attempts: int = 8,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    # transport -------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """One API call with retries; returns the decoded JSON (None for an empty body)."""
        if "authorization" not in self.http.headers:
            raise ConfigError("TURKOPS_PROLIFIC_TOKEN is not set (Prolific > API tokens)")
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self.http.request(method, path, json=body, params=params or None)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
                self._wait(attempt, None)
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}"
                log.info("prolific %s %s: %s, retrying", method, path, last)
                self._wait(attempt, resp.headers.get("Retry-After"))
                continue
            if resp.status_code in (401, 403):
                raise ProlificAuthError(
                    f"Prolific refused the API token (HTTP {resp.status_code} on {method} "
                    f"{path}): check TURKOPS_PROLIFIC_TOKEN"
                )
            if resp.status_code >= 400:
                raise ProlificRequestError(
                    f"Prolific {method} {path}: HTTP {resp.status_code}: {_detail(resp)}",
                    resp.status_code,
                )
            return resp.json() if resp.content else None
        raise ProviderError(
            f"Prolific {method} {path} failed after {self.max_attempts} attempts ({last})"
        )

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        if attempt >= self.max_attempts:
            return
        delay = self.backoff_seconds * 2 ** (attempt - 1)
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        self.sleep(min(delay, 60.0))

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every result of a paginated list, following `_links.next.href` to the end."""
        page = self.request("GET", path, **params)
        while True:
            yield from page.get("results", [])
            nxt = ((page.get("_links") or {}).get("next") or {}).get("href")
            if not nxt:
                return
            # The href is absolute on Prolific; keep only path + query so the base URL (and
            # the token) stay those of our client.
            url = httpx.URL(nxt)
            page = self.request("GET", url.raw_path.decode())

    # studies ---------------------------------------------------------------------------
    def create_study(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", f"{API}/studies/", body)
        return result

    def get_study(self, study_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"{API}/studies/{study_id}/")
        return result

    def add_places(self, study_id: str, extra: int) -> dict[str, Any]:
        """Raise total_available_places by `extra` (Prolific allows increases only)."""
        current = int(self.get_study(study_id)["total_available_places"])
        result: dict[str, Any] = self.request(
            "PATCH", f"{API}/studies/{study_id}/", {"total_available_places": current + extra}
        )
        return result

    def studies(self) -> Iterator[dict[str, Any]]:
        return self.pages(f"{API}/studies/")

    def transition_study(self, study_id: str, action: str) -> dict[str, Any]:
        """action: PUBLISH | PAUSE | START | STOP."""
        result: dict[str, Any] = self.request(
            "POST", f"{API}/studies/{study_id}/transition/", {"action": action}
        )
        return result

    def test_study(self, study_id: str) -> dict[str, Any]:
        """Publish in Prolific's test mode (only test participants, no spending)."""
        result: dict[str, Any] = self.request("POST", f"{API}/studies/{study_id}/test-study/", {})
        return result

    # submissions -----------------------------------------------------------------------
    def submissions(self, study_id: str) -> Iterator[dict[str, Any]]:
        return self.pages(f"{API}/studies/{study_id}/submissions/")

    def bulk_approve(self, submission_ids: Sequence[str]) -> int:
        """Approve in batches of at most 1,000; returns the number of calls made."""
        calls = 0
        for start in range(0, len(submission_ids), BULK_APPROVE_LIMIT):
            batch = list(submission_ids[start : start + BULK_APPROVE_LIMIT])
            self.request("POST", f"{API}/submissions/bulk-approve/", {"submission_ids": batch})
            calls += 1
        return calls

    def reject(self, submission_id: str, message: str, category: str) -> dict[str, Any]:
        if len(message) < MIN_REJECT_MESSAGE:
            raise ProlificRequestError(
                f"a Prolific rejection message needs at least {MIN_REJECT_MESSAGE} characters "
                f"(got {len(message)})",
                400,
            )
        if category not in REJECTION_CATEGORIES:
            raise ProlificRequestError(f"unknown rejection category {category!r}", 400)
        result: dict[str, Any] = self.request(
            "POST",
            f"{API}/submissions/{submission_id}/transition/",
            {"action": "REJECT", "message": message, "rejection_category": category},
        )
        return result

    # bonuses ---------------------------------------------------------------------------
    def create_bonus(self, study_id: str, csv_bonuses: str) -> dict[str, Any]:
        """Set up bonuses ("<participant id>,<amount>" lines); pay them with pay_bonus."""
        result: dict[str, Any] = self.request(
            "POST",
            f"{API}/submissions/bonus-payments/",
            {"study_id": study_id, "csv_bonuses": csv_bonuses},
        )
        return result

    def pay_bonus(self, bonus_id: str) -> None:
        # Not idempotent (Prolific docs): no automatic retry may repeat a sent request, so a
        # 5xx here is an error for the caller, who knows whether the payment was recorded.
        if "authorization" not in self.http.headers:
            raise ConfigError("TURKOPS_PROLIFIC_TOKEN is not set (Prolific > API tokens)")
        resp = self.http.post(f"{API}/bulk-bonus-payments/{bonus_id}/pay/")
        if resp.status_code in (401, 403):
            raise ProlificAuthError(
                f"Prolific refused the API token (HTTP {resp.status_code}): "
                "check TURKOPS_PROLIFIC_TOKEN"
            )
        if resp.status_code >= 400:
            raise ProlificRequestError(
                f"Prolific pay bonus {bonus_id}: HTTP {resp.status_code}: {_detail(resp)}",
                resp.status_code,
            )

    # account ---------------------------------------------------------------------------
    def workspace_balance(self, workspace_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"{API}/workspaces/{workspace_id}/balance/")
        return result


def _detail(resp: httpx.Response) -> str:
    """Prolific's error detail in one line (its body: {"error": {"detail": ...}})."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].replace("\n", " ") or resp.reason_phrase
    err = body.get("error", body) if isinstance(body, dict) else body
    detail = err.get("detail", err) if isinstance(err, dict) else err
    return str(detail)[:300].replace("\n", " ")


def build_http(base_url: str, token: str, timeout: float) -> httpx.Client:
    """The httpx client with the token header; the only place the token is read."""
    headers = {"Accept": "application/json"}
    if token:  # without one, the first call says so (a dry run needs no token)
        headers["Authorization"] = f"Token {token}"
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=10.0),
    )
