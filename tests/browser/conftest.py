"""Real-browser fixtures: the real server (gunicorn), Debian's chromium, and a watch on every page.

The server is the one `make run` starts, on a free port, with two workers; the browser is
the system's chromium (never a Playwright download). Every browser context a test opens is
watched: a console error, an uncaught page error, a Content-Security-Policy violation, a
5xx response or a request to any host but 127.0.0.1 fails the test at teardown.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from devtools import localserver

BASE_DIR = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = localserver.START_TIMEOUT_S
CHROMIUM_ARGS, HOST = localserver.CHROMIUM_ARGS, localserver.HOST
# Every page here answers in well under a second, but `make test` runs these tests on two
# workers, each with its own gunicorn, image renderer and Chromium on a 2-core machine, where
# a wait that a 1 s poll satisfies (a live session's followers) can take several seconds.
# A stuck wait still fails, in 30 s.
DEFAULT_TIMEOUT_MS = 30_000


# -- the server ------------------------------------------------------------------------
# Admission limits sized for a test run, as tests/conftest.py sizes them in-process: one test
# process sends hundreds of cold runs and images from one address, on a machine whose two
# cores it may share with a second test process (make test runs the browser tests on two
# workers). With the production deadline (1 s) a no-JavaScript page's static chart, drawn
# while the other worker's Chromium is busy, was shed (503 `deadline`) now and then. What
# admission does with the production limits is tested in tests/test_admission.py; a shed
# answer in the browser is tested in test_busy.py.
ROOMY_ADMISSION = {
    "MONOGRAPH_DEADLINE_MS": "120000", "MONOGRAPH_MAX_WAIT_MS": "60000",
    "MONOGRAPH_FULL_BUDGET_MS": "120000", "MONOGRAPH_RATE_RUN_MS": str(10**9),
    "MONOGRAPH_RATE_EXPORTS": str(10**9),
}


@pytest.fixture(scope="session")
def live_server_url() -> Iterator[str]:
    """The book served by gunicorn (the production server, as `make run` starts it)."""
    try:
        with localserver.gunicorn(env=ROOMY_ADMISSION) as url:
            yield url
    except localserver.ServerDidNotStart as exc:
        pytest.fail(str(exc), pytrace=False)


# -- pytest-playwright overrides -----------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's chromium, never a browser build downloaded by Playwright."""
    chromium = localserver.chromium()
    if chromium is None:
        pytest.fail(f"the browser tests need {localserver.MISSING_CHROMIUM}", pytrace=False)
    return {**browser_type_launch_args, "executable_path": str(chromium), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server_url: str) -> str:
    """page.goto("/…") goes to the live server."""
    return live_server_url


# -- the watch -----------------------------------------------------------------------------
# Runs before any page script in every frame; reports CSP violations through the console
# with a marker so the watch can file them apart from other console errors.
CSP_MARKER = "[csp-violation]"
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP_MARKER " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline")
                + " at " + e.sourceFile + ":" + e.lineNumber);
});
""".replace("CSP_MARKER", CSP_MARKER)


@dataclass
class Watch:
    """What went wrong in the browser during one test, filed by kind."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow_console(self, pattern: str) -> None:
        """Expect console errors matching pattern (e.g. the 400 of a refused value)."""
        self.allowed.append(re.compile(pattern))

    def attach(self, context) -> None:
        context.add_init_script(_CSP_LISTENER)
        context.on("console", self._on_console)
        context.on("weberror", lambda err: self.page_errors.append(str(err.error)))
        context.on("request", self._on_request)
        context.on("response", self._on_response)

    def _on_console(self, msg) -> None:
        if msg.type != "error":
            return
        text = msg.text
        where = msg.location.get("url", "") if msg.location else ""
        if text.startswith(CSP_MARKER) or "Content Security Policy" in text:
            self.csp_violations.append(f"{text} ({where})")
        elif not any(p.search(text) for p in self.allowed):
            self.console_errors.append(f"{text} ({where})")

    def _on_request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != HOST:
            self.foreign_requests.append(request.url)

    def _on_response(self, response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.url}")

    def problems(self) -> dict[str, list[str]]:
        found = {
            "console errors": self.console_errors,
            "page errors": self.page_errors,
            "CSP violations": self.csp_violations,
            "requests to another host": self.foreign_requests,
            "5xx responses": self.server_errors,
        }
        return {k: v for k, v in found.items() if v}

    def forget(self) -> None:
        """Drop everything recorded so far (for the watch's own test)."""
        for items in (self.console_errors, self.page_errors, self.csp_violations,
                      self.foreign_requests, self.server_errors):
            items.clear()

    def assert_clean(self) -> None:
        found = self.problems()
        assert not found, "the browser reported problems:\n" + "\n".join(
            f"  {kind}:\n" + "\n".join(f"    - {item}" for item in items)
            for kind, items in found.items())


