"""Figure helpers: plain Plotly figure dicts, small and theme-neutral.

Figures are built as plain dicts (no plotly.graph_objects, no default template): the
JSON stays small and building it costs microseconds. Text and grid colours are left
out: the browser applies the page's theme, and the image exporter the same colours
(passed to `themed`), so one cached figure serves both light and dark readers.
"""

from __future__ import annotations

import copy
from typing import Any

# Series colours chosen to read on both a light and a dark background.
PALETTE = {
    "blue": "#3b82f6",
    "orange": "#f59e0b",
    "green": "#10b981",
    "red": "#ef4444",
    "purple": "#a855f7",
    "grey": "#94a3b8",
    "teal": "#14b8a6",
    "pink": "#ec4899",
}

FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
        "'Noto Sans', sans-serif")


def axis(title: str, **kw: Any) -> dict[str, Any]:
    """An axis with a title and our defaults.

    No automargin: it makes Plotly lay the chart out twice on every redraw (measured:
    10–40 ms of a 50–90 ms redraw), so figures get fixed margins instead.
    """
    return {"title": {"text": title, "standoff": 8}, "automargin": False, **kw}


def figure(data: list[dict[str, Any]], *, title: str = "", height: int = 420,
           **layout: Any) -> dict[str, Any]:
    """A Plotly figure dict with the house layout."""
    base: dict[str, Any] = {
        "height": height,
        "margin": {"l": 64, "r": 56, "t": 40 if title else 24, "b": 110},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "size": 13},
        "legend": {"orientation": "h", "y": -0.14, "yanchor": "top", "x": 0},
        "hovermode": "closest",
    }
    if title:
        base["title"] = {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}}
    base.update(layout)
    return {"data": data, "layout": base}


def themed(fig: dict[str, Any], t: dict[str, str]) -> dict[str, Any]:
    """A copy of the figure in a theme's colours (text, grid, zero, bg), for static images."""
    out = copy.deepcopy(fig)
    lay = out.setdefault("layout", {})
    lay["paper_bgcolor"] = t["bg"]
    lay["plot_bgcolor"] = t["bg"]
    lay.setdefault("font", {})["color"] = t["text"]
    for key in list(lay):
        if key.startswith(("xaxis", "yaxis")):
            lay[key] = {**lay[key], "gridcolor": t["grid"], "zerolinecolor": t["zero"],
                        "linecolor": t["grid"]}
    if "xaxis" not in lay:
        lay["xaxis"] = {"gridcolor": t["grid"], "zerolinecolor": t["zero"]}
    if "yaxis" not in lay:
        lay["yaxis"] = {"gridcolor": t["grid"], "zerolinecolor": t["zero"]}
    return out


def panel_title(text: str, *, x: float = 0, y: float = 1.0) -> dict[str, Any]:
    """A small title above one panel of a figure with several (an annotation)."""
    # Plain text with a font weight: Plotly's <b> is drawn with a style attribute,
    # which the page's Content-Security-Policy blocks.
    return {"text": text, "x": x, "y": y, "xref": "paper", "yref": "paper",
            "xanchor": "left", "yanchor": "bottom", "showarrow": False,
            "font": {"size": 12, "weight": 600}}


def vline(x: float, text: str, color: str, *, yref: str = "paper", dash: str = "dot"
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A vertical marker line and its label, as (shape, annotation)."""
    shape = {"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "yref": yref,
             "line": {"color": color, "width": 1.5, "dash": dash}}
    note = {"x": x, "y": 1, "yref": yref, "text": text, "showarrow": False,
            "xanchor": "left", "yanchor": "top", "font": {"color": color, "size": 11}}
    return shape, note


def shade(x0: float, x1: float, text: str = "", *, xref: str = "x") -> dict[str, Any]:
    """A shaded vertical band (e.g. the trigger window): a translucent red that reads on
    both the light and the dark background."""
    return {"type": "rect", "xref": xref, "yref": "paper", "x0": x0, "x1": x1, "y0": 0,
            "y1": 1, "fillcolor": "rgba(239,68,68,0.15)", "line": {"width": 0},
            "layer": "below", "name": text}
