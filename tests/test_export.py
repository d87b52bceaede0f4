"""manage.py export: refusals that need no images (the full export is a browser test)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


def test_export_refuses_a_non_empty_directory_without_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match=r"not empty.*--overwrite"):
        call_command("export", str(tmp_path))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_export_refuses_a_file_as_target(tmp_path):
    target = tmp_path / "site.html"
    target.write_text("x")
    with pytest.raises(CommandError, match="is a file"):
        call_command("export", str(target))


@pytest.mark.parametrize("url", ["book.example.org", "ftp://book.example.org", "https://"])
def test_export_refuses_a_live_url_that_is_not_an_absolute_http_url(tmp_path, url):
    with pytest.raises(CommandError, match="--live-url must be an absolute http"):
        call_command("export", str(tmp_path / "out"), "--live-url", url)


def test_export_refuses_zero_jobs(tmp_path):
    with pytest.raises(CommandError, match="--jobs must be at least 1"):
        call_command("export", str(tmp_path / "out"), "--jobs", "0")


def _multi_figure_chapter():
    """A chapter whose second figure has presets (resilience: retries, then spike)."""
    from monograph import content

    return next(p for p in content.book().pages
                if len(p.figures) >= 2 and p.figures[1].presets)


def test_export_writes_a_preset_page_for_every_figure_of_a_chapter():
    from urllib.parse import parse_qsl, urlsplit

    from monograph import content
    from monograph.management.commands.export import Command

    page = _multi_figure_chapter()
    pages = dict(Command()._pages(content.book()))
    for n, fig in enumerate(page.figures):
        prefix = "preset-" if n == 0 else f"{fig.simulation}-preset-"
        for i, preset in enumerate(fig.presets, start=1):
            asked = urlsplit(pages[f"{page.url}{prefix}{i}/"])
            assert asked.path == page.url
            query = dict(parse_qsl(asked.query))
            assert query.pop("figure", fig.simulation) == fig.simulation
            assert query == dict(preset.query), f"{fig.simulation} preset {i}"


def test_a_later_figure_links_its_presets_to_its_own_preset_pages(client):
    from urllib.parse import urlencode

    from django.test import override_settings

    from monograph.management.commands import export

    page = _multi_figure_chapter()
    second = page.figures[1]
    slug, preset = second.simulation, second.presets[0]
    with override_settings(TEMPLATES=export._templates("")):
        html = client.get(f"{page.url}?{urlencode({'figure': slug, **preset.query})}").content.decode()
    figure = html[html.index(f'id="fig-{slug}"'):]
    first_link = f'href="{page.url}{slug}-preset-1/#fig-{slug}" aria-current="true"'
    assert first_link in figure, "the second figure's first preset: its own page, marked current"
    first_fig = html[html.index(f'id="fig-{page.figures[0].simulation}"'):html.index(f'id="fig-{slug}"')]
    assert f'href="{page.url}preset-1/#fig-' in first_fig, "the first figure keeps preset-N/"
