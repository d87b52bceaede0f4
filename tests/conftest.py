"""Shared fixtures: static files collected once, the content cache reset around tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from monograph import content, guides


@pytest.fixture(scope="session", autouse=True)
def _collected_static(django_db_blocker):
    """Pages use hashed static names, so the manifest must exist (make test collects too)."""
    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def _default_book():
    """The book of the default content folder and its session guides, parsed once per test
    process. Parsing them costs ~3 s of CPU (every page's Markdown and front matter, and a
    run of each simulation at its defaults to check the guides' metric names), which every
    test that renders a page used to pay again."""
    content.reset()
    book = content.book()
    return settings.CONTENT_DIR, book, guides.guides()


@pytest.fixture(autouse=True)
def _fresh_content(_default_book):
    """Each test sees the content its settings point at, not a previous test's: the default
    book as parsed once, unless the test points CONTENT_DIR elsewhere (and resets)."""
    directory, book, session_guides = _default_book

    def restore() -> None:
        if directory == settings.CONTENT_DIR and not settings.CONTENT_AUTORELOAD:
            content._state.update(book=book, stamp=None)
            guides._state.update(book=book, guides=session_guides)
        else:
            content.reset()

    restore()
    yield
    restore()


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """The default backend (a shared directory), but one per test process: a test's
    cache.clear() must not empty another xdist worker's cache mid-test."""
    from django.test import override_settings

    from monograph.settings import _cache

    url = f"file://{tmp_path_factory.mktemp('cache')}"
    with override_settings(CACHES={"default": _cache(url)}):
        yield


@pytest.fixture(autouse=True)
def _clear_cache(_private_cache):
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _roomy_admission(settings):
    """Admission limits sized for a test run, not for a classroom: one test process sends
    hundreds of cold runs from one address, on a shared machine where the first run of a
    test can take longer than the production deadline. tests/test_admission.py sets tight
    limits itself to test them."""
    from monograph import admission

    settings.ADMISSION = {**settings.ADMISSION, "deadline_s": 120.0, "max_wait_s": 60.0,
                          "full_budget_s": 120.0, "rate_run_ms": 10**9, "rate_exports": 10**9}
    admission.COSTS.clear()  # no run costs learned in another test
