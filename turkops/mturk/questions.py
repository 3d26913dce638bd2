"""Wrapping the worker-facing task page (turkops.taskpage) into MTurk's HTMLQuestion XML."""

from __future__ import annotations

from turkops.taskpage import (
    DEFAULT_STUDY_INFO,
    TEMPLATES_DIR,
    TaskImage,
    render_task_html,
    template_environment,
)

__all__ = [
    "DEFAULT_STUDY_INFO",
    "HTML_QUESTION_NS",
    "MAX_QUESTION_CHARS",
    "TEMPLATES_DIR",
    "TaskImage",
    "html_question",
    "render_task_html",
    "template_environment",
]

HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
# CreateHITWithHITType's Question parameter is limited to 131,072 characters (API reference).
MAX_QUESTION_CHARS = 131072


def html_question(html: str, frame_height: int = 0) -> str:
    """Wrap a page in HTMLQuestion XML; ']]>' cannot occur in escaped content, split it anyway."""
    safe = html.replace("]]>", "]]]]><![CDATA[>")
    xml = (
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}"><HTMLContent><![CDATA[\n{safe}\n]]>'
        f"</HTMLContent><FrameHeight>{int(frame_height)}</FrameHeight></HTMLQuestion>"
    )
    return xml
