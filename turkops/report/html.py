"""`turkops report`: one self-contained HTML file (plots and thumbnails inline)."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from turkops.db.models import Input, Pair, Sample
from turkops.domain import InputError
from turkops.formatting import fmt_interval, fmt_p
from turkops.report.plots import method_bar_chart
from turkops.services.collect import CollectOptions, CollectResult, collect_study
from turkops.services.ratings import load_ratings
from turkops.services.studies import load_activations
from turkops.studyfiles import check_image, is_url
from turkops.wiring import Runtime

THUMBS_PER_CONCEPT = 12
_TEMPLATE_DIR = Path(__file__).resolve().parent


def css_class(value: float | None) -> str:
    """The paper's colour code for a correlation."""
    if value is None:
        return "na"
    return "good" if value > 0.25 else "mid" if value >= 0.10 else "bad"


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def build_report(rt: Runtime, name: str, options: CollectOptions) -> str:
    result = collect_study(rt, name, options)
    aggregation = result.aggregations[0]
    methods = [m for m in result.methods if m.aggregation == aggregation]
    chart = method_bar_chart(
        [m.method for m in methods],
        [m.mean or 0.0 for m in methods],
        [m.ci_low if m.ci_low is not None else (m.mean or 0.0) for m in methods],
        [m.ci_high if m.ci_high is not None else (m.mean or 0.0) for m in methods],
        f"{name}: mean correlation by method ({aggregation}), 95% CI",
    )
    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    return env.get_template("report.html.j2").render(
        study=name,
        aggregation=aggregation,
        eta_text=_fmt(result.eta),
        eta_source=result.eta_source,
        concept_source=(result.concept_scores or {}).get("description", "none"),
        completeness=result.completeness,
        warnings=result.warnings,
        chart_png=base64.b64encode(chart).decode(),
        methods=[
            {
                "rank": m.rank,
                "method": m.method,
                "mean": _fmt(m.mean),
                "sem": _fmt(m.sem),
                "n_neurons": m.n_neurons,
                "p_two": fmt_p(m.vs_best_p_two_sample),
                "p_paired": fmt_p(m.vs_best_p_paired),
                "ci": "n/a" if m.ci_low is None else f"[{m.ci_low:.3f}, {m.ci_high:.3f}]",
                "diff": "" if m.diff_vs_best is None else f"{m.diff_vs_best:.3f} "
                f"[{m.diff_low:.3f}, {m.diff_high:.3f}]",
                "p_holm": fmt_p(m.p_holm),
                "css": css_class(m.mean),
            }
            for m in methods
        ],
        cards=_cards(rt, name, result, aggregation),
        provenance=provenance(rt, name, result, options),
        kappa=_fmt(result.fleiss_kappa),
        n_workers=len(result.workers),
        n_ratings=sum(w.ratings for w in result.workers),
        money=f"{result.money_spent:.2f}",
        workers=[
            {"worker": w.worker, "ratings": w.ratings, "agreement": _fmt(w.agreement, 2)}
            for w in result.workers
        ],
    )


def provenance(
    rt: Runtime, name: str, result: CollectResult, options: CollectOptions
) -> list[tuple[str, str]]:
    """Where the numbers come from, as (field, value) rows for the report's header."""
    from turkops import __version__
    from turkops.services.studies import CONCEPT_PROBS

    with rt.transaction() as repo:
        study = repo.study(name)
        scores = repo.array_file(study.id, CONCEPT_PROBS)
        meta = dict(scores.meta) if scores is not None else {}
        strategy, per_pair = study.sample_strategy, study.sample_per_pair
        gamma, seed, provider = study.sample_gamma, study.sample_seed, study.provider
    aggregation = result.aggregations[0]
    ess = [p.ess for p in result.pairs if p.aggregation == aggregation and p.n_images > 0]
    calibration = meta.get("calibration")
    return [
        ("sampler", f"{strategy or 'n/a'} (gamma {gamma})"),
        ("draws per pair", str(per_pair or "n/a")),
        ("sampling seed", str(seed if seed is not None else "n/a")),
        (
            "effective sample size",
            f"median {sorted(ess)[len(ess) // 2]:.0f}, min {min(ess):.0f}" if ess else "n/a",
        ),
        ("concept scores", str(meta.get("source", "none"))),
        ("calibration", str(calibration) if calibration is not None else "not recorded"),
        ("aggregator", _aggregator_line(aggregation, result)),
        (
            "intervals",
            "analytic, model-assisted over the whole probing set (docs/statistics.md 2c)"
            if aggregation == "ma-act"
            else f"BCa bootstrap, {options.n_boot} replicates, seed {options.seed}",
        ),
        ("turkops version", __version__),
        ("provider", str(provider)),
    ]


