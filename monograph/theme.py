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
# The :root rule holds both themes' colours, each as light-dark(light, dark).
_ROOT = re.compile(r":root\s*\{")
_VAR = re.compile(r"--([a-z-]+)\s*:\s*([^;]+);")
_LIGHT_DARK = re.compile(r"light-dark\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)")


@cache
def colours(theme: str) -> dict[str, str]:
    """text, grid, zero and bg colours of a theme, as the page uses them for charts."""
    css = STYLESHEET.read_text(encoding="utf-8")
    match = _ROOT.search(css)
    if match is None:
        raise LookupError(f"{STYLESHEET} has no :root rule with the theme colours")
    block = css[match.end():css.index("}", match.end())]
    found = {}
    for name, value in _VAR.findall(block):
        pair = _LIGHT_DARK.fullmatch(value.strip())
        found[name] = pair.group(THEMES.index(theme) + 1) if pair else value.strip()
    return {"text": found["fg"], "grid": found["line"], "zero": found["muted"], "bg": found["bg"]}
