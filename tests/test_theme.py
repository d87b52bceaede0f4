"""The two themes' chart colours come from the one palette in static/css/site.css."""

from __future__ import annotations

import re

from monograph import theme


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_each_theme_reads_its_own_side_of_the_palette():
    light, dark = theme.colours("light"), theme.colours("dark")
    for colours in (light, dark):
        assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in colours.values()), colours
    assert _luminance(light["bg"]) > 0.8 > 0.2 > _luminance(dark["bg"])
    assert _luminance(light["text"]) < 0.3 < 0.8 < _luminance(dark["text"])


def test_the_dark_palette_is_written_once():
    css = theme.STYLESHEET.read_text(encoding="utf-8")
    assert "prefers-color-scheme" not in css, "color-scheme + light-dark() follow the system"
    picked = re.search(r':root\[data-theme="dark"\]\s*\{([^}]*)\}', css)
    assert picked and "--" not in picked.group(1), "a reader's pick sets color-scheme only"
