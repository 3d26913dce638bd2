"""The root Typer app and the one place where TurkopsError becomes a message and an exit code."""

from __future__ import annotations

import logging
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption

from turkops import __version__
from turkops.domain import TurkopsError


class _TurkopsGroup(TyperGroup):
    """Maps every TurkopsError raised by any (sub)command to one line on stderr + its exit code.

    Sub-commands run inside the root group's invoke(), so catching here covers all of them, and
    Typer's CliRunner sees the same exit code a shell would.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TurkopsError as exc:
            typer.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


app = typer.Typer(
    cls=_TurkopsGroup,
    help=(
        "turkops: crowdsourced evaluation of neuron explanations.\n\n"
        "Create a study from activations + explanations + images, score concepts with SigLIP, "
        "sample images with MG-IS, launch HITs on MTurk (or the offline local marketplace), "
        "poll and approve, then collect correlation scores with intervals and a report."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    """Help's type column for an option: none for a flag (--dry-run takes no value).

    Typer 0.29 writes `<bool>` after every flag, --help included, which reads as if the flag
    took a value; patched here, once, so every command's flags are fixed alike.
    """
    if self.is_flag:
        return None
    return _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"turkops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log INFO messages to stderr."),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the turkops version and exit.",
    ),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
