"""Issue 10 item 3: the test command provides its own PostgreSQL and browser, or fails loudly.

scripts/test_services.sh is what scripts/test.sh runs before pytest; these tests run it for real
(a throwaway PostgreSQL cluster on a free port) and check that a missing service makes the
database and browser tests fail, never skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "test_services.sh"
DEAD_PG = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def services(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHON": sys.executable, **env}
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), *args], cwd=ROOT, env=full_env, capture_output=True,
        text=True, timeout=300, check=False,
    )


def answers(url: str) -> str | None:
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT current_database()")).scalar())
    except OperationalError:
        return None
    finally:
        engine.dispose()


def test_a_throwaway_postgres_starts_answers_and_is_removed(tmp_path: Path) -> None:
    started = services("postgres-start", str(tmp_path))
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    try:
        assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
        assert not url.endswith(":5432/test")  # its own free port, not the shared server's
        assert answers(url) == "test"
    finally:
        stopped = services("postgres-stop", str(tmp_path))
    assert stopped.returncode == 0, stopped.stderr
    assert answers(url) is None
    assert not (tmp_path / "pg").exists()


def test_ensure_starts_one_only_when_none_answers(tmp_path: Path) -> None:
    existing = services("postgres-ensure", str(tmp_path), TURKOPS_TEST_PG_URL=PG_URL)
    assert existing.returncode == 0, existing.stderr
    assert existing.stdout.strip() == PG_URL and not (tmp_path / "pg").exists()

    fresh = services("postgres-ensure", str(tmp_path), TURKOPS_TEST_PG_URL=DEAD_PG)
    try:
        assert fresh.returncode == 0, fresh.stderr
        assert "starting a throwaway cluster" in fresh.stderr
        assert answers(fresh.stdout.strip()) == "test"
    finally:
        services("postgres-stop", str(tmp_path))


def test_no_postgres_and_no_way_to_install_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = services(
        "postgres-ensure", str(tmp_path), TURKOPS_TEST_PG_URL=DEAD_PG,
        TURKOPS_PG_BINDIR=str(tmp_path / "no-postgres"), TURKOPS_TEST_NO_INSTALL="1",
    )
    assert result.returncode == 1 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("test_services: postgresql is missing") and "install" in last


def test_not_root_cannot_install_and_says_so() -> None:
    # As root, run the script as `nobody`; PYTHON is a stand-in that reports "no answer" (the
    # real interpreter may be unreadable to nobody), so the script must try to install. The
    # folder is a fresh one under /tmp: pytest's own tmp folders are closed to other users.
    with tempfile.TemporaryDirectory() as name:
        _run_as_nobody(Path(name))


def _run_as_nobody(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexit 1\n")
    fake_python.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake_python), "TURKOPS_TEST_PG_URL": DEAD_PG,
           "TURKOPS_PG_BINDIR": str(tmp_path / "no-postgres")}
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*as_user, "/bin/bash", str(SCRIPT), "postgres-ensure", str(tmp_path / "svc")],
        cwd="/", env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "test_services: postgresql is missing and installing it needs root: run "
        "'apt-get install postgresql' as root"
    )


def test_no_registry_is_one_line_and_exit_1(tmp_path: Path) -> None:
    # An apt-get that cannot reach any registry (what a machine without network sees).
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "apt-get").write_text("#!/bin/sh\necho 'E: unable to fetch' >&2\nexit 100\n")
    (fake_bin / "apt-get").chmod(0o755)
    if os.geteuid() != 0:
        # Not root, the script would stop earlier with the "needs root" line (tested above).
        (fake_bin / "id").write_text("#!/bin/sh\necho 0\n")
        (fake_bin / "id").chmod(0o755)
    result = services(
        "postgres-ensure", str(tmp_path / "svc"), TURKOPS_TEST_PG_URL=DEAD_PG,
        TURKOPS_PG_BINDIR=str(tmp_path / "no-postgres"),
        PATH=f"{fake_bin}:/usr/local/bin:/usr/bin:/bin",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "test_services: postgresql is missing and 'apt-get install postgresql' failed "
        "(no package registry reachable?)"
    )


def test_no_browser_and_no_way_to_install_is_one_line_and_exit_1() -> None:
    result = services("browser", PATH="/nonexistent", TURKOPS_TEST_NO_INSTALL="1")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("test_services: chromium/chromedriver")
    assert len(result.stderr.strip().splitlines()) == 1


def _pytest_outcome(test: str, **env: str) -> tuple[str, str]:
    """(summary line, full output) of one test run in a child pytest."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", test],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, capture_output=True,
        text=True, timeout=300, check=False,
    )
    assert result.returncode != 0, result.stdout
    return result.stdout.strip().splitlines()[-1], result.stdout


def test_database_tests_fail_not_skip_without_postgres() -> None:
    summary, output = _pytest_outcome(
        "tests/cli/test_cli_study.py::test_study_create_list_show[postgres]",
        TURKOPS_TEST_PG_URL=DEAD_PG,
    )
    assert "skipped" not in summary and ("error" in summary or "failed" in summary), summary
    assert "OperationalError" in output and "port 1 failed" in output


def test_browser_tests_fail_not_skip_without_a_browser() -> None:
    summary, output = _pytest_outcome(
        "tests/browser/test_report.py::test_report_renders[sqlite]", PATH="/nonexistent"
    )
    assert "skipped" not in summary and ("error" in summary or "failed" in summary), summary
    assert "install Debian's chromium and chromium-driver" in output
