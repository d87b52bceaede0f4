"""Template context shared by every page."""

from __future__ import annotations

from django.http import HttpRequest

from . import content, guides
from .version import version


def site(request: HttpRequest) -> dict:
    book = content.book()
    return {"book": book, "app_version": version(), "checklist_page": book.checklist_page(),
            "session_guides": guides.guides().by_chapter}
