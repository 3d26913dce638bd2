"""`turkops concepts ...`: concept probabilities from SigLIP/CLIP, and their calibration.

torch and open_clip are imported inside the commands that need them, so `turkops --help` and
every other command work without the `siglip` extra.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from turkops.cli.app import app
from turkops.cli.common import console, err_console, write_output
from turkops.concepts.calibration_mode import CalibrationMode
from turkops.domain import InputError

# numpy/scipy (calibration, files) load inside the commands: `turkops --help` stays fast.
if TYPE_CHECKING:
    from turkops.concepts.calibration import Calibration

concepts_app = typer.Typer(
    help=(
        "Concept probabilities from a cheap vision-language model (SigLIP/CLIP via open_clip): "
        "score images against concept texts, and fit the probability calibration."
    ),
    no_args_is_help=True,
)
app.add_typer(concepts_app, name="concepts")


class _RateColumn(ProgressColumn):
    """Images per second over the run so far (Rich's own speed column is windowed and jumpy)."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("-- img/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:,.1f} img/s", style="progress.data.speed")


def image_progress(enabled: bool = True) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,  # the summary line repeats the rate; an error line stands alone
        # No bar fragments in logs and pipes, and one bar per job (rank 0's) under torchrun.
        disable=not (enabled and err_console.is_terminal),
    )


def user_calibration(a: float | None, b: float | None, file: Path | None) -> Calibration | None:
    """Explicit constants from --calib-a/--calib-b or --calibration-file, if any."""
    from turkops.concepts.calibration import Calibration, CalibrationKind
    from turkops.concepts.files import read_calibration

    if file is not None:
        if a is not None or b is not None:
            raise InputError("give either --calibration-file or --calib-a/--calib-b, not both")
        return read_calibration(file)
    if (a is None) != (b is None):
        raise InputError("--calib-a and --calib-b go together")
    if a is None or b is None:
        return None
    return Calibration(CalibrationKind.USER, a, b, "given on the command line")


def _describe(cal: Calibration) -> str:
    return f"{cal.kind} a={cal.a:.6g} b={cal.b:.6g} ({cal.source})"


# Options shared by `score-files` and `score`.
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="open_clip model name, e.g. ViT-L-16-SigLIP-384 (the paper's prior) or "
        "ViT-SO400M-14-SigLIP-384.",
    ),
]
PretrainedOpt = Annotated[
    str,
    typer.Option(
        "--pretrained",
        help="Weights: a checkpoint file (.safetensors/.bin/.pt/.pth/.npz) or an open_clip tag "
        "such as webli (offline: only if the file is in the local HF cache).",
    ),
]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (CUDA if present), cpu or cuda[:N].")
]
PrecisionOpt = Annotated[
    str,
    typer.Option("--precision", help="auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16."),
]
BatchSizeOpt = Annotated[
    int, typer.Option("--batch-size", min=1, help="Images per model call (256 suits an H100).")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=0,
        help="DataLoader processes decoding images "
        "(default: CPUs - 2, at most 12, on CUDA; 0 on CPU).",
    ),
]
PromptOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--prompt",
        help="Prompt template with {} for the concept; repeat to average several. "
        "Default: the raw concept text, which the published calibration assumes.",
    ),
]
CompileOpt = Annotated[
    bool,
    typer.Option("--compile", help="torch.compile the image tower (pays off on long GPU runs)."),
]
CalibrationOpt = Annotated[
    CalibrationMode,
    typer.Option(
        "--calibration",
        help="auto: published constants for listed models, else the model's "
        "own logit_scale/logit_bias; or force published / model.",
    ),
]
CalibAOpt = Annotated[
    float | None,
    typer.Option("--calib-a", help="Explicit A of P = sigmoid(A (cos + B)); needs --calib-b."),
]
CalibBOpt = Annotated[float | None, typer.Option("--calib-b", help="Explicit B; needs --calib-a.")]
CalibrationFileOpt = Annotated[
    Path | None,
    typer.Option("--calibration-file", help="JSON from `turkops concepts calibrate --out`."),
]
ChunkSizeOpt = Annotated[
    int,
    typer.Option(
        "--chunk-size",
        min=1,
        help="Images per cache chunk: at most this many are redone after a crash.",
    ),
]
ModelConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-config",
        help="Extra open_clip model config JSON to register (model name = file stem).",
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace the concept probabilities even though the study has ratings "
        "(changes every bragg-model/ds-act result; recorded in the event log).",
    ),
]


