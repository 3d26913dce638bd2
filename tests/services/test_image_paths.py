"""Issue 10 items 5 and 17: image paths stay in the inputs CSV's folder, and are real images.

`study create` refuses traversal, absolute paths and symlinks leaving the folder (unless
--allow-outside-paths), files that are not images and decompression bombs: exit 2, one line,
nothing written. `turkops report` skips a bomb's thumbnail with a note instead of crashing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import write_study_files
from turkops.cli import app
from turkops.db.models import Input, Study
from turkops.services.collect import CollectOptions
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.wiring import Runtime

runner = CliRunner()


def write_png(path: Path, width: int, height: int) -> Path:
    """A real PNG of width x height 1-bit pixels: a few KB on disk, huge once decoded."""
    Image.new("1", (width, height)).save(path)
    return path


def _create(files: dict[str, Path], *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "study", "create", "st",
            "--inputs", str(files["inputs"]),
            "--activations", str(files["activations"]),
            "--explanations", str(files["explanations"]),
            *extra,
        ],
    )
    return result.exit_code, result.output


def _set_image(files: dict[str, Path], row: int, image: str) -> None:
    lines = files["inputs"].read_text().splitlines()
    lines[row + 1] = f"in{row},{image}"
    files["inputs"].write_text("\n".join(lines) + "\n")


def _nothing_written(db_url: str, data_dir: Path) -> None:
    from turkops.config import Settings
    from turkops.wiring import open_runtime

    rt = open_runtime(Settings(database_url=db_url, data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    try:
        with rt.transaction() as repo:
            assert repo.session.scalar(select(func.count()).select_from(Study)) == 0
            assert repo.session.scalar(select(func.count()).select_from(Input)) == 0
    finally:
        rt.close()
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", db_url)
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(tmp_path / "data"))
    return db_url, tmp_path / "data"


def _outside_cases(tmp_path: Path, folder: Path) -> list[tuple[str, str]]:
    """(image as written in inputs.csv, why) for paths that leave the CSV's folder."""
    outside = write_png(tmp_path / "outside.png", 8, 8)
    (folder / "img" / "link_out.png").symlink_to(outside)
    (folder / "img" / "link_passwd").symlink_to("/etc/passwd")
    (folder / "img" / "dir_link").symlink_to(tmp_path)
    return [
        ("../../../../../../../../etc/passwd", "traversal"),
        ("/etc/passwd", "absolute"),
        (str(outside), "absolute image"),
        ("../outside.png", "dot-dot image"),
        ("img/../../outside.png", "dot-dot in the middle"),
        ("img/link_out.png", "symlink to an image outside"),
        ("img/link_passwd", "symlink to /etc/passwd"),
        ("img/dir_link/outside.png", "symlinked folder"),
    ]


def test_paths_leaving_the_csv_folder_are_refused(
    env: tuple[str, Path], tmp_path: Path
) -> None:
    db_url, data_dir = env
    files = write_study_files(tmp_path / "files")
    for image, why in _outside_cases(tmp_path, tmp_path / "files"):
        _set_image(files, 3, image)
        code, output = _create(files)
        assert code == 2, (why, output)
        assert output.count("\n") == 1 and output.startswith("error: "), (why, output)
        assert "line 5" in output and "outside the CSV's folder" in output, (why, output)
        assert "--allow-outside-paths" in output
        _nothing_written(db_url, data_dir)


def test_allow_outside_paths_accepts_images_but_not_other_files(
    env: tuple[str, Path], tmp_path: Path
) -> None:
    files = write_study_files(tmp_path / "files")
    outside = write_png(tmp_path / "outside.png", 8, 8)
    _set_image(files, 3, "/etc/passwd")
    code, output = _create(files, "--allow-outside-paths")
    assert code == 2 and "not an image" in output and output.count("\n") == 1, output
    _set_image(files, 3, str(outside))
    code, output = _create(files, "--allow-outside-paths")
    assert code == 0, output
    assert "created study st" in output


@pytest.mark.parametrize(
    ("size", "why"),
    [((14000, 14000), "decompression bomb"), ((8000, 8000), "megapixels allowed")],
)
def test_decompression_bombs_are_refused(
    size: tuple[int, int], why: str, env: tuple[str, Path], tmp_path: Path
) -> None:
    db_url, data_dir = env
    files = write_study_files(tmp_path / "files")
    write_png(tmp_path / "files" / "img" / "3.png", *size)
    code, output = _create(files)
    assert code == 2, output
    assert output.count("\n") == 1 and "line 5" in output and why in output, output
    _nothing_written(db_url, data_dir)


def test_a_file_that_is_not_an_image_is_refused(env: tuple[str, Path], tmp_path: Path) -> None:
    db_url, data_dir = env
    files = write_study_files(tmp_path / "files")
    (tmp_path / "files" / "img" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    code, output = _create(files)
    assert code == 2 and output.count("\n") == 1 and "line 5" in output, output
    _nothing_written(db_url, data_dir)


def test_report_skips_a_bomb_thumbnail_with_a_note(
    mrt: Runtime, sampled: str, tmp_path: Path
) -> None:
    from turkops.report.html import build_report

    launch_study(mrt, sampled, LaunchOptions(raters=3))
    deadline = time.monotonic() + 60
    while not poll_study(mrt, sampled).complete:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # The files change on disk after `study create`: every image becomes a 196 MP PNG.
    bomb = write_png(tmp_path / "bomb.png", 14000, 14000).read_bytes()
    for png in (tmp_path / "files" / "img").glob("*.png"):
        png.write_bytes(bomb)
    html = build_report(mrt, sampled, CollectOptions(n_boot=20, hash_workers=True))
    assert "no thumbnail: refused as a decompression bomb" in html
    assert "data:image/png;base64" in html  # the method chart is still there