def _cards(rt: Runtime, name: str, result: CollectResult, aggregation: str) -> list[dict]:
    with rt.transaction() as repo:
        study = repo.study(name)
        acts = load_activations(repo, study)
        rows = repo.session.execute(
            select(
                Pair.neuron,
                Pair.concept,
                Sample.id,
                Input.row_index,
                Input.image,
                Input.image_path,
                Input.url,
            )
            .join(Sample, Sample.pair_id == Pair.id)
            .join(Input, Sample.input_id == Input.id)
            .where(Pair.study_id == study.id)
        ).all()
        pair_samples, _ = load_ratings(repo, study.id)
        # The top-activating images of the whole probing set, to set beside the sampled ones:
        # what a top-k evaluation would have shown, and whether the sample reached it.
        neurons = sorted({e.neuron for e in result.pairs if e.aggregation == aggregation})
        top_rows = {
            n: np.argsort(-acts[:, n], kind="stable")[:THUMBS_PER_CONCEPT].tolist()
            for n in neurons
        }
        wanted = sorted({r for rows_ in top_rows.values() for r in rows_})
        top_inputs = {
            row: (image, path, url)
            for row, image, path, url in repo.session.execute(
                select(Input.row_index, Input.image, Input.image_path, Input.url).where(
                    Input.study_id == study.id, Input.row_index.in_(wanted)
                )
            ).all()
        }
    votes: dict[int, tuple[int, int]] = {}
    for ps in pair_samples:
        for sid, pos, tot in zip(
            ps.sample_ids.tolist(), ps.positives.tolist(), ps.totals.tolist(), strict=True
        ):
            votes[int(sid)] = (int(pos), int(tot))
    groups: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for neuron, concept, sid, row, image, path, url in rows:
        groups[neuron][concept].append((float(acts[row, neuron]), sid, image, path, url))
    explanations: dict[int, list] = defaultdict(list)
    for e in result.pairs:
        if e.aggregation != aggregation:
            continue
        score = (
            "n/a"
            if e.correlation is None
            else f"{e.correlation:.3f} {fmt_interval(e.ci_low, e.ci_high)}"
        )
        explanations[e.neuron].append(
            {
                "method": e.method,
                "concept": e.concept,
                "score": score,
                "css": css_class(e.correlation),
            }
        )
    cards = []
    for neuron in sorted(explanations):
        card_groups = []
        for concept, items in sorted(groups[neuron].items()):
            items.sort(key=lambda t: -t[0])
            thumbs = []
            for act, sid, image, path, url in items[:THUMBS_PER_CONCEPT]:
                label = result.sample_labels.get(sid)
                src, note = _thumb_src(image, path, url)
                pos, tot = votes.get(sid, (0, 0))
                caption = f"{act:.2f} / {_fmt(label, 2)} / {pos} of {tot}"
                thumbs.append(
                    {
                        "src": src,
                        "alt": f"{image} ({note})" if note else image,
                        "caption": f"{caption} ({note})" if note else caption,
                    }
                )
            card_groups.append({"concept": concept, "thumbs": thumbs})
        top = []
        for row in top_rows.get(neuron, []):
            image, path, url = top_inputs.get(row, ("", None, None))
            src, note = _thumb_src(image, path, url)
            caption = f"{float(acts[row, neuron]):.2f}"
            top.append(
                {
                    "src": src,
                    "alt": f"{image} ({note})" if note else image,
                    "caption": f"{caption} ({note})" if note else caption,
                }
            )
        cards.append(
            {
                "neuron": neuron,
                "explanations": explanations[neuron],
                "groups": card_groups,
                "top": top,
            }
        )
    return cards


def _thumb_src(image: str, path: str | None, url: str | None) -> tuple[str, str]:
    """(src, note): an inline thumbnail, else the image's URL; the note says why none was made.

    The file is checked before it is decoded (the same check as `study create`), because it may
    have changed since: a decompression bomb is skipped with a note, never decoded.
    """
    note = ""
    if path:
        try:
            check_image(Path(path))
            with Image.open(path) as opened:
                opened.draft("RGB", (96, 96))  # JPEG: decode at reduced size
                img = opened.convert("RGB")
            img.thumbnail((96, 96))
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), ""
        except InputError as exc:
            note = f"no thumbnail: {exc}"
        except (OSError, UnidentifiedImageError):
            note = "no thumbnail: unreadable image"
    if url:
        return url, note
    return (image if is_url(image) else ""), note


def _aggregator_line(aggregation: str, result: CollectResult) -> str:
    """The aggregator and what it fitted: η where the aggregation used one."""
    eta = result.etas.get(aggregation)
    if eta is not None:
        return f"{aggregation} (eta {_fmt(eta)}, {result.eta_source})"
    if aggregation == "ma-act":
        return "ma-act (per-worker sensitivity and specificity by EM, activation-aware prior)"
    return aggregation