@concepts_app.command("score-files")
def score_files(
    images: Annotated[
        Path,
        typer.Option(
            "--images", help="CSV with columns input_id,image; image paths relative to the CSV."
        ),
    ],
    concepts: Annotated[Path, typer.Option("--concepts", help="Text file, one concept per line.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output .npz: input_ids, concepts, probs (n_inputs, n_concepts) in [0,1], "
            "cosine, calibration (JSON), model.",
        ),
    ],
    model: ModelOpt,
    pretrained: PretrainedOpt,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    batch_size: BatchSizeOpt = 64,
    workers: WorkersOpt = None,
    prompt: PromptOpt = None,
    compile: CompileOpt = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir", help="Image-embedding cache (default: TURKOPS_DATA_DIR/embedding_cache)."
        ),
    ] = None,
    calibration: CalibrationOpt = CalibrationMode.AUTO,
    calib_a: CalibAOpt = None,
    calib_b: CalibBOpt = None,
    calibration_file: CalibrationFileOpt = None,
    preprocess_like: Annotated[
        str | None,
        typer.Option(
            "--preprocess-like",
            help="Pretrained tag whose preprocessing a local checkpoint uses "
            "(only needed when the model's tags disagree).",
        ),
    ] = None,
    model_config: ModelConfigOpt = None,
    chunk_size: ChunkSizeOpt = 4096,
) -> None:
    """Score every image of a CSV list against every concept; write an .npz of probabilities.

    Image embeddings are cached, so new concepts cost only text encoding and a rerun resumes.
    Started by torchrun, the processes split the images between them (docs/concepts.md).
    """
    from turkops.concepts.distributed import process_group, ranks_from_env
    from turkops.concepts.files import ScoresFile, read_concepts, read_image_list, write_scores
    from turkops.concepts.models import load_concept_model
    from turkops.concepts.scoring import default_workers
    from turkops.config import load_settings

    user = user_calibration(calib_a, calib_b, calibration_file)
    refs = read_image_list(images)
    concept_list = read_concepts(concepts)
    ranks = ranks_from_env()
    started = time.perf_counter()
    with process_group(ranks):
        cm = load_concept_model(
            model,
            pretrained,
            device=ranks.device(device),
            precision=precision,
            compile=compile,
            preprocess_like=preprocess_like,
            model_config=model_config,
        )
        cal = cm.calibration(calibration, user)
        root = (cache_dir if cache_dir is not None
                else load_settings().data_dir / "embedding_cache")
        n_workers = default_workers(cm.device) if workers is None else workers
        scorer, cache = cm.scorer(), cm.cache(root)
        pairs = [(r.sha256, r.path) for r in refs]
        with image_progress(enabled=ranks.is_main) as bar:
            task = bar.add_task("encoding images", total=None)

            def report(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            shard = None
            if ranks.distributed:
                # Every rank encodes its slice into the shared cache; rank 0 then scores
                # from the cache alone.
                shard = scorer.embed_shard(pairs, cache, ranks, batch_size=batch_size,
                                           workers=n_workers, chunk_size=chunk_size,
                                           progress=report if ranks.is_main else None)
                if not ranks.is_main:
                    return
            result = scorer.score(
                pairs,
                concept_list,
                cache,
                calibration=cal,
                batch_size=batch_size,
                workers=n_workers,
                prompts=tuple(prompt or ()) or ("{}",),
                progress=None if shard else report,
                chunk_size=chunk_size,
            )
    n_encoded = shard.n_encoded if shard else result.n_encoded
    n_cached = shard.n_cached if shard else result.n_cached
    seconds = shard.encode_seconds if shard else result.encode_seconds
    write_scores(
        out,
        ScoresFile(
            input_ids=tuple(r.input_id for r in refs),
            concepts=result.concepts,
            probs=result.probs,
            cosine=result.cosine,
            calibration=result.calibration,
            model=f"{cm.name} {cm.pretrained} {cm.cache_key.weights} {cm.precision}",
        ),
    )
    rate = f", {n_encoded / seconds:,.1f} img/s" if seconds > 0 else ""
    console.print(
        f"scored {len(refs)} images x {len(result.concepts)} concepts -> {out} "
        f"(encoded {n_encoded}, cached {n_cached}{rate}, "
        f"{time.perf_counter() - started:.1f} s)"
    )
    console.print(f"calibration: {_describe(result.calibration)}", highlight=False)


@concepts_app.command("calibrate")
def calibrate(
    scores: Annotated[
        Path,
        typer.Option(
            "--scores",
            help=".npz from `turkops concepts score-files` (uses its cosine, input_ids "
            "and concepts arrays).",
        ),
    ],
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            help="CSV with columns input_id,concept,label; label in [0, 1], "
            "1 = the concept is present.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the fitted calibration as JSON, for `score-files --calibration-file`.",
        ),
    ] = None,
) -> None:
    """Fit A, B of P = sigmoid(A (cos + B)) to labelled pairs by minimising cross-entropy."""
    from turkops.concepts.calibration import bce, fit_calibration
    from turkops.concepts.files import read_labels, read_scores, write_calibration

    data = read_scores(scores)
    if data.cosine is None:
        raise InputError(
            f"{scores} has no cosine array: rescore it with `turkops concepts "
            "score-files` (imported probabilities cannot be recalibrated)"
        )
    ii, jj, y = read_labels(labels, data)
    cos = data.cosine[ii, jj]
    fit = fit_calibration(
        cos, y, source=f"fitted on {labels.name} ({len(y)} pairs) for {data.model or scores.name}"
    )
    console.print(
        f"fitted on {fit.n} labelled pairs ({fit.n_positive:g} positive): "
        f"A = {fit.calibration.a:.6g}, B = {fit.calibration.b:.6g}, "
        f"BCE = {fit.bce:.4f} nats",
        highlight=False,
    )
    if data.calibration is not None:
        console.print(
            f"BCE of the calibration in {scores.name} ({data.calibration.kind} "
            f"A = {data.calibration.a:.6g}, B = {data.calibration.b:.6g}): "
            f"{bce(cos, y, data.calibration):.4f} nats",
            highlight=False,
        )
    if not fit.converged:
        err_console.print("warning: the optimiser did not report convergence")
    if out is not None:
        write_calibration(out, fit.calibration)
        console.print(f"wrote {out}")


