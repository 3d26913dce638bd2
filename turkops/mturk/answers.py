"""Parsing MTurk's QuestionFormAnswers XML (what externalSubmit produces) into ratings.

Worker answers are untrusted input: anything malformed becomes a `problem`, never an exception.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from turkops.crowd import ParsedAnswer

MAX_ANSWER_CHARS = 65536
_ITEM = re.compile(r"^item_(\d{1,4})$")
_KNOWN = {"consent"}

__all__ = ["ParsedAnswer", "answer_fields", "parse_answer"]


def answer_fields(xml_text: str) -> dict[str, str]:
    """QuestionIdentifier -> FreeText; raises ValueError on anything that is not such XML."""
    if len(xml_text) > MAX_ANSWER_CHARS:
        raise ValueError(f"answer is {len(xml_text)} characters, over {MAX_ANSWER_CHARS}")
    if "<!DOCTYPE" in xml_text or "<!ENTITY" in xml_text:
        raise ValueError("answer declares a DOCTYPE/ENTITY")
    root = ET.fromstring(xml_text)
    if _local(root.tag) != "QuestionFormAnswers":
        raise ValueError(f"root element is {_local(root.tag)!r}, not QuestionFormAnswers")
    fields: dict[str, str] = {}
    for answer in root:
        if _local(answer.tag) != "Answer":
            continue
        qid, text = None, ""
        for child in answer:
            name = _local(child.tag)
            if name == "QuestionIdentifier":
                qid = (child.text or "").strip()
            elif name == "FreeText":
                text = (child.text or "").strip()
        if qid:
            if qid in fields:
                raise ValueError(f"field {qid!r} answered twice")
            fields[qid] = text
    return fields


def parse_answer(xml_text: str, n_items: int) -> ParsedAnswer:
    """Validate one assignment's answer for a task of n_items images."""
    if "\x00" in xml_text:
        # No browser form post carries U+0000 and XML 1.0 cannot; PostgreSQL refuses it in text.
        return ParsedAnswer(None, False, "answer contains a NUL byte (U+0000)")
    try:
        fields = answer_fields(xml_text)
    except (ET.ParseError, ValueError) as exc:
        return ParsedAnswer(None, False, f"unreadable answer XML: {str(exc)[:200]}")
    consent = fields.get("consent", "").lower() in {"yes", "on", "true", "1"}
    extra = tuple(
        sorted(k for k in fields if k not in _KNOWN and not _ITEM.match(k) and k != "assignmentId")
    )
    values: list[int] = []
    for k in range(n_items):
        raw = fields.get(f"item_{k}")
        if raw is None:
            return ParsedAnswer(None, consent, f"missing field item_{k}", extra)
        if raw not in {"0", "1"}:
            return ParsedAnswer(None, consent, f"item_{k} has value {raw[:20]!r}, not 0/1", extra)
        values.append(int(raw))
    beyond = [k for k in fields if (m := _ITEM.match(k)) and int(m.group(1)) >= n_items]
    if beyond:
        return ParsedAnswer(None, consent, f"fields beyond the task's {n_items} images", extra)
    if not consent:
        return ParsedAnswer(None, False, "consent box not ticked", extra)
    return ParsedAnswer(tuple(values), True, None, extra)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
