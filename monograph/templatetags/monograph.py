"""Template helpers."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.filter
def json_text(text: str) -> SafeString:
    """Pre-serialised JSON made safe to embed in HTML (escapes <, > and &, as json_script does)."""
    return mark_safe(str(text).translate(_JSON_ESCAPES))  # noqa: S308 - escaped above


@register.filter
def live(html: str, page) -> SafeString:
    """A page's HTML with its live-number tokens filled in (for exercise text shown off the page)."""
    from monograph import livenumbers

    return livenumbers.fill(str(html), page.live, page.url)
