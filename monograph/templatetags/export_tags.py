"""Template helpers for the static export (manage.py export)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def state_name(presets: list[dict[str, Any]]) -> str:
    """The file name of a figure state in the export: preset-N (1-based) or default."""
    for i, p in enumerate(presets, start=1):
        if p.get("active"):
            return f"preset-{i}"
    return "default"


@register.filter
def export_state(fig: dict[str, Any]) -> str:
    return state_name(fig.get("presets") or [])
