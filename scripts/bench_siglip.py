"""Concept-scoring speed: model-only throughput vs end to end (JPEG decode + resize + encode).

Random weights (speed does not depend on them), synthetic JPEGs at ImageNet sizes written to a
temporary folder. For each model it measures, in the same run:

- model only: the image tower on a device-resident random batch, fp32 / bf16 autocast /
  bf16 autocast + torch.compile, after warm-up, synchronised timing;
- loader only: how fast the DataLoader workers decode + resize (no model), to show which side
  limits the end-to-end figure;
- end to end: SiglipScorer.embed_images on the JPEG files with a fresh on-disk embedding cache,
  i.e. exactly what `turkops concepts score-files` does (workers, pinned memory, uint8 transfer,
  device-side normalisation, deferred copies, cache writes), in the precision/compile setting of
  the last model-only variant.

Then, on the same JPEGs, activation extraction (issue 13) for each of --activation-models
(default: torchvision:resnet50 layer4 and open_clip:ViT-B-16 block 11, random weights saved to a
temporary file): model only (forward up to the hooked layer, device-resident batch) and end to
end (`turkops activations extract`'s engine with a fresh cache), in the last variant's precision.

GPU:  .venv/bin/python scripts/bench_siglip.py --json-out bench_siglip.json
CPU smoke test (tiny configs, seconds):
      .venv/bin/python scripts/bench_siglip.py --tiny --device cpu --variants fp32 \
          --images 256 --batch-size 32 --workers 1 --model-iters 5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

DEFAULT_MODELS = "ViT-SO400M-14-SigLIP-384,ViT-L-16-SigLIP-384"
DEFAULT_ACTIVATION_MODELS = ("torchvision:resnet50=layer4,"
                             "open_clip:ViT-B-16=visual.transformer.resblocks.11")
TINY_ACTIVATION_MODELS = "timm:test_resnet=layer4,timm:test_vit=blocks.5"
# Common ImageNet sizes (the 500x375 landscape dominates); sampled with these weights.
IMAGENET_SIZES = [(500, 375), (375, 500), (500, 333), (500, 400), (500, 500), (333, 500)]
SIZE_WEIGHTS = [0.55, 0.15, 0.12, 0.08, 0.05, 0.05]
TINY_NAME = "bench-tiny"
TINY_CONFIG = {
    "embed_dim": 64,
    "init_logit_bias": -10,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                   "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2,
                 "layers": 1},
}


def _write_jpeg(job: tuple[int, int, int, str]) -> int:
    seed, w, h, path = job
    rng = np.random.default_rng(seed)
    # Smooth colour field + noise: ~100 KB at 500x375 and q=90, near ImageNet's ~110-130 KB
    # average; pure noise would make huge JPEGs and unrealistically slow decoding.
    small = Image.fromarray(rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8))
    base = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    noisy = np.clip(base + rng.normal(0, 24, size=base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(path, quality=90)
    return os.path.getsize(path)


def make_jpegs(folder: Path, n: int, seed: int = 0) -> tuple[list[Path], float]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(IMAGENET_SIZES), size=n, p=SIZE_WEIGHTS)
    jobs = [(seed * 1_000_003 + i, *IMAGENET_SIZES[k], str(folder / f"img{i:06d}.jpg"))
            for i, k in enumerate(picks)]
    with mp.get_context("fork").Pool(max(1, (os.cpu_count() or 2) - 1)) as pool:
        sizes = pool.map(_write_jpeg, jobs, chunksize=64)
    return [Path(j[3]) for j in jobs], float(np.mean(sizes))


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_only(model: Any, device: Any, image_size: int, batch: int, variant: str,
               warmup: int, iters: int) -> dict[str, float]:
    import torch

    visual = model.visual
    fn = torch.compile(visual) if variant.endswith("+compile") else visual
    dtype_ctx = torch.autocast(device.type, dtype=torch.bfloat16,
                               enabled=variant.startswith("bf16"))
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    t_compile = time.perf_counter()
    with torch.inference_mode(), dtype_ctx:
        for _ in range(warmup):
            fn(x)
        _sync(device)
        t_compile = time.perf_counter() - t_compile
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"img_per_s": batch / med, "median_batch_s": med, "warmup_s": t_compile}


def loader_only(scorer: Any, paths: list[Path], batch: int, workers: int) -> dict[str, float]:
    t0 = time.perf_counter()
    n = 0
    for _, x, errors in scorer.image_loader(paths, batch_size=batch, workers=workers):
        assert not errors
        n += x.shape[0]
    dt = time.perf_counter() - t0
    return {"img_per_s": n / dt, "seconds": dt}


def end_to_end(scorer: Any, cache_key: Any, paths: list[Path], batch: int, workers: int,
               root: Path) -> dict[str, float]:
    from turkops.concepts.cache import EmbeddingCache

    images = [(f"{i:064x}", p) for i, p in enumerate(paths)]  # distinct fake sha256 per file
    # Warm-up outside the timing: compile (padded batches: one graph), cuDNN/cuBLAS plans.
    warm = images[: min(len(images), 2 * batch)]
    scorer.embed_images(warm, None, batch_size=batch, workers=0)
    cache = EmbeddingCache(root / "cache", cache_key)
    t0 = time.perf_counter()
    out = scorer.embed_images(images, cache, batch_size=batch, workers=workers)
    dt = time.perf_counter() - t0
    assert out.n_encoded == len(images)
    t1 = time.perf_counter()
    again = scorer.embed_images(images, cache, batch_size=batch, workers=workers)
    cached_s = time.perf_counter() - t1
    assert again.n_cached == len(images)
    return {"img_per_s": len(images) / dt, "seconds": dt, "encode_loop_s": out.encode_seconds,
            "all_cached_rerun_s": cached_s}


def bench_model(name: str, args: argparse.Namespace, paths: list[Path], root: Path,
                device: Any) -> dict[str, Any]:
    import torch

    from turkops.concepts.cache import CacheKey
    from turkops.concepts.models import import_open_clip, tag_settings
    from turkops.concepts.scoring import SiglipScorer

    open_clip = import_open_clip()
    settings = tag_settings(open_clip, name, None)  # SigLIP preprocessing as with webli
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=None, device="cpu", force_quick_gelu=settings.get("quick_gelu", False),
        image_mean=settings.get("mean"), image_std=settings.get("std"),
        image_interpolation=settings.get("interpolation"),
        image_resize_mode=settings.get("resize_mode"))
    model.eval().requires_grad_(False).to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    build_s = time.perf_counter() - t0
    size = model.visual.image_size
    image_size = size[0] if isinstance(size, tuple | list) else int(size)
    result: dict[str, Any] = {"model": name, "image_size": image_size, "build_s": build_s,
                              "params_visual_M": sum(p.numel() for p in
                                                     model.visual.parameters()) / 1e6,
                              "model_only": {}}
    for variant in args.variants:
        r = model_only(model, device, image_size, args.batch_size, variant, args.warmup,
                       args.model_iters)
        result["model_only"][variant] = r
        print(f"  {name} model-only {variant}: {r['img_per_s']:.1f} img/s", file=sys.stderr)
    last = args.variants[-1]
    scorer = SiglipScorer(model, preprocess, open_clip.SimpleTokenizer(), device=device,
                          precision="bf16" if last.startswith("bf16") else "fp32",
                          compile=last.endswith("+compile"))
    result["loader_only"] = loader_only(scorer, paths, args.batch_size, args.workers)
    print(f"  {name} loader-only: {result['loader_only']['img_per_s']:.1f} img/s",
          file=sys.stderr)
    key = CacheKey(name, "random-weights", last, json.dumps(model.visual.preprocess_cfg,
                                                            default=str))
    result["end_to_end"] = {"variant": last, **end_to_end(scorer, key, paths, args.batch_size,
                                                          args.workers, root)}
    e2e = result["end_to_end"]["img_per_s"]
    ref = result["model_only"][last]["img_per_s"]
    result["end_to_end"]["fraction_of_model_only"] = e2e / ref
    print(f"  {name} end-to-end ({last}): {e2e:.1f} img/s = {100 * e2e / ref:.0f}% of "
          f"model-only", file=sys.stderr)
    del model, scorer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def bench_activations(entry: str, args: argparse.Namespace, paths: list[Path], root: Path,
                      device: Any) -> dict[str, Any]:
    """entry: "FAMILY:NAME=LAYER"; random weights, saved to a file as a user's would be."""
    import torch

    from turkops.activations.extract import ActivationExtractor
    from turkops.activations.models import load_vision_model
    from turkops.activations.spec import parse_model

    model_text, _, layer = entry.partition("=")
    ref = parse_model(model_text)
    torch.manual_seed(0)
    weights = root / f"weights-{ref.family}-{ref.name}.pt"
    if ref.family == "torchvision":
        import torchvision

        net: Any = torchvision.models.get_model(ref.name, weights=None)
    elif ref.family == "timm":
        import timm

        net = timm.create_model(ref.name, pretrained=False)
    else:
        from turkops.concepts.models import import_open_clip

        net = import_open_clip().create_model(ref.name, pretrained=None)
    torch.save(net.state_dict(), weights)
    del net
    like = None
    if ref.family == "open_clip":  # a bare file: say which tag's preprocessing (speed-neutral)
        from turkops.concepts.models import import_open_clip

        like = (list(import_open_clip().list_pretrained_tags_by_model(ref.name)) or [None])[0]
    vm = load_vision_model(ref, weights, preprocess_like=like)
    last = args.variants[-1]
    precision = "bf16" if last.startswith("bf16") else "fp32"
    ex = ActivationExtractor(vm, layer, device=device, precision=precision)
    size = ex.preprocess(Image.new("RGB", (500, 375))).shape[-1]
    x = torch.randn(args.batch_size, 3, size, size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), ex._autocast():
        for _ in range(args.warmup):
            ex._features(x)
        _sync(device)
        times = []
        for _ in range(args.model_iters):
            t0 = time.perf_counter()
            ex._features(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
    model_only_rate = args.batch_size / statistics.median(times)
    images = [(f"{i:064x}", p) for i, p in enumerate(paths)]
    ex.embed_images(images[: 2 * args.batch_size], None, batch_size=args.batch_size, workers=0)
    t0 = time.perf_counter()
    out = ex.embed_images(images, ex.cache(root / f"acts-{ref.name}"),
                          batch_size=args.batch_size, workers=args.workers)
    dt = time.perf_counter() - t0
    result = {"model": str(ref), "layer": layer, "precision": precision, "image_size": size,
              "channels": int(out.embeddings.shape[1]),
              "model_only": {"img_per_s": model_only_rate},
              "end_to_end": {"img_per_s": len(images) / dt, "seconds": dt}}
    result["end_to_end"]["fraction_of_model_only"] = len(images) / dt / model_only_rate
    print(f"  {ref} {layer} ({precision}): model-only {model_only_rate:.1f} img/s, end to end "
          f"{len(images) / dt:.1f} img/s", file=sys.stderr)
    del ex, vm
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated open_clip names")
    p.add_argument("--tiny", action="store_true", help=f"benchmark a tiny random config "
                   f"({TINY_NAME}) instead: a CPU smoke test of this script")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--variants", default=None,
                   help="comma-separated from fp32,bf16,bf16+compile; the last one is also used "
                   "end to end (default: all three on CUDA, fp32 on CPU)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--images", type=int, default=None,
                   help="synthetic JPEGs for the loader and end-to-end runs "
                   "(default 8192 on CUDA, 512 on CPU)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader workers (default: turkops' default for the device)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--model-iters", type=int, default=20)
    p.add_argument("--keep", type=Path, default=None, help="generate the JPEGs here and keep "
                   "them (reused if present) instead of a temporary folder")
    p.add_argument("--activation-models", default=None,
                   help="comma-separated FAMILY:NAME=LAYER for the activation-extraction "
                   f"runs (default {DEFAULT_ACTIVATION_MODELS}; with --tiny "
                   f"{TINY_ACTIVATION_MODELS}); 'none' skips them")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args()

    import torch

    from turkops.concepts.models import import_open_clip, resolve_device
    from turkops.concepts.scoring import default_workers

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    args.variants = (args.variants or ("fp32,bf16,bf16+compile" if cuda else "fp32")).split(",")
    bad = [v for v in args.variants if v not in ("fp32", "bf16", "bf16+compile")]
    if bad:
        p.error(f"unknown variant(s) {bad}")
    n_images = args.images or (8192 if cuda else 512)
    args.workers = default_workers(device) if args.workers is None else args.workers
    models = args.models.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="bench_siglip_"))
    try:
        if args.tiny:
            cfg = tmp / f"{TINY_NAME}.json"
            cfg.write_text(json.dumps(TINY_CONFIG))
            import_open_clip().add_model_config(cfg)
            models = [TINY_NAME]
        folder = args.keep or tmp / "jpegs"
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.glob("img*.jpg"))
        t0 = time.perf_counter()
        if len(existing) >= n_images:
            paths = existing[:n_images]
            mean_kb = float(np.mean([p.stat().st_size for p in paths])) / 1024
        else:
            paths, mean_bytes = make_jpegs(folder, n_images)
            mean_kb = mean_bytes / 1024
        print(f"{n_images} JPEGs ({mean_kb:.0f} KB mean) ready in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        env = {
            "device": torch.cuda.get_device_name(device) if cuda else platform.processor()
            or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "open_clip": import_open_clip().__version__,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "images": n_images,
            "jpeg_mean_kb": mean_kb,
            "command": " ".join(sys.argv),
        }
        results = [bench_model(m, args, paths, tmp, device) for m in models]
        chosen = args.activation_models or (TINY_ACTIVATION_MODELS if args.tiny
                                            else DEFAULT_ACTIVATION_MODELS)
        activations = ([] if chosen == "none" else
                       [bench_activations(e, args, paths, tmp, device)
                        for e in chosen.split(",")])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {"env": env, "results": results, "activations": activations}
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2))
    print(f"\n{env['device']}, torch {env['torch']}, open_clip {env['open_clip']}, "
          f"batch {args.batch_size}, {args.workers} workers, {n_images} JPEGs "
          f"({mean_kb:.0f} KB mean)\n")
    print("| model | " + " | ".join(f"model-only {v}" for v in args.variants)
          + " | loader only | end to end | e2e / model-only |")
    print("|---" * (len(args.variants) + 4) + "|")
    for r in results:
        cells = [f"{r['model_only'][v]['img_per_s']:,.1f}" for v in args.variants]
        e = r["end_to_end"]
        print(f"| {r['model']} | " + " | ".join(cells)
              + f" | {r['loader_only']['img_per_s']:,.1f} | {e['img_per_s']:,.1f} "
              f"({e['variant']}) | {100 * e['fraction_of_model_only']:.0f}% |")
    if activations:
        print("\n| activations | layer | precision | model only | end to end | e2e / model-only |")
        print("|---" * 6 + "|")
        for a in activations:
            e = a["end_to_end"]
            print(f"| {a['model']} | {a['layer']} | {a['precision']} | "
                  f"{a['model_only']['img_per_s']:,.1f} | {e['img_per_s']:,.1f} | "
                  f"{100 * e['fraction_of_model_only']:.0f}% |")


if __name__ == "__main__":
    main()
