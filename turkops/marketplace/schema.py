"""The marketplace's SQLite file: tables, indexes and how it is opened (WAL).

Times are epoch seconds (REAL) on the marketplace clock; money is Decimal text ("12.34").
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from turkops.domain import InputError

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS hit_types (
    hit_type_id TEXT PRIMARY KEY,
    props_key TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    keywords TEXT,
    reward TEXT NOT NULL,
    assignment_duration INTEGER NOT NULL,
    auto_approval_delay INTEGER NOT NULL,
    qualification_requirements TEXT NOT NULL,
    created REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS hits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hit_id TEXT NOT NULL UNIQUE,
    hit_type_id TEXT NOT NULL REFERENCES hit_types(hit_type_id),
    hit_group_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    keywords TEXT,
    reward TEXT NOT NULL,
    assignment_duration INTEGER NOT NULL,
    auto_approval_delay INTEGER NOT NULL,
    qualification_requirements TEXT NOT NULL,
    question TEXT NOT NULL,
    requester_annotation TEXT,
    max_assignments INTEGER NOT NULL,
    creation_time REAL NOT NULL,
    expiration REAL NOT NULL,
    expiry_done INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    review_status TEXT NOT NULL DEFAULT 'NotReviewed',
    reviewing INTEGER NOT NULL DEFAULT 0,
    disposed INTEGER NOT NULL DEFAULT 0,
    n_pending INTEGER NOT NULL DEFAULT 0,
    n_available INTEGER NOT NULL,
    n_submitted INTEGER NOT NULL DEFAULT 0,
    n_approved INTEGER NOT NULL DEFAULT 0,
    n_rejected INTEGER NOT NULL DEFAULT 0,
    slot_cost TEXT NOT NULL,
    committed TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hits_by_status ON hits(status, seq);
CREATE INDEX IF NOT EXISTS hits_by_status_type ON hits(status, hit_type_id, seq);
CREATE INDEX IF NOT EXISTS hits_by_expiry ON hits(expiry_done, expiration);

CREATE TABLE IF NOT EXISTS assignments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    assignment_id TEXT NOT NULL UNIQUE,
    hit_id TEXT NOT NULL REFERENCES hits(hit_id),
    worker_id TEXT NOT NULL,
    status TEXT NOT NULL,
    accept_time REAL NOT NULL,
    deadline REAL NOT NULL,
    submit_due REAL,
    submit_time REAL,
    auto_approval_time REAL,
    approval_time REAL,
    rejection_time REAL,
    answer TEXT,
    requester_feedback TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS assignments_one_per_worker ON assignments(hit_id, worker_id);
CREATE INDEX IF NOT EXISTS assignments_by_hit ON assignments(hit_id, seq);
CREATE INDEX IF NOT EXISTS assignments_by_deadline ON assignments(status, deadline);
CREATE INDEX IF NOT EXISTS assignments_by_auto_approval ON assignments(status, auto_approval_time);
CREATE INDEX IF NOT EXISTS assignments_by_due ON assignments(status, submit_due);

CREATE TABLE IF NOT EXISTS request_tokens (
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    target TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (kind, token)
);

CREATE TABLE IF NOT EXISTS bonuses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    worker_id TEXT NOT NULL,
    assignment_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    fee TEXT NOT NULL,
    reason TEXT NOT NULL,
    grant_time REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS qualification_types (
    qualification_type_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS worker_qualifications (
    qualification_type_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (qualification_type_id, worker_id)
);

CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    error_rate REAL NOT NULL,
    spammer INTEGER NOT NULL,
    active INTEGER NOT NULL
);
"""


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the marketplace database in WAL mode, autocommit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the
        # last transactions), and keeps HIT creation fast.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_DDL)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise InputError(f"{path}: not a marketplace database ({exc})") from None
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
    elif int(row[0]) != SCHEMA_VERSION:
        conn.close()
        raise InputError(
            f"{path}: marketplace schema version {row[0]}, this turkops needs {SCHEMA_VERSION}"
        )
    return conn