@concepts_app.command("score")
def score_study_cmd(
    study: Annotated[str, typer.Argument(help="Study name.")],
    model: ModelOpt,
    pretrained: PretrainedOpt,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    batch_size: BatchSizeOpt = 64,
    workers: WorkersOpt = None,
    prompt: PromptOpt = None,
    compile: CompileOpt = False,
    calibration: CalibrationOpt = CalibrationMode.AUTO,
    calib_a: CalibAOpt = None,
    calib_b: CalibBOpt = None,
    calibration_file: CalibrationFileOpt = None,
    model_config: ModelConfigOpt = None,
    force: ForceOpt = False,
    chunk_size: ChunkSizeOpt = 4096,
) -> None:
    """Score every study image against every study concept and store the probabilities.

    Each image is encoded once and cached (TURKOPS_DATA_DIR/embedding_cache), so a rerun after
    an interruption resumes, and new concepts cost only text encoding. Started by torchrun,
    the processes split the images between them (docs/concepts.md).
    """
    from turkops.cli.common import runtime
    from turkops.concepts.distributed import process_group, ranks_from_env
    from turkops.concepts.models import load_concept_model
    from turkops.concepts.scoring import default_workers
    from turkops.services.concepts import score_study

    user = user_calibration(calib_a, calib_b, calibration_file)
    ranks = ranks_from_env()
    with process_group(ranks), runtime() as rt:
        cm = load_concept_model(
            model,
            pretrained,
            device=ranks.device(device),
            precision=precision,
            compile=compile,
            model_config=model_config,
        )
        with image_progress(enabled=ranks.is_main) as bar:
            task = bar.add_task("encoding images", total=None)
            summary = score_study(
                rt,
                study,
                cm,
                calibration=cm.calibration(calibration, user),
                cache_root=rt.settings.data_dir / "embedding_cache",
                batch_size=batch_size,
                workers=default_workers(cm.device) if workers is None else workers,
                prompts=tuple(prompt or ()) or ("{}",),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                force=force,
                ranks=ranks,
                chunk_size=chunk_size,
            )
    if summary is None:
        return
    console.print(
        f"stored probabilities for {summary.n_images} images x {summary.n_concepts} concepts "
        f"(encoded {summary.n_encoded}, from cache {summary.n_cached}); calibration "
        f"{summary.calibration}",
        highlight=False,
    )


@concepts_app.command("import")
def import_cmd(
    study: Annotated[str, typer.Argument(help="Study name.")],
    scores: Annotated[
        Path,
        typer.Option(
            "--scores",
            help=".npz with arrays concepts (n_concepts,) str and probs "
            "(n_inputs, n_concepts) in [0,1], rows in inputs.csv order.",
        ),
    ],
    force: ForceOpt = False,
) -> None:
    """Use concept probabilities you computed elsewhere (replaces any stored ones; refused
    once the study has ratings unless --force)."""
    from turkops.cli.common import runtime
    from turkops.services.concepts import import_scores

    with runtime() as rt:
        n = import_scores(rt, study, scores, force=force)
    console.print(f"imported probabilities for {n} concepts into {study}")


@concepts_app.command("auto-eval")
def auto_eval_cmd(
    study: Annotated[str, typer.Argument(help="Study name.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the scores as JSON.")
    ] = None,
) -> None:
    """SigLIP-only evaluation: correlation of each neuron with the model's concept probability
    over the whole probing set (the better buy below ~100 human ratings per pair)."""
    import json

    from rich.table import Table

    from turkops.cli.common import runtime
    from turkops.services.concepts import auto_evaluate

    with runtime() as rt:
        scores, methods = auto_evaluate(rt, study)
    table = Table("rank", "method", "mean corr", "± sem", "neurons", title="SigLIP-only evaluation")
    for m in methods:
        table.add_row(
            str(m.rank),
            m.method,
            "n/a" if m.mean is None else f"{m.mean:.3f}",
            "n/a" if m.sem is None else f"{m.sem:.3f}",
            str(m.n_neurons),
        )
    console.print(table)
    if json_out is not None:
        write_output(
            json_out,
            json.dumps(
                {
                    "pairs": [
                        {
                            "neuron": s.neuron,
                            "method": s.method,
                            "concept": s.concept,
                            "correlation": s.correlation,
                        }
                        for s in scores
                    ],
                    "methods": [
                        {"method": m.method, "mean": m.mean, "sem": m.sem, "n_neurons": m.n_neurons}
                        for m in methods
                    ],
                },
                indent=2,
            ),
        )
        console.print(f"wrote {json_out}")
