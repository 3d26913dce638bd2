"""Reading the task server's HTML the way a participant's browser would (stdlib html.parser).

Only what a person sees and submits is used: forms (action, hidden inputs), the concept in
`<b id="concept">`, the images' `data-image`, and links. No side channel to the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    id: str
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # every named input's value


@dataclass
class Page:
    forms: dict[str, Form] = field(default_factory=dict)
    concept: str = ""
    images: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None
        self._in_concept = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("id", ""), a.get("action", ""), a.get("method", "get"))
            self.page.forms[self._form.id] = self._form
        elif tag == "input" and self._form is not None and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return  # unchecked boxes are not submitted (the client decides)
            self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "b" and a.get("id") == "concept":
            self._in_concept = True
        elif tag == "img" and "data-image" in a:
            self.page.images.append(a["data-image"])
        elif tag == "a" and a.get("href"):
            self.page.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "b":
            self._in_concept = False

    def handle_data(self, data: str) -> None:
        if self._in_concept:
            self.page.concept += data


def parse_page(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    page = parser.page
    page.concept = " ".join(page.concept.split())
    return page
