"""Property-based fuzzing of the study files: every input is accepted, or refused with one
clear InputError and nothing written; never a traceback, never a partial write."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, select

from turkops.config import Settings
from turkops.db.models import ArrayFile, Event, Explanation, Input, Pair, Study
from turkops.domain import InputError
from turkops.services.studies import create_study
from turkops.wiring import open_runtime

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
csv_text = st.one_of(
    st.lists(st.lists(cells, min_size=0, max_size=4), max_size=6).map(
        lambda rows: "\n".join(",".join(r) for r in rows)
    ),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


def _baseline(folder: Path, n: int = 4) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (4, 4)).save(folder / f"{i}.png")
    (folder / "inputs.csv").write_text(
        "input_id,image\n" + "".join(f"i{i},{i}.png\n" for i in range(n))
    )
    np.save(folder / "acts.npy", np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    (folder / "expl.csv").write_text("neuron,method,concept\n0,A,dog\n1,B,cat\n")
    np.savez(folder / "scores.npz", concepts=np.array(["dog", "cat"]), probs=np.full((n, 2), 0.5))
    return {
        "inputs": folder / "inputs.csv",
        "acts": folder / "acts.npy",
        "expl": folder / "expl.csv",
        "scores": folder / "scores.npz",
    }


def _check(mutate) -> None:  # type: ignore[no-untyped-def]
    work = Path(tempfile.mkdtemp(prefix="fuzz"))
    try:
        files = _baseline(work / "f")
        mutate(files)
        rt = open_runtime(
            Settings(
                database_url=f"sqlite:///{work / 'db.sqlite'}",  # type: ignore[call-arg]
                data_dir=work / "data",
                _env_file=None,
            )
        )
        try:
            try:
                create_study(
                    rt, "fz", files["inputs"], files["acts"], files["expl"], files["scores"]
                )
                accepted = True
            except InputError as exc:
                accepted = False
                message = str(exc)
                assert message and "\n" not in message and "Traceback" not in message
            with rt.transaction() as repo:
                n = {
                    m.__tablename__: repo.session.scalar(select(func.count()).select_from(m))
                    for m in (Study, Input, Pair, Explanation, ArrayFile, Event)
                }
            if not accepted:
                assert set(n.values()) == {0}, n
                assert not (work / "data" / "fz").exists()
                assert (
                    not any((work / "data").glob(".fz.staging-*"))
                    if (work / "data").exists()
                    else True
                )
            else:
                assert n["studies"] == 1 and n["inputs"] == 4
        finally:
            rt.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


@FUZZ
@given(csv_text)
def test_fuzz_inputs_csv(text: str) -> None:
    _check(lambda f: f["inputs"].write_text(text, encoding="utf-8", errors="surrogateescape"))


@FUZZ
@given(csv_text)
def test_fuzz_explanations_csv(text: str) -> None:
    _check(lambda f: f["expl"].write_text(text, encoding="utf-8", errors="surrogateescape"))


arrays = st.one_of(
    st.tuples(st.integers(0, 6), st.integers(0, 5)).flatmap(
        lambda shape: st.sampled_from(
            ["float32", "float64", "int64", "bool", "complex64", "U3"]
        ).map(lambda dt: (shape, dt))
    ),
)


@FUZZ
@given(arrays, st.sampled_from([None, np.nan, np.inf, -np.inf, 1e39]))
def test_fuzz_activations(spec, poison) -> None:  # type: ignore[no-untyped-def]
    (rows, cols), dtype = spec

    def mutate(f: dict[str, Path]) -> None:
        arr = np.ones((rows, cols), dtype=np.float64)
        if poison is not None and arr.size:
            arr.flat[0] = poison
        np.save(f["acts"], arr.astype(dtype) if dtype not in ("U3",) else arr.astype(str))

    _check(mutate)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_npy_bytes(data: bytes) -> None:
    _check(lambda f: f["acts"].write_bytes(data))


@FUZZ
@given(
    st.lists(st.text(max_size=5), max_size=4),
    st.tuples(st.integers(0, 5), st.integers(0, 4)),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_fuzz_scores_npz(concepts: list[str], shape: tuple[int, int], value: float) -> None:
    def mutate(f: dict[str, Path]) -> None:
        buf = io.BytesIO()
        np.savez(buf, concepts=np.array(concepts + ["dog", "cat"]), probs=np.full(shape, value))
        f["scores"].write_bytes(buf.getvalue())

    _check(mutate)
