"""`turkops study ...` and `turkops db ...`: create and inspect studies, migrate the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from turkops.cli.app import app
from turkops.cli.common import compact_table, console, runtime
from turkops.domain import InputError

if TYPE_CHECKING:
    from turkops.services.studies import StudySummary

study_app = typer.Typer(help="Create and inspect studies (inputs, activations, explanations).")
db_app = typer.Typer(help="Manage the study database (TURKOPS_DATABASE_URL).")
app.add_typer(study_app, name="study")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending Alembic migrations (every command also does this on first use)."""
    from turkops.config import load_settings
    from turkops.db.engine import make_engine, upgrade_database

    engine = make_engine(load_settings().database_url)
    try:
        applied = upgrade_database(engine)
    finally:
        engine.dispose()
    console.print("database upgraded to head" if applied else "database already at head")


@study_app.command("create")
def study_create(
    name: str = typer.Argument(..., help="Study name: letters, digits, '_', '.', '-'."),
    inputs: Path = typer.Option(
        ...,
        "--inputs",
        help="inputs.csv with columns input_id,image (path relative to the CSV "
        "or http(s) URL); row i is row i of the activations.",
    ),
    activations: Path | None = typer.Option(
        None, "--activations", help=".npy float array (n_inputs, n_neurons)."
    ),
    explanations: Path = typer.Option(
        ..., "--explanations", help="explanations.csv with columns neuron,method,concept."
    ),
    concept_scores: Path | None = typer.Option(
        None,
        "--concept-scores",
        help=".npz with arrays concepts (n_concepts,) and probs (n_inputs, n_concepts) in "
        "[0,1]; needed for MG-IS and the BRAgg model prior (or run `turkops concepts score`).",
    ),
    activations_from_model: str | None = typer.Option(
        None,
        "--activations-from-model",
        help="Instead of --activations, extract them now from a model: "
        "MODEL,weights=PATH,layer=NAME with optional ,pool= ,token= ,neurons= "
        ",preprocess_like= as in `turkops activations extract` (README has an example); "
        "the array is kept in the data dir's activations folder.",
    ),
    allow_outside_paths: bool = typer.Option(
        False,
        "--allow-outside-paths",
        help="Accept local images outside the inputs CSV's folder (absolute paths, '..', "
        "symlinks). They are shown to raters and uploaded, so only for files you trust.",
    ),
) -> None:
    """Create a study from the probing set, activations and explanations (checked first)."""
    from turkops.services.studies import create_study

    if (activations is None) == (activations_from_model is None):
        raise InputError("give either --activations or --activations-from-model")
    if activations_from_model is not None:
        activations = _extract_for_study(name, inputs, activations_from_model)
    assert activations is not None
    with runtime() as rt:
        summary = create_study(
            rt, name, inputs, activations, explanations, concept_scores, allow_outside_paths
        )
    console.print(Text.assemble("created study ", (name, "bold")))
    _print_summary(summary)


def _extract_for_study(name: str, inputs: Path, spec_text: str) -> Path:
    from turkops.activations.extract import extract_activations
    from turkops.activations.spec import parse_extraction
    from turkops.cli.concepts import image_progress
    from turkops.config import load_settings
    from turkops.services.studies import validate_name

    validate_name(name)
    spec = parse_extraction(spec_text)
    data_dir = load_settings().data_dir
    out = Path(data_dir) / "activations" / f"{name}.npy"
    with image_progress() as bar:
        task = bar.add_task("extracting activations", total=None)
        summary = extract_activations(
            spec, inputs, out, cache_root=Path(data_dir) / "activation_cache",
            progress=lambda done, total: bar.update(task, completed=done, total=total))
    assert summary is not None
    console.print(f"extracted {summary.n_images} x {summary.n_neurons} activations from "
                  f"{summary.model} {summary.layer} -> {out}", highlight=False)
    return out


@study_app.command("list")
def study_list() -> None:
    """List studies with their status and progress."""
    from turkops.services.studies import list_studies

    with runtime() as rt:
        studies = list_studies(rt)
    if not studies:
        console.print("no studies yet: create one with `turkops study create`")
        return
    # Names wrap; statuses and counts stay whole at 80 columns and in pipes.
    table = compact_table(
        ("name", True),
        ("status", False),
        *((h, False) for h in ("inputs", "neurons", "pairs", "methods", "samples", "ratings")),
        ("paid USD", False),
    )
    for s in studies:
        table.add_row(
            s.name,
            s.status,
            str(s.n_inputs),
            str(s.n_neurons),
            str(s.n_pairs),
            str(s.n_methods),
            str(s.n_samples),
            str(s.n_ratings),
            f"{s.paid:.2f}",
        )
    console.print(table)


@study_app.command("show")
def study_show(name: str = typer.Argument(..., help="Study name.")) -> None:
    """Show a study's counts, sampling, HITs, ratings and money spent so far."""
    from turkops.services.studies import show_study

    with runtime() as rt:
        summary = show_study(rt, name)
    _print_summary(summary)


def _print_summary(s: StudySummary) -> None:
    table = Table(show_header=False)
    rows = [
        ("study", s.name),
        ("status", s.status),
        ("created", s.created_at),
        ("inputs", str(s.n_inputs)),
        ("neurons", str(s.n_neurons)),
        ("explanations", f"{s.n_explanations} from {s.n_methods} method(s)"),
        ("pairs (neuron, concept)", str(s.n_pairs)),
        ("concept scores", "yes" if s.has_concept_scores else "no"),
        ("sampling", s.sampling or "not sampled yet"),
        ("samples", str(s.n_samples)),
        ("HITs", ", ".join(f"{k} {v}" for k, v in sorted(s.hits.items())) or "none"),
        ("assignments", ", ".join(f"{k} {v}" for k, v in sorted(s.assignments.items())) or "none"),
        ("ratings", str(s.n_ratings)),
        ("paid so far", f"${s.paid:.2f}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
