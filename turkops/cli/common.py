"""Helpers shared by command modules: building the runtime, consoles, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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

from turkops.config import load_settings
from turkops.wiring import Runtime, open_runtime

# soft_wrap: a message is one line at any terminal width (or piped), so it can be grepped and
# tested; tables still lay themselves out to the width.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@contextmanager
def runtime() -> Iterator[Runtime]:
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
