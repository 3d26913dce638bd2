"""The answer parser takes anything a worker can send and never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from turkops.mturk.answers import parse_answer

NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
)


def xml(fields: dict[str, str]) -> str:
    body = "".join(
        f"<Answer><QuestionIdentifier>{k}</QuestionIdentifier><FreeText>{v}</FreeText></Answer>"
        for k, v in fields.items()
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    return f'{head}<QuestionFormAnswers xmlns="{NS}">{body}</QuestionFormAnswers>'


def test_valid_answer() -> None:
    parsed = parse_answer(xml({"consent": "yes", "item_0": "1", "item_1": "0", "item_2": "1"}), 3)
    assert parsed.values == (1, 0, 1) and parsed.consent and parsed.problem is None


def test_extra_unknown_field_is_noted_but_accepted() -> None:
    parsed = parse_answer(xml({"consent": "yes", "item_0": "0", "comment": "hi"}), 1)
    assert parsed.values == (0,) and parsed.extra_fields == ("comment",)


def test_malformed_cases() -> None:
    cases = {
        "missing field item_1": xml({"consent": "yes", "item_0": "1"}),
        "item_0 has value '2', not 0/1": xml({"consent": "yes", "item_0": "2", "item_1": "0"}),
        "consent box not ticked": xml({"item_0": "1", "item_1": "0"}),
        "fields beyond": xml({"consent": "yes", "item_0": "1", "item_1": "0", "item_5": "1"}),
        "unreadable answer XML": "<QuestionFormAnswers><Answer>",
        "not QuestionFormAnswers": "<html></html>",
        "DOCTYPE": '<!DOCTYPE x [<!ENTITY a "b">]><QuestionFormAnswers/>',
        "over 65536": xml({"consent": "yes", "item_0": "1" * 70000, "item_1": "0"}),
    }
    for expected, text in cases.items():
        parsed = parse_answer(text, 2)
        assert parsed.values is None, expected
        assert parsed.problem is not None and expected in parsed.problem, (expected, parsed)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=1, max_value=20))
def test_arbitrary_text_never_raises(text: str, n: int) -> None:
    parsed = parse_answer(text, n)
    assert parsed.values is None or len(parsed.values) == n


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["consent", "item_0", "item_1", "item_2", "x", "item_9"]),
        st.sampled_from(["0", "1", "yes", "", "2", "<b>", "&amp;"]),
    )
)
def test_arbitrary_fields_never_raise(fields: dict[str, str]) -> None:
    parsed = parse_answer(xml(fields), 3)
    if parsed.values is not None:
        assert all(fields[f"item_{k}"] == str(v) for k, v in enumerate(parsed.values))
        assert parsed.consent
