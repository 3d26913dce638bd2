"""torchrun on CPU (gloo, 2 processes): concept scoring split across ranks equals the
single-process result exactly; the shard arithmetic has no duplicate and no missing image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.concepts.conftest import TINY_NAME
from tests.concepts.launch import run_turkops, torchrun
from turkops.concepts.distributed import Ranks, ranks_from_env
from turkops.concepts.files import read_scores
from turkops.domain import InputError


@given(st.integers(0, 500), st.integers(1, 16), st.integers(1, 64))
def test_contiguous_shards_cover_every_item_exactly_once(n: int, world: int, unit: int) -> None:
    slices = [Ranks(r, world).bounds(n, unit) for r in range(world)]
    covered = [i for start, stop in slices for i in range(start, stop)]
    assert covered == list(range(n))  # in order: no duplicate, no gap, no padding
    assert all(start % unit == 0 for start, stop in slices if stop > start)  # whole batches
    units = [-(-(stop - start) // unit) for start, stop in slices]
    assert max(units) - min(units) <= 1


def test_ranks_from_env() -> None:
    assert ranks_from_env({}) == Ranks(0, 1, 0)
    assert ranks_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(3, 4, 1)
    # A Slurm batch step alone is one process, whatever SLURM_NTASKS says.
    assert ranks_from_env({"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}) == Ranks()
    with pytest.raises(InputError, match="impossible"):
        ranks_from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(InputError, match="not an integer"):
        ranks_from_env({"WORLD_SIZE": "two"})


@pytest.mark.torch
def test_torchrun_two_ranks_score_files_equals_one_process(
        tiny_config: Path, tiny_checkpoints: dict[str, Path],
        make_images: Callable[[int], list[tuple[str, Path]]], tmp_path: Path) -> None:
    images = make_images(7)
    images.append(images[2])  # a repeated image is encoded once, by one rank
    csv = tmp_path / "inputs.csv"
    csv.write_text("input_id,image\n" + "".join(f"in{i},{p}\n" for i, (_, p) in
                                                 enumerate(images)))
    concepts = tmp_path / "concepts.txt"
    concepts.write_text("dog\nred car\n")

    def args(out: Path, cache: str) -> list[str]:
        return ["concepts", "score-files", "--images", str(csv), "--concepts", str(concepts),
                "--out", str(out), "--model", TINY_NAME, "--pretrained",
                str(tiny_checkpoints["pt"]), "--model-config", str(tiny_config), "--device",
                "cpu", "--batch-size", "2", "--cache-dir", str(tmp_path / cache)]

    single = run_turkops(args(tmp_path / "one.npz", "cache1"))
    assert single.returncode == 0, single.stderr
    two = torchrun(2, ["-m", "turkops", *args(tmp_path / "two.npz", "cache2")])
    assert two.returncode == 0, two.stderr[-3000:]
    assert "encoded 7, cached 0" in two.stdout and two.stdout.count("scored 8 images") == 1
    chunks = sorted(p.name for p in (tmp_path / "cache2").rglob("chunk-*.npz"))
    assert [c for c in chunks if "-r0-" in c] and [c for c in chunks if "-r1-" in c]
    one, both = read_scores(tmp_path / "one.npz"), read_scores(tmp_path / "two.npz")
    assert both.input_ids == one.input_ids and both.concepts == one.concepts
    assert one.cosine is not None and both.cosine is not None
    np.testing.assert_array_equal(both.cosine, one.cosine)
    np.testing.assert_array_equal(both.probs, one.probs)


@pytest.mark.torch
def test_torchrun_two_ranks_score_a_study(
        tiny_config: Path, tiny_checkpoints: dict[str, Path], study_files: dict[str, Path],
        tmp_path: Path) -> None:
    from turkops.config import Settings
    from turkops.services.studies import create_study, load_concept_scores
    from turkops.wiring import open_runtime

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",  # type: ignore[call-arg]
                        data_dir=tmp_path / "data", _env_file=None)
    rt = open_runtime(settings)
    try:
        for name in ("one", "two"):
            create_study(rt, name, study_files["inputs"], study_files["activations"],
                         study_files["explanations"])
        env = {"TURKOPS_DATABASE_URL": settings.database_url,
               "TURKOPS_DATA_DIR": str(settings.data_dir)}

        def args(study: str) -> list[str]:
            return ["concepts", "score", study, "--model", TINY_NAME, "--pretrained",
                    str(tiny_checkpoints["pt"]), "--model-config", str(tiny_config),
                    "--device", "cpu", "--batch-size", "4"]

        two = torchrun(2, ["-m", "turkops", *args("two")], env=env)
        assert two.returncode == 0, two.stderr[-3000:]
        assert two.stdout.count("stored probabilities for 30 images") == 1
        assert "encoded 30, from cache 0" in two.stdout
        one = torchrun(1, ["-m", "turkops", *args("one")], env=env)
        assert one.returncode == 0, one.stderr[-3000:]
        assert "encoded 0, from cache 30" in one.stdout  # same images, same cache
        with rt.transaction() as repo:
            a = load_concept_scores(repo, repo.study("one"))
            b = load_concept_scores(repo, repo.study("two"))
        assert a is not None and b is not None and a.concepts == b.concepts
        np.testing.assert_array_equal(a.probs, b.probs)
    finally:
        rt.close()
