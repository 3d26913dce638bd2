"""`torchrun --nproc-per-node 2 -m turkops activations extract` on CPU (gloo): the result equals
one process's exactly, and after one rank is killed a rerun encodes only what is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.activations.conftest import MakeInputs
from tests.concepts.launch import run_turkops, torchrun

pytestmark = pytest.mark.torch

# Run by torchrun instead of `-m turkops`: rank 1 kills itself (SIGKILL, no cleanup) after its
# first cache chunk, once rank 0 has written all of its own, which is then waiting for rank 1.
KILL_RANK_1 = """
import os, signal, sys, time
from pathlib import Path

from turkops.concepts import encoding

cache = Path(sys.argv[sys.argv.index("--cache-dir") + 1])
if os.environ["RANK"] == "1":
    original = encoding.ImageEncoder._encode_batch
    calls = []

    def dying(self, x, pad_to):
        calls.append(1)
        if len(calls) == 4:  # batches 1 and 2 are in a written chunk (batch 1, chunk 2)
            deadline = time.monotonic() + 120
            while (len(list(cache.rglob("chunk-*-r0-*.npz"))) < 2
                   and time.monotonic() < deadline):
                time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, x, pad_to)

    encoding.ImageEncoder._encode_batch = dying
from turkops.cli import main

sys.argv = ["turkops", *sys.argv[1:]]
main()
"""


def _args(csv: Path, weights: Path, out: Path, cache: Path, batch: int) -> list[str]:
    return ["activations", "extract", "--model", "timm:test_vit", "--weights", str(weights),
            "--layer", "blocks.5", "--inputs", str(csv), "--out", str(out), "--device", "cpu",
            "--batch-size", str(batch), "--cache-dir", str(cache), "--chunk-size", "2"]


def test_two_ranks_equal_one_process_exactly(timm_vit_weights: Path, make_inputs: MakeInputs,
                                             tmp_path: Path) -> None:
    csv = make_inputs(7)
    single = run_turkops(_args(csv, timm_vit_weights, tmp_path / "one.npy",
                               tmp_path / "c1", 2))
    assert single.returncode == 0, single.stderr
    two = torchrun(2, ["-m", "turkops", *_args(csv, timm_vit_weights, tmp_path / "two.npy",
                                                tmp_path / "c2", 2)])
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("wrote ") == 1 and "encoded 7, cached 0" in two.stdout
    one, both = np.load(tmp_path / "one.npy"), np.load(tmp_path / "two.npy")
    assert both.shape == (7, 64)
    np.testing.assert_array_equal(both, one)


def test_rerun_after_a_killed_rank_redoes_only_the_missing_images(
        timm_vit_weights: Path, make_inputs: MakeInputs, tmp_path: Path) -> None:
    csv = make_inputs(8)
    script = tmp_path / "kill_rank_1.py"
    script.write_text(KILL_RANK_1)
    out, cache = tmp_path / "acts.npy", tmp_path / "cache"
    crashed = torchrun(2, [str(script), *_args(csv, timm_vit_weights, out, cache, 1)])
    assert crashed.returncode != 0
    assert not out.exists()
    names = [p.name for p in cache.rglob("chunk-*.npz")]
    assert sum("-r0-" in n for n in names) == 2 and sum("-r1-" in n for n in names) == 1
    rerun = torchrun(2, ["-m", "turkops", *_args(csv, timm_vit_weights, out, cache, 1)])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # Rank 0's 4 images and rank 1's first 2 were cached: only rank 1's last 2 are encoded.
    assert "encoded 2, cached 6" in rerun.stdout
    fresh = run_turkops(_args(csv, timm_vit_weights, tmp_path / "fresh.npy",
                              tmp_path / "fresh", 1))
    assert fresh.returncode == 0, fresh.stderr
    np.testing.assert_array_equal(np.load(out), np.load(tmp_path / "fresh.npy"))


def test_an_unreadable_image_on_one_rank_stops_every_rank_with_one_line(
        timm_vit_weights: Path, make_inputs: MakeInputs, tmp_path: Path) -> None:
    csv = make_inputs(4)
    last = csv.read_text().splitlines()[-1].split(",", 1)[1]
    # In rank 1's slice. Truncated, not garbage: `study create`-style input checks read only the
    # header (and refuse a non-image up front), so the failure must come from decoding on rank 1.
    image = csv.parent / last
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    run = torchrun(2, ["-m", "turkops", *_args(csv, timm_vit_weights, tmp_path / "a.npy",
                                                tmp_path / "cache", 1)], timeout=240)
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    # Rank 1 names the file; rank 0, instead of waiting for rank 1 forever, names rank 1.
    assert any(e.startswith("error: cannot read image") and last in e for e in errors), errors
    assert any(e.startswith("error: rank 1: cannot read image") for e in errors), errors
    assert not (tmp_path / "a.npy").exists()
