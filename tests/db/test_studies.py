"""Study creation round-trips through the store; bad input changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.conftest import write_study_files
from turkops.db.models import ArrayFile, Event, Explanation, Input, Pair, Study
from turkops.domain import DataIntegrityError, InputError
from turkops.services.studies import create_study, load_activations, show_study
from turkops.wiring import Runtime


def _create(rt: Runtime, files: dict[str, Path], name: str = "s1", scores: bool = True):
    return create_study(
        rt,
        name,
        files["inputs"],
        files["activations"],
        files["explanations"],
        files["scores"] if scores else None,
    )


def _row_counts(rt: Runtime) -> dict[str, int]:
    with rt.transaction() as repo:
        return {
            m.__tablename__: int(repo.session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Study, Input, Pair, Explanation, ArrayFile, Event)
        }


def test_create_round_trips_through_show(rt: Runtime, study_files: dict[str, Path]) -> None:
    summary = _create(rt, study_files)
    assert (summary.n_inputs, summary.n_neurons) == (30, 4)
    assert summary.n_explanations == 5 and summary.n_methods == 2
    assert summary.n_pairs == 4  # neuron 1 "cat" is shared by methods A and B
    assert summary.has_concept_scores and summary.status == "created"
    again = show_study(rt, "s1")
    assert again == summary
    with rt.transaction() as repo:
        study = repo.study("s1")
        acts = load_activations(repo, study)
        assert [i.input_id for i in repo.inputs(study.id)][:3] == ["in0", "in1", "in2"]
        assert [e.kind for e in repo.events(study.id)] == ["study.created"]
    np.testing.assert_array_equal(acts, np.load(study_files["activations"]))


def test_changed_array_file_is_refused(rt: Runtime, study_files: dict[str, Path]) -> None:
    _create(rt, study_files)
    with rt.transaction() as repo:
        study = repo.study("s1")
        path = Path(repo.array_file(study.id, "activations").path)  # type: ignore[union-attr]
    arr = np.load(path)
    arr[0, 0] += 1
    np.save(path, arr)
    with pytest.raises(DataIntegrityError, match="contents changed"), rt.transaction() as repo:
        load_activations(repo, repo.study("s1"))


def _mutate(folder: Path, files: dict[str, Path], case: str) -> tuple[dict[str, Path], str]:
    """Break one thing in a valid set of files; return the files and the expected message."""
    f = dict(files)
    if case == "shape":
        np.save(f["activations"], np.zeros((29, 4), dtype=np.float32))
        return f, r"acts\.npy: has 29 rows but inputs\.csv has 30"
    if case == "nan":
        a = np.load(f["activations"])
        a[5, 2] = np.nan
        np.save(f["activations"], a)
        return f, r"acts\.npy: non-finite value nan at row 5, neuron 2"
    if case == "inf":
        a = np.load(f["activations"])
        a[7, 1] = np.inf
        np.save(f["activations"], a)
        return f, r"non-finite value inf at row 7, neuron 1"
    if case == "dup_id":
        text = f["inputs"].read_text().replace("in3,", "in1,")
        f["inputs"].write_text(text)
        return f, r"inputs\.csv: line 5: duplicate input_id 'in1' \(first on line 3\)"
    if case == "missing_image":
        (folder / "img" / "4.png").unlink()
        return f, r"inputs\.csv: line 6: image file not found: img/4\.png"
    if case == "neuron_range":
        f["explanations"].write_text("neuron,method,concept\n0,A,red\n9,A,dog\n")
        return f, r"explanations\.csv: line 3: column neuron: 9 is out of range"
    if case == "empty_concept":
        f["explanations"].write_text("neuron,method,concept\n0,A,red\n1,A,  \n")
        return f, r"explanations\.csv: line 3: column concept: empty concept text"
    if case == "long_concept":
        f["explanations"].write_text("neuron,method,concept\n0,A," + "x" * 201 + "\n")
        return f, r"explanations\.csv: line 2: column concept: 201 characters"
    if case == "probs_range":
        np.savez(
            f["scores"],
            concepts=np.array(["red", "dog", "cat"]),
            probs=np.full((30, 3), 0.5) + np.eye(30, 3) * 0.7,
        )
        return f, r"scores\.npz: probability 1\.2 outside \[0, 1\] at input row 0, concept 'red'"
    if case == "missing_column":
        f["inputs"].write_text("id,image\na,img/0.png\n")
        return f, r"inputs\.csv: missing column\(s\) input_id"
    if case == "bad_neuron":
        f["explanations"].write_text("neuron,method,concept\nzero,A,red\n")
        return f, r"line 2: column neuron: 'zero' is not an integer"
    if case == "unscored_concept":
        f["explanations"].write_text("neuron,method,concept\n0,A,zebra\n")
        return f, r"concept 'zebra' has no column in the concept scores"
    raise AssertionError(case)


BAD_CASES = [
    "shape",
    "nan",
    "inf",
    "dup_id",
    "missing_image",
    "neuron_range",
    "empty_concept",
    "long_concept",
    "probs_range",
    "missing_column",
    "bad_neuron",
    "unscored_concept",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_refused_and_nothing_written(rt: Runtime, tmp_path: Path, case: str) -> None:
    folder = tmp_path / f"bad_{case}"
    files, message = _mutate(folder, write_study_files(folder), case)
    before = _row_counts(rt)
    with pytest.raises(InputError, match=message):
        _create(rt, files, name="broken")
    assert _row_counts(rt) == before
    assert not (Path(rt.settings.data_dir) / "broken").exists()


def test_existing_name_is_refused(rt: Runtime, study_files: dict[str, Path]) -> None:
    _create(rt, study_files)
    before = _row_counts(rt)
    with pytest.raises(InputError, match="a study named 's1' already exists"):
        _create(rt, study_files)
    assert _row_counts(rt) == before


@pytest.mark.parametrize("name", ["", "../x", "a b", "-lead", "x" * 65])
def test_bad_study_name(rt: Runtime, study_files: dict[str, Path], name: str) -> None:
    with pytest.raises(InputError, match="study name"):
        _create(rt, study_files, name=name)
