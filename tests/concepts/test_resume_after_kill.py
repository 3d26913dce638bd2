"""A run killed outright (SIGKILL: no cleanup at all) resumes from its last written chunk."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.concepts.conftest import TINY_NAME
from turkops.concepts.models import load_concept_model

pytestmark = pytest.mark.torch

CHILD = """
import json, os, signal, sys
from pathlib import Path
from turkops.concepts.models import load_concept_model
args = json.loads(sys.argv[1])
cm = load_concept_model(args["name"], args["ckpt"], device="cpu",
                        model_config=Path(args["config"]))
def die(done, total):
    if done >= 6:
        os.kill(os.getpid(), signal.SIGKILL)
images = [(sha, Path(p)) for sha, p in args["images"]]
cm.scorer().score(images, ["dog"], cm.cache(Path(args["cache"])),
                  calibration=cm.calibration(), batch_size=2, chunk_size=4, progress=die)
"""


def test_sigkill_loses_at_most_the_open_chunk(
        tiny_config: Path, tiny_checkpoints: dict[str, Path],
        make_images: Callable[[int], list[tuple[str, Path]]], tmp_path: Path) -> None:
    images = make_images(10)
    args = {"name": TINY_NAME, "ckpt": str(tiny_checkpoints["pt"]), "config": str(tiny_config),
            "cache": str(tmp_path / "cache"), "images": [(s, str(p)) for s, p in images]}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    cm = load_concept_model(TINY_NAME, str(tiny_checkpoints["pt"]), device="cpu")
    cache = cm.cache(tmp_path / "cache")
    # Chunk of 4 written after the 2nd batch; the kill came with 6 done: 2 buffered, lost.
    assert cache.lookup([s for s, _ in images]).found.sum() == 4
    resumed = cm.scorer().score(images, ["dog"], cache, calibration=cm.calibration())
    assert (resumed.n_encoded, resumed.n_cached) == (6, 4)
    assert cache.lookup([s for s, _ in images]).found.all()
