"""`turkops report`: one self-contained HTML file (plots and thumbnails inline)."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from turkops.db.models import Input, Pair, Sample
from turkops.domain import InputError
from turkops.report.plots import method_bar_chart
from turkops.services.collect import CollectOptions, CollectResult, collect_study
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
        [m.sem or 0.0 for m in methods],
        f"{name}: mean correlation by method ({aggregation})",
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
                "p_two": _fmt(m.vs_best_p_two_sample, 4),
                "p_paired": _fmt(m.vs_best_p_paired, 4),
                "css": css_class(m.mean),
            }
            for m in methods
        ],
        cards=_cards(rt, name, result, aggregation),
        kappa=_fmt(result.fleiss_kappa),
        n_workers=len(result.workers),
        n_ratings=sum(w.ratings for w in result.workers),
        money=f"{result.money_spent:.2f}",
        workers=[
            {"worker": w.worker, "ratings": w.ratings, "agreement": _fmt(w.agreement, 2)}
            for w in result.workers
        ],
    )


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
            else (f"{e.correlation:.3f} [{_fmt(e.ci_low, 2)}, {_fmt(e.ci_high, 2)}]")
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
                caption = f"{act:.2f} / {_fmt(label, 2)}"
                thumbs.append(
                    {
                        "src": src,
                        "alt": f"{image} ({note})" if note else image,
                        "caption": f"{caption} ({note})" if note else caption,
                    }
                )
            card_groups.append({"concept": concept, "thumbs": thumbs})
        cards.append(
            {"neuron": neuron, "explanations": explanations[neuron], "groups": card_groups}
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
