"""A checklist item's sanitised HTML as Markdown: one renderer for every checklist export
(the committed pull-request template and a team's ticked items at /checklist/template.md)."""

from __future__ import annotations

from html.parser import HTMLParser

from .content import ChecklistItem

# Inline HTML the sanitiser lets through, as Markdown.
_MARKS = {"code": "`", "strong": "**", "b": "**", "em": "_", "i": "_"}


class _Markdown(HTMLParser):
    """A checklist item's sanitised HTML as one line of Markdown (code spans and links kept)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.href.append(dict(attrs).get("href"))
            self.out.append("[")
        else:
            self.out.append(_MARKS.get(tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag != "a":
            self.out.append(_MARKS.get(tag, ""))
            return
        href = self.href.pop() if self.href else None
        start = max(i for i, piece in enumerate(self.out) if piece == "[")
        if href and href.startswith("http"):
            self.out.append(f"]({href})")
        else:  # a link into the book: keep the words, drop the link
            self.out[start] = ""

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def text(self) -> str:
        return " ".join("".join(self.out).split())


def markdown_line(html: str) -> str:
    parser = _Markdown()
    parser.feed(html)
    parser.close()
    return parser.text()


def task_lines(items: list[ChecklistItem]) -> list[str]:
    """Unticked Markdown task-list lines, must items marked."""
    return [f"- [ ] {'**must** ' if item.must else ''}{markdown_line(item.html)}" for item in items]

