"""The demo study: generated images, a trained network, three explanation methods, a cheap
concept model, the local marketplace with simulated raters, and SQLite, run end to end."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from turkops.config import Settings
from turkops.demo.network import train_hidden_units
from turkops.demo.probing import CONCEPTS, SHAPES, generate_probing_set
from turkops.domain import DEFAULT_AGGREGATION, ProviderError, SamplingStrategy
from turkops.report.html import build_report
from turkops.services.collect import CollectOptions, CollectResult, collect_study
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.services.sampling import sample_study
from turkops.services.studies import create_study
from turkops.wiring import open_runtime

METHODS = ("correlation-probe", "top-shape", "random")
DEMO_FILES = (
    "turkops.sqlite",
    "turkops.sqlite-wal",
    "turkops.sqlite-shm",
    "marketplace.sqlite",
    "marketplace.sqlite-wal",
    "marketplace.sqlite-shm",
    "data",
    "images",
    "inputs.csv",
    "activations.npy",
    "explanations.csv",
    "concept_scores.npz",
    "truth.csv",
    "report.html",
)


@dataclass(frozen=True, slots=True)
class DemoConfig:
    workdir: Path
    seed: int = 0
    n_images: int = 600
    n_neurons: int = 12
    per_pair: int = 60
    raters: int = 3
    error_rate: float = 0.23
    model_noise: float = 1.5
    timeout_seconds: float = 90.0
    provider: str = "mturk"  # mturk: local marketplace; prolific: simulator + task server


@dataclass(frozen=True, slots=True)
class DemoResult:
    collect: CollectResult
    true_method_means: dict[str, float]
    true_correlations: dict[tuple[int, str], float]
    report_path: Path
    seconds: float


def run_demo(config: DemoConfig, say: Callable[[str], None] = lambda _m: None) -> DemoResult:
    from turkops.marketplace import MarketplaceConfig, start_marketplace

    started = time.monotonic()
    if config.provider == "prolific":
        from turkops.demo.prolific import require_task_server

        require_task_server()
    work = config.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for name in DEMO_FILES:  # only what an earlier demo wrote here
        target = work / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    rng = np.random.default_rng(config.seed)

    say(f"generating {config.n_images} probing images and training a {config.n_neurons}-unit net")
    probing = generate_probing_set(work / "images", config.n_images, rng)
    labels = probing.labels.astype(np.float64)
    acts = train_hidden_units(probing.pixels, labels.astype(np.float32), config.n_neurons, rng)
    explanations = _explain(acts, labels, rng)
    probs = _cheap_model(labels, config.model_noise, rng)
    _write_files(work, probing.files, acts, explanations, probs, labels)

    answers = {
        (img, c): bool(labels[i, j])
        for i, img in enumerate(probing.files)
        for j, c in enumerate(CONCEPTS)
    }
    base: dict[str, Any] = {
        "database_url": f"sqlite:///{work / 'turkops.sqlite'}",
        "data_dir": work / "data",
    }
    with ExitStack() as stack:
        if config.provider == "prolific":
            from turkops.demo.prolific import prolific_crowd

            # The task server migrates nothing: create the study database first.
            open_runtime(Settings(**base, _env_file=None)).close()  # type: ignore[call-arg]
            settings = stack.enter_context(
                prolific_crowd(base, answers, config.error_rate, config.seed)
            )
            where = f"the simulated Prolific ({settings.prolific_url})"
        else:
            market = stack.enter_context(
                start_marketplace(
                    MarketplaceConfig(
                        port=0,
                        db_path=work / "marketplace.sqlite",
                        n_workers=40,
                        error_rate=config.error_rate,
                        spammer_share=0.0,
                        seed=config.seed,
                        pace_seconds=0.0,
                        truth=answers,
                    )
                )
            )
            settings = Settings(  # type: ignore[call-arg]
                **base, endpoint="local", local_url=market.url, _env_file=None
            )
            where = f"the local marketplace ({market.url})"
        rt = open_runtime(settings)
        try:
            say("creating the study")
            create_study(
                rt,
                "demo",
                work / "inputs.csv",
                work / "activations.npy",
                work / "explanations.csv",
                work / "concept_scores.npz",
            )
            say(f"sampling {config.per_pair} images per pair with MG-IS")
            sample_study(rt, "demo", config.per_pair, SamplingStrategy.MG_IS, 0.2, config.seed)
            launched = launch_study(rt, "demo", LaunchOptions(raters=config.raters))
            if launched.plan is not None:
                size, total = f"{launched.plan.hits} HITs", launched.plan.total
            else:
                assert launched.sessions is not None
                plan = launched.sessions.plan
                size, total = f"{plan.tasks} tasks in {plan.places} sessions", plan.total
            say(
                f"launched {size} x {config.raters} raters on {where}, cost ${total:.2f} "
                "(simulated)"
            )
            deadline = time.monotonic() + config.timeout_seconds
            while True:
                try:
                    polled = poll_study(rt, "demo")
                except ProviderError as exc:  # a throttled pass is simply retried
                    say(f"poll pass failed ({exc}); retrying")
                    continue
                if polled.complete:
                    break
                if time.monotonic() > deadline:
                    raise ProviderError("the simulated crowd did not finish in time")
                time.sleep(0.3)
            say(f"all {polled.hits_total} HITs rated, approved and paid")
            options = CollectOptions(
                aggregations=(DEFAULT_AGGREGATION,),
                seed=config.seed,
                n_boot=500,
                hash_workers=True,
            )
            result = collect_study(rt, "demo", options)
            report_path = work / "report.html"
            report_path.write_text(build_report(rt, "demo", options), encoding="utf-8")
        finally:
            rt.close()
    truth = {
        (n, m): float(np.corrcoef(acts[:, n], labels[:, CONCEPTS.index(c)])[0, 1])
        for n, m, c in explanations
    }
    means = {m: float(np.mean([v for (n, mm), v in truth.items() if mm == m])) for m in METHODS}
    return DemoResult(result, means, truth, report_path, time.monotonic() - started)


def _explain(
    acts: np.ndarray, labels: np.ndarray, rng: np.random.Generator
) -> list[tuple[int, str, str]]:
    """Three methods of different quality, like real explainers.

    correlation-probe: the concept best correlated with the neuron on a labelled 20% subset;
    top-shape: the most frequent object shape among the 10 top-activating images (a method that
    only knows object names and only looks at top activations); random: any concept.
    """
    n_images, n_neurons = acts.shape
    probe = rng.choice(n_images, size=n_images // 5, replace=False)
    out: list[tuple[int, str, str]] = []
    for n in range(n_neurons):
        a = acts[probe, n]
        corr = [
            np.corrcoef(a, labels[probe, j])[0, 1] if a.std() > 0 else -1.0
            for j in range(len(CONCEPTS))
        ]
        out.append((n, "correlation-probe", CONCEPTS[int(np.nanargmax(corr))]))
        top = np.argsort(-acts[:, n])[:10]
        shape_counts = labels[top, : len(SHAPES)].sum(0)
        out.append((n, "top-shape", SHAPES[int(np.argmax(shape_counts))]))
        out.append((n, "random", CONCEPTS[int(rng.integers(len(CONCEPTS)))]))
    return out


def _cheap_model(labels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Stand-in for SigLIP: a calibrated-looking probability with AUC about 0.97."""
    logits = 2.0 * (2 * labels - 1) + rng.normal(0, noise, labels.shape)
    return (1 / (1 + np.exp(-logits))).astype(np.float32)


def _write_files(
    work: Path,
    files: list[str],
    acts: np.ndarray,
    explanations: list[tuple[int, str, str]],
    probs: np.ndarray,
    labels: np.ndarray,
) -> None:
    (work / "inputs.csv").write_text(
        "input_id,image\n" + "".join(f"img{i:04d},{f}\n" for i, f in enumerate(files))
    )
    np.save(work / "activations.npy", acts)
    (work / "explanations.csv").write_text(
        "neuron,method,concept\n" + "".join(f"{n},{m},{c}\n" for n, m, c in explanations)
    )
    np.savez(work / "concept_scores.npz", concepts=np.array(CONCEPTS), probs=probs)
    (work / "truth.csv").write_text(
        "image,concept,present\n"
        + "".join(
            f"{f},{c},{int(labels[i, j])}\n"
            for i, f in enumerate(files)
            for j, c in enumerate(CONCEPTS)
        )
    )
