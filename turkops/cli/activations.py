"""`turkops activations ...`: a vision model's layer activations on the probing images.

torch, torchvision, timm and open_clip are imported inside the commands, so `turkops --help`
and every other command start without them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from turkops.activations.spec import ExtractionSpec, Pool, Token, parse_model
from turkops.cli.app import app
from turkops.cli.common import console

activations_app = typer.Typer(
    help="Activations of a torchvision / timm / open_clip vision model's layer on the probing "
    "images, in the study format (n_inputs, n_neurons).",
    no_args_is_help=True,
)
app.add_typer(activations_app, name="activations")

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="FAMILY:NAME with FAMILY torchvision, timm or open_clip, e.g. torchvision:resnet50, "
        "timm:vit_base_patch16_224, open_clip:ViT-B-16.",
    ),
]
ModelConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-config",
        help="Extra open_clip model config JSON to register (model name = file stem).",
    ),
]


@activations_app.command("extract")
def extract_cmd(
    model: ModelOpt,
    weights: Annotated[
        Path,
        typer.Option(
            "--weights",
            help="Local weights file: a state dict (.pth/.pt/.bin) or .safetensors; for "
            "open_clip also a pretrained tag already in the local HF cache. Never downloaded.",
        ),
    ],
    layer: Annotated[
        str,
        typer.Option(
            "--layer",
            help="Module name as in model.named_modules(), e.g. layer4 (ResNet), blocks.11 "
            "(timm ViT); list them with `turkops activations layers`.",
        ),
    ],
    inputs: Annotated[
        Path,
        typer.Option("--inputs", help="inputs.csv (input_id,image), as for `study create`."),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Output .npy: float32 (n_inputs, n_neurons), rows in "
                     "inputs.csv order."),
    ],
    pool: Annotated[
        Pool, typer.Option("--pool", help="How conv maps (C, H, W) become C values.")
    ] = Pool.MEAN,
    token: Annotated[
        Token | None,
        typer.Option(
            "--token",
            help="How token sequences (T, D) become D values: the class token or the mean of "
            "the patch tokens (default: cls if the model has one, else mean).",
        ),
    ] = None,
    neurons: Annotated[
        str | None,
        typer.Option("--neurons", help="Keep these channels: START:STOP, a comma list or one "
                     "index (default: all)."),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="auto (CUDA if present), cpu or cuda[:N].")
    ] = "auto",
    precision: Annotated[
        str,
        typer.Option("--precision", help="auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or "
                     "bf16."),
    ] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per model "
                                            "call.")] = 64,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=0, help="DataLoader processes decoding images "
                     "(default: CPUs - 2, at most 12, on CUDA; 0 on CPU)."),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Activation cache, on a filesystem all ranks share "
                     "(default: activation_cache in the data dir)."),
    ] = None,
    chunk_size: Annotated[
        int,
        typer.Option("--chunk-size", min=1, help="Images per cache chunk: at most this many "
                     "are redone after a crash."),
    ] = 4096,
    model_config: ModelConfigOpt = None,
    preprocess_like: Annotated[
        str | None,
        typer.Option(
            "--preprocess-like",
            help="open_clip: the pretrained tag whose preprocessing the weights file uses "
            "(needed when the model's tags disagree, e.g. ViT-B-16: openai, laion2b_s34b_b88k).",
        ),
    ] = None,
) -> None:
    """Run the images of inputs.csv through the model and save one layer's activations.

    Cached per image, so an interrupted run resumes. Started by torchrun, the processes split
    the images between them (docs/concepts.md).
    """
    from turkops.activations.extract import extract_activations
    from turkops.cli.concepts import image_progress
    from turkops.concepts.distributed import process_group, ranks_from_env
    from turkops.config import load_settings

    spec = ExtractionSpec(parse_model(model), weights, layer, pool, token, neurons,
                          preprocess_like)
    root = cache_dir if cache_dir is not None else load_settings().data_dir / "activation_cache"
    ranks = ranks_from_env()
    started = time.perf_counter()
    with process_group(ranks), image_progress(enabled=ranks.is_main) as bar:
        task = bar.add_task("extracting", total=None)
        summary = extract_activations(
            spec, inputs, out, cache_root=root, device=device, precision=precision,
            batch_size=batch_size, workers=workers, chunk_size=chunk_size,
            model_config=model_config, ranks=ranks,
            progress=(lambda done, total: bar.update(task, completed=done, total=total))
            if ranks.is_main else None,
        )
    if summary is None:
        return
    rate = (f", {summary.n_encoded / summary.encode_seconds:,.1f} img/s"
            if summary.encode_seconds > 0 else "")
    console.print(
        f"wrote {out}: {summary.n_images} images x {summary.n_neurons} neurons "
        f"(of {summary.n_channels}) from {summary.model} {summary.layer} "
        f"(encoded {summary.n_encoded}, cached {summary.n_cached}{rate}, "
        f"{time.perf_counter() - started:.1f} s)",
        highlight=False,
    )


@activations_app.command("layers")
def layers_cmd(
    model: ModelOpt,
    contains: Annotated[
        str | None, typer.Option("--contains", help="Only names containing this text.")
    ] = None,
    model_config: ModelConfigOpt = None,
) -> None:
    """List the module names of a model (built with random weights; nothing is downloaded)."""
    from turkops.activations.models import layer_names

    for name, kind in layer_names(parse_model(model), model_config=model_config):
        if contains is None or contains in name:
            console.print(f"{name}  {kind}", highlight=False)
