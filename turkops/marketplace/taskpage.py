"""Reading a HIT's Question: the HTMLQuestion XML, its HTML page and the task form on it.

The task-page contract (docs/marketplace.md): a `<form id="mturk_form">` holding a hidden
`assignmentId`, a consent checkbox `consent=yes`, and per image k an element with
`data-item="k"` that holds `<img data-image="<reference>">` plus a hidden field `item_k`;
the concept is the text of the element with `id="concept"`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Set
from dataclasses import dataclass
from html.parser import HTMLParser

from turkops.marketplace.errors import XML_PARSE_ERROR, request_error
from turkops.marketplace.truth import normalize_concept

HTML_QUESTION_NAMESPACE = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
FORM_ID = "mturk_form"
ASSIGNMENT_FIELD = "assignmentId"
ITEM_FIELD_PREFIX = "item_"
CONSENT_FIELD = "consent"

_QUESTION_CHILDREN = {
    "HTMLQuestion": ("HTMLContent", "FrameHeight"),
    "ExternalQuestion": ("ExternalURL", "FrameHeight"),
    "QuestionForm": ("Question",),
}
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_NOT_SENT = frozenset({"submit", "button", "reset", "image", "file"})


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def validate_question(question: str) -> None:
    """RequestError unless `question` is well-formed HTMLQuestion/ExternalQuestion/QuestionForm."""
    prefix = (
        "There was an error parsing the XML question or answer data in your request. Please "
        "make sure the data is well-formed and validates against the appropriate schema. "
        "Details: "
    )
    try:
        root = ET.fromstring(question)
    except ET.ParseError as exc:
        raise request_error(prefix + str(exc), XML_PARSE_ERROR) from None
    kind = _local(root.tag)
    if kind not in _QUESTION_CHILDREN:
        raise request_error(prefix + f"unknown question type <{kind}>", XML_PARSE_ERROR)
    present = {_local(child.tag) for child in root}
    for child in _QUESTION_CHILDREN[kind]:
        if child not in present:
            raise request_error(prefix + f"<{kind}> needs a <{child}> element", XML_PARSE_ERROR)


def html_from_question(question: str) -> str | None:
    """The HTMLContent of an HTMLQuestion; None for other question types or unparsable XML."""
    try:
        root = ET.fromstring(question)
    except ET.ParseError:
        return None
    if _local(root.tag) != "HTMLQuestion":
        return None
    for child in root:
        if _local(child.tag) == "HTMLContent":
            return child.text or ""
    return None


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    kind: str  # the input type ("hidden", "checkbox", ...), "textarea" or "select"
    value: str
    checked: bool


@dataclass(frozen=True, slots=True)
class TaskForm:
    """What a worker sees on the page: concept, images by item index, the form's fields."""

    concept: str | None
    images: Mapping[int, str]
    fields: tuple[FormField, ...]

    def item_indices(self) -> list[int]:
        """Indices k with an `item_k` field, in page order."""
        out = []
        for f in self.fields:
            suffix = f.name[len(ITEM_FIELD_PREFIX) :]
            if f.name.startswith(ITEM_FIELD_PREFIX) and suffix.isdigit():
                out.append(int(suffix))
        return out


class _TaskPageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found_form = False
        self.in_form = False
        self.stack: list[tuple[str, int | None, bool]] = []  # tag, data-item, is #concept
        self.concept_parts: list[str] = []
        self.images: dict[int, str] = {}
        self.fields: list[FormField] = []
        self._textarea: tuple[str, list[str]] | None = None
        self._select: tuple[str, list[tuple[str, bool]]] | None = None  # name, (value, selected)

    def _item(self) -> int | None:
        for _, item, _ in reversed(self.stack):
            if item is not None:
                return item
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form" and a.get("id") == FORM_ID:
            self.found_form = self.in_form = True
        item_attr = a.get("data-item", "").strip()
        item = int(item_attr) if item_attr.isdigit() else None
        if "data-image" in a:
            where = item if item is not None else self._item()
            if where is not None:
                self.images.setdefault(where, a["data-image"])
        in_form = self.in_form or a.get("form") == FORM_ID
        if in_form and a.get("name"):
            self._form_control(tag, a)
        if tag == "option" and self._select is not None:
            self._select[1].append((a.get("value", ""), "selected" in a))
        if tag not in _VOID:
            self.stack.append((tag, item, a.get("id") == "concept"))

    def _form_control(self, tag: str, a: dict[str, str]) -> None:
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind not in _NOT_SENT:
                self.fields.append(FormField(name, kind, a.get("value", ""), "checked" in a))
        elif tag == "textarea":
            self._textarea = (name, [])
        elif tag == "select":
            self._select = (name, [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        if tag == "textarea" and self._textarea is not None:
            name, parts = self._textarea
            self.fields.append(FormField(name, "textarea", "".join(parts), False))
            self._textarea = None
        if tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [value for value, selected in options if selected] or [
                value for value, _ in options[:1]
            ]
            self.fields.append(FormField(name, "select", chosen[0] if chosen else "", False))
            self._select = None
        if tag in _VOID:
            return
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if any(is_concept for _, _, is_concept in self.stack):
            self.concept_parts.append(data)
        if self._textarea is not None:
            self._textarea[1].append(data)


def read_task_form(html: str) -> TaskForm | None:
    """The task form on a page, or None when the page has no `<form id="mturk_form">`."""
    parser = _TaskPageParser()
    parser.feed(html)
    parser.close()
    if not parser.found_form:
        return None
    concept = normalize_concept("".join(parser.concept_parts)) if parser.concept_parts else None
    return TaskForm(concept=concept, images=dict(parser.images), fields=tuple(parser.fields))


def submitted_fields(
    form: TaskForm, values: Mapping[str, str], tick: Set[str] = frozenset()
) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser posts for `form` (assignmentId excluded).

    `values` overrides text/hidden field values; checkboxes/radios named in `tick` are sent
    as checked, others only if checked in the page (value "on" when the page gives none).
    """
    out: list[tuple[str, str]] = []
    for f in form.fields:
        if f.name == ASSIGNMENT_FIELD:
            continue
        if f.kind in ("checkbox", "radio"):
            if f.checked or f.name in tick:
                out.append((f.name, f.value or "on"))
            continue
        out.append((f.name, values.get(f.name, f.value)))
    return out
