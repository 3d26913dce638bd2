"""Launching `turkops` as real processes: plainly, or as N torchrun ranks on CPU (gloo)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURKOPS_")}
    env.update(extra or {})
    # One thread per process in both the reference and the ranks (torchrun's own default for
    # N > 1), so the only difference between the runs is how the images are split.
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               COLUMNS="250")  # summary lines unwrapped, for the assertions
    return env


def run_turkops(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "turkops", *args], env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def torchrun(nproc: int, target: list[str], timeout: float = 300,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`torchrun --nproc-per-node N TARGET...`; TARGET is `-m turkops ...` or a script."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *target]
    return subprocess.run(cmd, env=_env(env), capture_output=True, text=True, timeout=timeout)
