"""Shared fixtures: a Runtime on SQLite and on the local PostgreSQL, and study files."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from turkops.config import Settings
from turkops.wiring import Runtime, open_runtime

pytest_plugins = ["tests.market_fixtures"]

PG_URL = os.environ.get("TURKOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Tests never read the developer's .env or TURKOPS_* variables, nor write into the repo.
    for key in list(os.environ):
        if key.startswith("TURKOPS_") and key != "TURKOPS_TEST_PG_URL":
            monkeypatch.delenv(key)
    # Rich otherwise takes the width of whatever terminal runs pytest: every test sees the
    # 80 columns a pipe gets, so no outcome depends on the developer's window (issue 10).
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema per test (search_path), dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'turkops.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = open_runtime(settings)
    yield runtime
    runtime.close()


def write_study_files(
    folder: Path,
    n_inputs: int = 30,
    n_neurons: int = 4,
    explanations: str = "neuron,method,concept\n0,A,red\n0,B,dog\n1,A,cat\n1,B,cat\n2,A,red\n",
    concepts: tuple[str, ...] = ("red", "dog", "cat"),
    seed: int = 0,
) -> dict[str, Path]:
    """A small valid study on disk: inputs.csv + PNGs, activations, explanations, scores."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "img").mkdir(exist_ok=True)
    lines = ["input_id,image"]
    for i in range(n_inputs):
        Image.new("RGB", (8, 8), (i * 7 % 256, 40, 90)).save(folder / "img" / f"{i}.png")
        lines.append(f"in{i},img/{i}.png")
    (folder / "inputs.csv").write_text("\n".join(lines) + "\n")
    np.save(folder / "acts.npy", rng.normal(size=(n_inputs, n_neurons)).astype(np.float32))
    (folder / "explanations.csv").write_text(explanations)
    np.savez(
        folder / "scores.npz",
        concepts=np.array(concepts),
        probs=rng.uniform(size=(n_inputs, len(concepts))),
    )
    return {
        "inputs": folder / "inputs.csv",
        "activations": folder / "acts.npy",
        "explanations": folder / "explanations.csv",
        "scores": folder / "scores.npz",
    }


@pytest.fixture
def study_files(tmp_path: Path) -> dict[str, Path]:
    return write_study_files(tmp_path / "files")
