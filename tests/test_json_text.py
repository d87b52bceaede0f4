"""The filter that puts a figure's pre-serialised JSON inside HTML."""

from __future__ import annotations

import json

from monograph.templatetags.monograph import json_text


def test_json_text_escapes_what_could_close_or_open_markup_and_reads_back_the_same() -> None:
    figure = {"title": "p99 <b>&</b> – 10 × </div><script>", "y": [1.5, -2]}
    text = json_text(json.dumps(figure, ensure_ascii=False))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == figure  # \u003C etc. are JSON escapes: the data is unchanged
