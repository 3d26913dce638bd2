"""Injected remote faults and the per-operation call counts tests assert on.

FaultState turns a FaultConfig into a decision per API call; it can be replaced at runtime
(POST /_admin/faults), which restarts its counters and re-arms throttle_burst.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from turkops.marketplace.config import FaultConfig

MALFORMED_KINDS = ("missing_field", "extra_field", "bad_value", "huge", "not_xml")
NUL_KIND = "nul_byte"  # its own knob (nul_every_n), outside the malformed_every_n rotation


class FaultAction(StrEnum):
    NONE = "none"
    THROTTLE = "throttle"
    SERVICE_FAULT = "service_fault"
    DROP_BEFORE = "drop_before"
    DROP_AFTER = "drop_after"


@dataclass(frozen=True, slots=True)
class FaultDecision:
    action: FaultAction
    delay_seconds: float


_NO_FAULT = FaultDecision(FaultAction.NONE, 0.0)


class FaultState:
    """Thread-safe fault schedule over the matching API calls."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._calls = 0
        self._burst_left = config.throttle_burst
        self._submissions = 0
        self.injected: Counter[str] = Counter()

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def replace(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._calls = 0
            self._submissions = 0
            self._burst_left = config.throttle_burst

    def decide(self, operation: str) -> FaultDecision:
        with self._lock:
            c = self._config
            if c.operations and operation not in c.operations:
                return _NO_FAULT
            self._calls += 1
            n = self._calls
            action = FaultAction.NONE
            if c.drop_every_n and n % c.drop_every_n == 0:
                action = (
                    FaultAction.DROP_AFTER if c.drop_mode == "after" else FaultAction.DROP_BEFORE
                )
            elif self._burst_left > 0:
                self._burst_left -= 1
                action = FaultAction.THROTTLE
            elif c.throttle_every_n and n % c.throttle_every_n == 0:
                action = FaultAction.THROTTLE
            elif c.service_fault_every_n and n % c.service_fault_every_n == 0:
                action = FaultAction.SERVICE_FAULT
            if action != FaultAction.NONE:
                self.injected[action.value] += 1
            delay = c.delay_seconds
            if c.delay_every_n and n % c.delay_every_n:
                delay = 0.0
            if delay:
                self.injected["delay"] += 1
            return FaultDecision(action, delay)

    def next_malformed(self) -> str | None:
        """The kind of malformation for the next simulated submission, or None."""
        with self._lock:
            every, nul_every = self._config.malformed_every_n, self._config.nul_every_n
            if not every and not nul_every:
                return None
            self._submissions += 1
            n = self._submissions
            if nul_every and n % nul_every == 0:
                kind = NUL_KIND
            elif every and n % every == 0:
                kind = MALFORMED_KINDS[(n // every - 1) % len(MALFORMED_KINDS)]
            else:
                return None
            self.injected[f"malformed_{kind}"] += 1
            return kind

    def injected_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.injected)


class CallStats:
    """API calls received, by operation (faulted calls included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()

    def record(self, operation: str) -> None:
        with self._lock:
            self._calls[operation] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._calls.items()))

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
