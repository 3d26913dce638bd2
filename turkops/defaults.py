"""Defaults of the settings that are also command-line options (TURKOPS_REWARD, ...).

config.Settings uses these constants, and `--help` names them ("default: from TURKOPS_RATERS
(3)") without importing pydantic, so `turkops --help` stays fast (docs/benchmarks.md).
"""

REWARD = "0.05"
RATERS = 3
IMAGES_PER_HIT = 15
POLL_INTERVAL_SECONDS = 300
