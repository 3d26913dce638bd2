"""Helpers shared by command modules: building the runtime, consoles, progress bars, formats.

Nothing heavy is imported here at module level (no database, boto3, numpy or scipy): every
command module imports this one, and `turkops --help` must stay fast (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from turkops.domain import InputError

if TYPE_CHECKING:
    from turkops.wiring import Runtime

# Markup and emoji codes are off: study names, methods, concepts and worker ids are user text and
# must print literally ("[/oops]" would crash Rich, "[link=...]" would become a link, ":x:" an
# emoji). Our own styling is passed as Text/style objects instead of markup strings.
# Messages wrap at the terminal's width (80 columns when piped), so output stays readable in
# a narrow terminal; tests pin COLUMNS=80 (tests/conftest.py) and never depend on the width of
# the terminal that runs them. Errors are one line: the CLI prints them with typer.echo.
console = Console(markup=False, emoji=False)
err_console = Console(stderr=True, markup=False, emoji=False)


def write_output(path: Path, text: str) -> None:
    """Write a command's output file whole. Why a temporary file beside it and a rename: a kill
    in the middle leaves the old file or the new one, never half of it. Only a plain file (or a
    new one) is replaced that way: a device, a pipe or a symlink (`--out /dev/null`) is written
    in place, since a rename would put a plain file where it was. A folder that does not exist
    or cannot be written is a one-line error, not a traceback."""
    in_place = path.is_symlink() or (path.exists() and not path.is_file())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if in_place:
            path.write_text(text, encoding="utf-8")
            return
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def runtime() -> Iterator[Runtime]:
    from turkops.config import load_settings
    from turkops.wiring import open_runtime

    rt = open_runtime(load_settings())
    try:
        yield rt
    finally:
        rt.close()


def progress_bar() -> Progress:
    """A progress bar on stderr, so stdout stays clean for --format json/csv."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


def from_setting(variable: str, default: object) -> str:
    """Help-text tail of an option whose default is a setting (the settings are read at run
    time, never at import, so --help shows the built-in default)."""
    return f"Default: from {variable} ({default})."


class ProgressLines:
    """Plain progress lines on stderr for long loops that must also read well in logs and cron
    mail (no bar redraws): the first report, then at most one line every `seconds`."""

    def __init__(
        self,
        label: str,
        seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        out: Console | None = None,
    ) -> None:
        self.label = label
        self.seconds = seconds
        self.clock = clock
        self.out = out or err_console
        self.started = clock()
        self.last: float | None = None

    def __call__(self, done: int, total: int) -> None:
        if total == 0:
            return  # nothing to do: a quiet cron pass stays quiet
        now = self.clock()
        if self.last is not None and now - self.last < self.seconds:
            return
        self.last = now
        self.out.print(
            f"{self.label}: {done}/{total} ({now - self.started:.0f} s)", highlight=False
        )


def compact_table(
    *columns: tuple[str, bool], title: str | None = None, tight: bool = False
) -> Table:
    """A table that fits 80 columns: no outer frame or vertical rules, two spaces between
    columns (tight: one, for wide numeric grids).

    columns: (header, wraps). Text columns (names, concepts) wrap; numbers, intervals and
    statuses never wrap or shorten to "…", so they stay whole in a narrow terminal or a pipe.
    """
    table = Table(
        box=box.SIMPLE_HEAD,
        title=title,
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        padding=(0, 0) if tight else (0, 1, 0, 0),  # the box's blank divider adds one more
    )
    for header, wraps in columns:
        table.add_column(
            header,
            no_wrap=not wraps,
            overflow="fold",
            justify="left" if wraps else "right",
        )
    return table
