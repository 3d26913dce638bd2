"""The Answer MTurk stores for an HTMLQuestion/externalSubmit: QuestionFormAnswers XML.

One <Answer> per submitted form field name, in the order the fields were posted, each with
its value as <FreeText>; repeated names (e.g. a checkbox group) are joined with "|".
Simulated workers and the browser's externalSubmit both use `build_answer_xml`, so the two
paths produce byte-identical XML for the same fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ANSWER_NAMESPACE = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
)
MULTI_VALUE_SEPARATOR = "|"

# Characters XML 1.0 cannot carry even as references; a browser may still post them.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    text = _NOT_XML_CHAR.sub("\ufffd", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # MTurk's answers are declared ASCII; everything else goes as character references.
    return text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def build_answer_xml(fields: Iterable[tuple[str, str]]) -> str:
    """QuestionFormAnswers XML for posted form fields [(name, value), ...]."""
    grouped: dict[str, list[str]] = {}
    for name, value in fields:
        grouped.setdefault(name, []).append(value)
    parts = [
        '<?xml version="1.0" encoding="ASCII"?>',
        f'<QuestionFormAnswers xmlns="{ANSWER_NAMESPACE}">',
    ]
    for name, values in grouped.items():
        parts.append(
            f"<Answer>\n<QuestionIdentifier>{_xml_text(name)}</QuestionIdentifier>\n"
            f"<FreeText>{_xml_text(MULTI_VALUE_SEPARATOR.join(values))}</FreeText>\n</Answer>"
        )
    parts.append("</QuestionFormAnswers>")
    return "\n".join(parts)
