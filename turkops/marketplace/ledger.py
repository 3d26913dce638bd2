"""The requester's account, kept in the `meta` table: deposits, spent and committed dollars.

available = deposits - spent - committed. Creating a HIT commits (reward + commission) x
MaxAssignments; approving moves one slot from committed to spent; rejecting or expiring
releases the slot (committed goes down, available up). Bonuses are spent directly.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from turkops.marketplace import errors
from turkops.marketplace.errors import request_error
from turkops.marketplace.money import format_amount

DEPOSITS, SPENT, COMMITTED = "deposits", "spent", "committed"


@dataclass(frozen=True, slots=True)
class Balance:
    available: Decimal
    committed: Decimal
    spent: Decimal
    deposits: Decimal


def open_account(conn: sqlite3.Connection, deposits: Decimal) -> None:
    """Seed a new database's account; an existing account keeps its balance."""
    if conn.execute("SELECT 1 FROM meta WHERE key=?", (DEPOSITS,)).fetchone() is None:
        for key, value in ((DEPOSITS, deposits), (SPENT, Decimal(0)), (COMMITTED, Decimal(0))):
            conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, format_amount(value)))


def amount(conn: sqlite3.Connection, key: str) -> Decimal:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return Decimal(row[0]) if row else Decimal("0.00")


def add(conn: sqlite3.Connection, key: str, delta: Decimal) -> None:
    if delta:
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            (key, format_amount(amount(conn, key) + delta)),
        )


def read_balance(conn: sqlite3.Connection) -> Balance:
    deposits, spent, committed = (amount(conn, k) for k in (DEPOSITS, SPENT, COMMITTED))
    return Balance(deposits - spent - committed, committed, spent, deposits)


def require_funds(conn: sqlite3.Connection, needed: Decimal) -> None:
    available = read_balance(conn).available
    if needed > available:
        raise request_error(
            f"Insufficient funds: this request needs ${format_amount(needed)} but the "
            f"available balance is ${format_amount(available)}.",
            errors.INSUFFICIENT_FUNDS,
        )
