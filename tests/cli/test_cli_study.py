"""The CLI shell: help everywhere, study commands, one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from turkops.cli import app

runner = CliRunner()


def _all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_every_command_has_help() -> None:
    paths = _all_command_paths()
    assert ["study", "create"] in paths and ["db", "upgrade"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output
        # Each subcommand explains itself beyond the usage line.
        assert len(result.output.strip().splitlines()) > 3, path


def test_study_create_list_show(
    study_files: dict[str, Path], db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", db_url)
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(tmp_path / "data"))
    args = [
        "study",
        "create",
        "cli1",
        "--inputs",
        str(study_files["inputs"]),
        "--activations",
        str(study_files["activations"]),
        "--explanations",
        str(study_files["explanations"]),
        "--concept-scores",
        str(study_files["scores"]),
    ]
    created = runner.invoke(app, args)
    assert created.exit_code == 0, created.output
    assert "created study cli1" in created.output
    listed = runner.invoke(app, ["study", "list"])
    assert listed.exit_code == 0 and "cli1" in listed.output
    shown = runner.invoke(app, ["study", "show", "cli1"])
    assert shown.exit_code == 0
    assert "5 from 2 method(s)" in shown.output
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert again.output.strip().splitlines() == [
        "error: a study named 'cli1' already exists (see `turkops study list`)"
    ]


def test_unknown_study_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite'}")
    result = runner.invoke(app, ["study", "show", "nope"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: no study named 'nope' (no studies yet)"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURKOPS_ENDPOINT", "ftp://nope")
    result = runner.invoke(app, ["study", "list"])
    assert result.exit_code == 2
    assert result.output.startswith("error: TURKOPS_ENDPOINT:")


def test_db_upgrade(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'y.sqlite'}")
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0 and "upgraded" in first.output
    second = runner.invoke(app, ["db", "upgrade"])
    assert "already at head" in second.output


@pytest.mark.parametrize("columns", ["80", "200"])
def test_messages_are_one_line_at_any_width(
    columns: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Issue 10 item 2: a short message is one line whatever the terminal (or a pipe's 80);
    # longer ones wrap at the width to stay readable at 80 columns (test_first_hour.py).
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setenv("TURKOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'w.sqlite'}")
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0 and first.output == "database upgraded to head\n"
    second = runner.invoke(app, ["db", "upgrade"])
    assert second.output == "database already at head\n"
