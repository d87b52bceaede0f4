"""The page's theme colours, read from static/css/site.css: one source for pages and images.

The browser themes a chart from the page's CSS variables (app.js: --fg for text, --line
for grid lines, --muted for zero lines); static images take the very same values from
the stylesheet, so an SVG looks like the chart on the page.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.conf import settings

STYLESHEET = Path(settings.BASE_DIR) / "static" / "css" / "site.css"
THEMES = ("light", "dark")
# The rule that sets each theme's variables when a reader picks it.
_BLOCKS = {"light": r":root\s*\{", "dark": r':root\[data-theme="dark"\]\s*\{'}
_VAR = re.compile(r"--([a-z-]+)\s*:\s*([^;]+);")


@cache
def colours(theme: str) -> dict[str, str]:
    """text, grid, zero and bg colours of a theme, as the page uses them for charts."""
    css = STYLESHEET.read_text(encoding="utf-8")
    match = re.search(_BLOCKS[theme], css)
    if match is None:
        raise LookupError(f"{STYLESHEET} has no rule for the {theme} theme")
    block = css[match.end():css.index("}", match.end())]
    found = dict(_VAR.findall(block))
    return {"text": found["fg"].strip(), "grid": found["line"].strip(),
            "zero": found["muted"].strip(), "bg": found["bg"].strip()}
