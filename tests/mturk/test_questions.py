"""Task page rendering: strict templates, escaping, and the page contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import UndefinedError

from turkops.mturk.questions import (
    TEMPLATES_DIR,
    TaskImage,
    html_question,
    render_task_html,
    template_environment,
)

EVIL = '<script>alert("x")</script> & ]]> "quoted"'


def _images(n: int = 15) -> list[TaskImage]:
    return [TaskImage(url=f"https://img.example/{i}.jpg", image=f"imgs/{i}.jpg") for i in range(n)]


def test_every_template_renders_strictly() -> None:
    env = template_environment()
    names = [p.name for p in Path(TEMPLATES_DIR).glob("*.j2")]
    assert "task.html.j2" in names
    for name in names:
        html = env.get_template(name).render(concept="dog", items=_images(), study_info="info")
        assert "dog" in html
    with pytest.raises(UndefinedError):
        env.get_template("task.html.j2").render(concept="dog", items=_images())


def test_page_contract() -> None:
    html = render_task_html("ground beetle", _images())
    assert 'id="mturk_form"' in html and 'name="assignmentId"' in html
    assert '<b id="concept">ground beetle</b>' in html
    assert "Select all the images that contain:" in html
    assert "Google Image" in html and "<details" in html
    assert 'name="consent"' in html
    assert len(re.findall(r'<input type="hidden" name="item_\d+"', html)) == 15
    assert html.count("data-image=") == 15 and 'data-item="14"' in html
    assert "/mturk/externalSubmit" in html and "ASSIGNMENT_ID_NOT_AVAILABLE" in html


def test_concept_and_urls_are_escaped() -> None:
    images = [TaskImage(url='https://x/"onerror="alert(1)', image='a"b<c>')]
    html = render_task_html(EVIL, images)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert 'onerror="alert' not in html
    xml = html_question(html)
    # Escaped content cannot close the CDATA section early.
    assert xml.count("<![CDATA[") == 1 + html.count("]]>")
    assert xml.startswith('<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/')
    assert xml.endswith("<FrameHeight>0</FrameHeight></HTMLQuestion>")
