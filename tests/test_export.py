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
