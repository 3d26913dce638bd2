"""Issue 10 item 21: one way to write p-values and intervals (collect, report, simulate), the
names the CLI shows without numpy, and poll's progress lines."""

from __future__ import annotations

import os
import stat
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from turkops.cli import results
from turkops.cli.common import ProgressLines, console
from turkops.formatting import fmt_interval, fmt_num, fmt_p
from turkops.services.collect import CollectResult, ExplanationScore, MethodScore
from turkops.stats import names
from turkops.stats.strategies import AGGREGATORS


def test_small_p_values_print_as_below_the_floor() -> None:
    assert fmt_p(3e-9) == "< 0.0001"
    assert fmt_p(0.0) == "< 0.0001"
    assert fmt_p(0.0001) == "0.0001"
    assert fmt_p(0.04567) == "0.0457"
    assert fmt_p(None) == "n/a" and fmt_p(float("nan")) == "n/a"


def test_numbers_and_intervals() -> None:
    assert fmt_num(0.12345) == "0.123" and fmt_num(None, missing="-") == "-"
    assert fmt_num(float("nan")) == "n/a"
    assert fmt_interval(-0.123, 0.987) == "[-0.12, 0.99]"
    assert fmt_interval(None, 0.5) == "n/a"


def test_collect_table_prints_tiny_p_values_as_below_the_floor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = CollectResult(
        study="s",
        schema_version=1,
        aggregations=["bragg-model"],
        eta=0.23,
        eta_source="fixed",
        beta=0.05,
        completeness={"images_rated": 1, "images_sampled": 1},
        pairs=[
            ExplanationScore(
                "bragg-model", 0, "A", "red", 0.5, 0.1, 0.9, 0.1, 10, 10, 30, 9.0, 0.23, None
            )
        ],
        methods=[
            MethodScore("bragg-model", "A", 0.5, 0.01, 40, 1, None, None, 0),
            MethodScore("bragg-model", "B", 0.1, 0.01, 40, 2, 2e-12, 3e-7, 40, p_holm=6e-7),
        ],
        money_spent=Decimal("1.00"),
    )
    width = console.width
    console.width = 80
    try:
        results._print_tables(result)
    finally:
        console.width = width
    out = capsys.readouterr().out
    assert "0.0000" not in out
    assert out.count("< 0.0001") == 2


def test_cli_names_are_the_statistics_core_names() -> None:
    assert names.AGGREGATOR_NAMES == tuple(AGGREGATORS)
    # The simulator knows AGGREGATORS and ma-act (computed from the probing set, not labels).
    assert names.SIMULATOR_AGGREGATORS == (*AGGREGATORS, names.MA_ACT)
    assert set(names.DEFAULT_AGGREGATORS) <= set(names.SIMULATOR_AGGREGATORS)
    assert names.TURKOPS_AGGREGATOR in names.SIMULATOR_AGGREGATORS


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_first_report_then_at_most_one_per_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = _Clock()
    lines = ProgressLines("poll: HITs reviewed", seconds=5.0, clock=clock)
    lines(0, 0)  # nothing to review: silent
    lines(0, 1756)
    for done in range(1, 40):
        clock.now += 0.5
        lines(done, 1756)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "poll: HITs reviewed: 0/1756 (0 s)"
    assert len(err) == 4  # at 0, 5, 10 and 15 s of the 19.5 s
    assert err[-1] == "poll: HITs reviewed: 30/1756 (15 s)"


def test_output_files_are_written_whole_or_refused_in_one_line(tmp_path: Path) -> None:
    from turkops.cli.common import write_output
    from turkops.domain import InputError

    out = tmp_path / "r.csv"
    out.write_text("old\n")
    write_output(out, "a,b\n1,2\n")
    assert out.read_text() == "a,b\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left behind
    with pytest.raises(InputError, match=r"missing/r\.csv: cannot write \(No such file"):
        write_output(tmp_path / "missing" / "r.csv", "x\n")
    assert not (tmp_path / "missing").exists()
    # Not a plain file: written in place, never replaced by one (a rename once turned
    # /dev/null into a plain file when a test wrote `--out /dev/null`).
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        write_output(fifo, "through the pipe\n")
        assert reader.communicate(timeout=10)[0] == b"through the pipe\n"
    finally:
        reader.kill()
        reader.wait()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_output(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    write_output(Path(os.devnull), "discarded\n")
    assert stat.S_ISCHR(Path(os.devnull).stat().st_mode)