@pytest.fixture
def watch() -> Iterator[Watch]:
    """The problems of every browser context of this test; asserted none at the end."""
    w = Watch()
    yield w
    w.assert_clean()


@pytest.fixture
def new_context(new_context: Callable, watch: Watch) -> Callable:
    """pytest-playwright's new_context, with every context watched (so `page` is too)."""
    def make(**kwargs):
        ctx = new_context(**kwargs)
        ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
        watch.attach(ctx)
        return ctx
    return make


# -- the site's pages, found the way a reader finds them ------------------------------------
class _Links(HTMLParser):
    """Every link of a page, and each list item's first link with the item's text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, the link's class)
        self.items: list[tuple[str, str]] = []  # (first href in an <li>, the <li>'s text)
        self._li: list[str] | None = None
        self._li_href: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "li":
            self._li, self._li_href = [], None
        if tag == "a" and a.get("href"):
            self.links.append((a["href"], a.get("class") or ""))
            if self._li is not None and self._li_href is None:
                self._li_href = a["href"]

    def handle_data(self, data):
        if self._li is not None:
            self._li.append(data)

    def handle_endtag(self, tag):
        if tag == "li" and self._li is not None:
            if self._li_href:
                self.items.append((self._li_href, " ".join("".join(self._li).split())))
            self._li = None


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


@dataclass(frozen=True)
class Site:
    """URLs of each kind of page, discovered from the contents and the labs."""

    chapters: tuple[str, ...]
    chapters_with_figure: tuple[str, ...]
    chapters_without_figure: tuple[str, ...]
    chapter_for_sim: dict[str, str]

    def chapter_with_figure(self) -> str:
        assert self.chapters_with_figure, "the contents list no chapter with a live figure"
        return self.chapters_with_figure[0]

    def featured_sim(self) -> str:
        """The simulation of the first chapter with a figure, in reading order."""
        chapter = self.chapter_with_figure()
        for slug, url in self.chapter_for_sim.items():
            if url == chapter:
                return slug
        raise AssertionError(f"no lab links to {chapter}")

    def chapter_without_figure(self) -> str:
        assert self.chapters_without_figure, "every chapter has a live figure"
        return self.chapters_without_figure[0]


@pytest.fixture(scope="session")
def site(live_server_url: str) -> Site:
    import simulations

    contents = _Links()
    contents.feed(_get(f"{live_server_url}/"))
    entries = [(h, t) for h, t in contents.items if h.startswith("/chapters/")]
    chapter_for_sim = {}
    for slug in simulations.registry():
        lab = _Links()
        try:
            lab.feed(_get(f"{live_server_url}/simulations/{slug}/"))
        except urllib.error.HTTPError:
            continue  # that lab's own tests report the failure
        hrefs = [h.split("#")[0] for h, _ in lab.links if h.startswith("/chapters/")]
        if hrefs:
            chapter_for_sim[slug] = hrefs[0]
    return Site(
        chapters=tuple(h for h, _ in entries),
        chapters_with_figure=tuple(h for h, t in entries if "live figure" in t),
        chapters_without_figure=tuple(h for h, t in entries if "live figure" not in t),
        chapter_for_sim=chapter_for_sim,
    )


# -- figure helpers shared by the test modules ------------------------------------------------
# Counts swaps and redraws in the page, so a test can wait for "the last answer is drawn".
_FIGURE_PROBE = """
() => {
  if (window.__probe) return;
  const p = window.__probe = {okSwaps: 0, lastOkSwap: 0, draws: 0, lastDraw: 0, errorSwaps: 0,
                              errorSettles: 0, reacts: 0, requests: 0};
  document.body.addEventListener("htmx:afterSwap", (e) => {
    const status = e.detail && e.detail.xhr ? e.detail.xhr.status : 200;
    if (status === 200) { p.okSwaps++; p.lastOkSwap = performance.now(); } else { p.errorSwaps++; }
  });
  // Registered after app.js's own afterSettle handler, so this runs once it has.
  document.body.addEventListener("htmx:afterSettle", (e) => {
    const status = e.detail && e.detail.xhr ? e.detail.xhr.status : 200;
    if (status !== 200) p.errorSettles++;
  });
  document.body.addEventListener("htmx:beforeRequest", () => { p.requests++; });
  // Every redraw starts with a (synchronous) call to Plotly.react: count the calls.
  const react = window.Plotly.react;
  window.Plotly.react = function () { p.reacts++; return react.apply(this, arguments); };
  document.addEventListener("figure:drawn", () => { p.draws++; p.lastDraw = performance.now(); });
}
"""


class Figures:
    """Drive a live figure the way a reader does, and wait for what they would wait for."""

    def open(self, page, url: str, slug: str) -> None:
        """Go to a page with slug's figure and wait until its chart is drawn."""
        response = page.goto(url)
        assert response is not None and response.status == 200, (
            f"GET {url} answered {response.status if response else 'nothing'}")
        page.wait_for_selector(f"#chart-{slug}[data-drawn]", state="attached")
        page.evaluate(_FIGURE_PROBE)

    def load_clean(self, page, url: str) -> None:
        """Load any page and wait for each chart on it to be drawn (CSP and all); the watch
        fixture then asserts no console error, CSP violation or foreign request."""
        response = page.goto(url)
        assert response is not None and response.status == 200, f"GET {url}: {response.status}"
        page.wait_for_load_state("networkidle")
        for chart in page.locator(".chart").all():
            chart.wait_for(state="attached")
            page.wait_for_function("el => el.hasAttribute('data-drawn')",
                                   arg=chart.element_handle())
        assert page.locator("h1, figure.sim").count() > 0

    def drag(self, page, slider_id: str, fractions: tuple[float, ...], steps: int = 2) -> None:
        """Press a real mouse on a slider's middle and move it through `fractions` of its
        width, leaving the button down (the caller lets go with page.mouse.up())."""
        slider = page.locator(f"#{slider_id}")
        slider.scroll_into_view_if_needed()
        box = slider.bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.5, y)
        page.mouse.down()
        for frac in fractions:
            page.mouse.move(box["x"] + box["width"] * frac, y, steps=steps)

    def probe(self, page) -> dict:
        """Counts of swaps and redraws so far (pass to wait_redrawn)."""
        return page.evaluate("() => Object.assign({}, window.__probe)")

    def wait_redrawn(self, page, slug: str, before: dict, timeout_ms: float = 15_000) -> None:
        """Wait until a newer answer is swapped in and drawn, and no request is in flight."""
        page.wait_for_function(
            """([slug, okSwaps]) => {
              const p = window.__probe;
              const busy = document.querySelector(
                "#fig-" + slug + ".htmx-request, #form-" + slug + ".htmx-request");
              return !busy && p.okSwaps > okSwaps && p.lastDraw > p.lastOkSwap;
            }""",
            arg=[slug, before["okSwaps"]], timeout=timeout_ms,
        )

    def metrics(self, page, slug: str) -> str:
        """The metrics table as a reader sees it."""
        return page.inner_text(f"#result-{slug} table.metrics")

    def query(self, page) -> dict[str, str]:
        """The page URL's query (the permalink state)."""
        return dict(parse_qsl(urlsplit(page.url).query, keep_blank_values=True))


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()
