"""Template helpers for the static export (manage.py export)."""

from __future__ import annotations

from typing import Any

from django import template

from .. import content

register = template.Library()


def state_name(presets: list[dict[str, Any]]) -> str:
    """The file name of a figure state in the export: preset-N (1-based) or default."""
    for i, p in enumerate(presets, start=1):
        if p.get("active"):
            return f"preset-{i}"
    return "default"


def preset_path(page_url: str, slug: str, n: int) -> str:
    """Where the export writes the page showing preset n (1-based) of a figure at page_url.

    A page's first figure (and a lab's only one) keeps `preset-N/`; a chapter's later
    figures are named, `SLUG-preset-N/`, since their presets are numbered on their own.
    """
    page = next((p for p in content.book().chapters_for_simulation(slug) if p.url == page_url),
                None)
    first = page is None or page.figures[0].simulation == slug
    return f"{page_url}{'' if first else f'{slug}-'}preset-{n}/"


@register.filter
def export_state(fig: dict[str, Any]) -> str:
    return state_name(fig.get("presets") or [])


@register.simple_tag
def export_preset_url(fig: dict[str, Any], n: int) -> str:
    return preset_path(fig["page_url"], fig["sim"].slug, n)
