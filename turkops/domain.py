"""Domain vocabulary shared by every layer: statuses, strategies and the error tree.

Only the CLI turns a TurkopsError into a message and an exit code; everything else raises.
"""

from __future__ import annotations

from enum import StrEnum


class TurkopsError(Exception):
    """Base of every error a user can cause or must act on; the CLI prints it as one line."""

    exit_code: int = 1


class InputError(TurkopsError):
    """Bad user input: a file, a row, a column or an option that cannot be used."""

    exit_code = 2


class NotFoundError(InputError):
    """A named study, pair or file does not exist."""


class ConfigError(TurkopsError):
    """Settings that cannot work together (e.g. production without the opt-in)."""

    exit_code = 2


class BudgetError(TurkopsError):
    """A launch would exceed --max-cost or the account balance."""

    exit_code = 3


class DataIntegrityError(TurkopsError):
    """A stored array file no longer matches the sha256/shape recorded in the database."""

    exit_code = 4


class ProviderError(TurkopsError):
    """The crowd provider (MTurk, local marketplace, ...) failed after retries."""

    exit_code = 5


class ConflictError(TurkopsError):
    """Another turkops process changed the same study at the same moment (e.g. two launches)."""

    exit_code = 6


class ModelError(TurkopsError):
    """The concept model cannot be loaded or run (unknown name, missing checkpoint, offline)."""

    exit_code = 2


class StudyStatus(StrEnum):
    CREATED = "created"
    SAMPLED = "sampled"
    LAUNCHED = "launched"
    COMPLETE = "complete"


class SamplingStrategy(StrEnum):
    UNIFORM = "uniform"
    MG_IS = "mg-is"
    AG_IS = "ag-is"


class HitStatus(StrEnum):
    """MTurk's HITStatus values (API reference, HIT data structure)."""

    ASSIGNABLE = "Assignable"
    UNASSIGNABLE = "Unassignable"
    REVIEWABLE = "Reviewable"
    REVIEWING = "Reviewing"
    DISPOSED = "Disposed"

    @classmethod
    def open(cls) -> frozenset[HitStatus]:
        return frozenset({cls.ASSIGNABLE, cls.UNASSIGNABLE})


class AssignmentStatus(StrEnum):
    """MTurk's AssignmentStatus values; 'Submitted' is the only one awaiting our decision."""

    SUBMITTED = "Submitted"
    APPROVED = "Approved"
    REJECTED = "Rejected"

    @classmethod
    def final(cls) -> frozenset[AssignmentStatus]:
        return frozenset({cls.APPROVED, cls.REJECTED})


class Aggregation(StrEnum):
    MEAN = "mean"
    MAJORITY = "majority"
    BRAGG_UNIFORM = "bragg-uniform"
    BRAGG_MODEL = "bragg-model"
    BRAGG_BETA = "bragg-beta"
    DAWID_SKENE = "dawid-skene"
    DS_ACT = "ds-act"  # turkops' own: Dawid-Skene + model prior + activation (docs/statistics.md)
    TWO_COIN = "two-coin"  # per-worker sensitivity + specificity (turkops/stats/two_coin.py)
    TWO_COIN_ACT = "two-coin-act"  # two-coin + model prior + activation, as ds-act
    GLAD = "glad"  # worker ability x item difficulty (Whitehill et al. 2009; stats/glad.py)
    MACE = "mace"  # per-worker spamming probability (Hovy et al. 2013; stats/mace.py)
    # mean of two-coin's and two-coin-with-item-clarity's posteriors (stats/item_difficulty.py)
    TWO_COIN_MIX = "two-coin-mix"
    # Not a label aggregator: a model-assisted correlation estimator whose interval carries the
    # rating noise, the fit and the unseen inputs (turkops/stats/ma_act.py); collect only.
    MA_ACT = "ma-act"


# Kept equal to turkops.stats.DEFAULT_AGGREGATOR by a test; spelled out here so that importing
# the domain vocabulary never imports the statistics core (and scipy) at start-up.
DEFAULT_AGGREGATION = Aggregation.MA_ACT
"""The default aggregator everywhere (chosen by measurement, docs/statistics.md)."""
