"""The root Typer app and the one place where TurkopsError becomes a message and an exit code."""

from __future__ import annotations

import logging
from typing import Any

import typer
from typer.core import TyperGroup

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
        "poll and approve, then collect BRAgg-aggregated correlation scores and a report."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log INFO messages to stderr."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
