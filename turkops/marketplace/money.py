"""Money as MTurk charges it: Decimal dollars, strings like "0.05" on the wire.

MTurk's commission (https://www.mturk.com/pricing): 20% of the reward or bonus, at least
$0.01, plus another 20% of the reward for HITs with 10 or more assignments. We round the
commission half-up to whole cents.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from turkops.marketplace.errors import request_error

CENT = Decimal("0.01")
BASE_FEE_RATE = Decimal("0.20")
LARGE_HIT_EXTRA_RATE = Decimal("0.20")
LARGE_HIT_ASSIGNMENTS = 10
MIN_FEE = CENT

# botocore's CurrencyAmount pattern (service-2.json).
_AMOUNT = re.compile(r"^[0-9]+(\.)?[0-9]{0,2}$")


def parse_amount(text: object, name: str) -> Decimal:
    """A CurrencyAmount string ("5", "0.05") as Decimal; RequestError when malformed."""
    if not isinstance(text, str) or not _AMOUNT.match(text):
        raise request_error(f'{name} must be a dollar amount like "0.05", got {text!r}.')
    return Decimal(text).quantize(CENT)


def format_amount(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def commission(amount: Decimal, max_assignments: int = 1) -> Decimal:
    """MTurk's fee for paying `amount` once on a HIT with `max_assignments` (bonus: 1)."""
    rate = BASE_FEE_RATE
    if max_assignments >= LARGE_HIT_ASSIGNMENTS:
        rate += LARGE_HIT_EXTRA_RATE
    return max(MIN_FEE, (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP))


def assignment_cost(reward: Decimal, max_assignments: int) -> Decimal:
    """What one approved assignment costs the requester: reward + commission."""
    return reward + commission(reward, max_assignments)
