"""The --calibration choice, apart from calibration.py so the CLI builds its options (and
`turkops --help`) without importing numpy and scipy."""

from __future__ import annotations

from enum import StrEnum


class CalibrationMode(StrEnum):
    """What the user asks for when no explicit constants are given."""

    AUTO = "auto"  # published if listed, else the model's own head (SigLIP), else an error
    PUBLISHED = "published"
    MODEL = "model"
