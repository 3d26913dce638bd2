"""Rendering the worker-facing task page (the paper's page), shared by every provider.

MTurk wraps it in HTMLQuestion XML (turkops.mturk.questions); the task server serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "hit_templates"
DEFAULT_STUDY_INFO = (
    "This research study measures which descriptions of neurons in image models are correct. "
    "You will decide for each image whether it contains the named concept."
)


@dataclass(frozen=True, slots=True)
class TaskImage:
    url: str  # what the browser loads
    image: str  # the study's image reference (inputs.csv), for simulated raters and audits


def template_environment(directory: Path = TEMPLATES_DIR) -> Environment:
    # Concept text comes from LLM explainers and can contain anything: autoescape everything,
    # and StrictUndefined turns a missing variable into an error instead of an empty string.
    return Environment(
        loader=FileSystemLoader(str(directory)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_task_html(
    concept: str,
    images: list[TaskImage],
    study_info: str = DEFAULT_STUDY_INFO,
    env: Environment | None = None,
) -> str:
    template = (env or template_environment()).get_template("task.html.j2")
    return template.render(concept=concept, items=images, study_info=study_info)
