"""A whole onboarding session in real browsers: a facilitator and three participants."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

SLUG = "tail-latency"


SHOWN = "() => document.querySelector('section.step:not([hidden])').dataset.step === '{}'"
PREDICT = "section[data-step='3'] form.predict"


def _step_shown(page) -> int:
    return int(page.locator("section.step:not([hidden])").get_attribute("data-step"))


def test_a_live_session_runs_from_the_site_alone(new_context):
    # The facilitator opens a room from the guide and lands on the presenter holding the key.
    fac = new_context(viewport={"width": 1280, "height": 720}).new_page()
    fac.goto(f"/chapters/{SLUG}/session/")
    fac.click(".session-actions button[type=submit]")
    fac.wait_for_url(re.compile(r".*/session/present/\?live=[A-Z0-9]{6}$"))
    code = fac.locator(".room-code .code").inner_text()
    assert fac.locator(".room-qr svg").count() == 1
    assert "key=" not in fac.url  # the key left the address bar for sessionStorage

    # Three participants join by code, each in their own browser.
    people = []
    for _ in range(3):
        p = new_context().new_page()
        p.goto("/s/")
        p.fill("#join-code", code.lower())  # codes are forgiving about case
        p.click(".join-form button[type=submit]")
        p.wait_for_url(f"**/s/{code}/")
        people.append(p)

    # The facilitator steps forward to the prediction step (step 3): everyone follows.
    fac.keyboard.press("ArrowRight")
    fac.keyboard.press("ArrowRight")
    assert _step_shown(fac) == 3
    for p in people:
        p.wait_for_function(SHOWN.format(3))
    # The step's preset ("100 backends") reaches the participants' figures too.
    for p in people:
        p.wait_for_function("() => document.getElementById('in-fanout-fanout').value === '100'")

    # One participant steps out to explore, and is not dragged along meanwhile.
    wanderer = people[2]
    wanderer.click("#step-out")
    wanderer.fill("#in-fanout-fanout", "7")
    wanderer.locator("#in-fanout-fanout").dispatch_event("change")

    # The facilitator asks the room; two participants send guesses.
    fac.click("#step-3 .open-guesses")
    for p, guess in zip(people[:2], ("40", "70"), strict=True):
        p.wait_for_selector(f"{PREDICT}:not(.closed)")
        p.fill("section[data-step='3'] input[name=guess]", guess)
        p.click("section[data-step='3'] button[type=submit]")
        p.wait_for_selector(f"{PREDICT} .predict-result:has-text('Sent')")
    fac.wait_for_selector("#guesses-3 .guess-count:text-is('2')")
    assert fac.locator("#guess-chart-3 .plot-container").count() == 1  # the histogram is drawn

    # Reveal: participants see the run's value beside their own guess.
    fac.click("#step-3 .reveal-room")
    people[0].wait_for_selector(f"{PREDICT} .predict-result:has-text('The run:')")
    assert "you guessed 40" in people[0].inner_text("section[data-step='3'] .predict-result")

    # The wanderer kept their own figure; stepping back in catches up with the room.
    assert wanderer.locator("#in-fanout-fanout").input_value() == "7"
    fac.keyboard.press("ArrowRight")
    wanderer.wait_for_selector("#follow-status:has-text('step 4')")
    assert _step_shown(wanderer) == 3
    wanderer.click("#step-in")
    wanderer.wait_for_function(SHOWN.format(4))

    # A participant can never drive: the state endpoint refuses without the key.
    resp = people[0].request.post(f"/s/{code}/state.json", data='{"step": 1}',
                                  headers={"Content-Type": "application/json"})
    assert resp.status == 403


def test_the_presenter_and_its_notes_window_stay_in_step(new_context):
    context = new_context(viewport={"width": 1280, "height": 720})
    deck = context.new_page()
    deck.goto(f"/chapters/{SLUG}/session/present/")
    with context.expect_page() as popup:
        deck.keyboard.press("n")
    notes = popup.value
    notes.wait_for_selector("section.note")
    deck.keyboard.press("ArrowRight")
    notes.wait_for_function("() => document.querySelector('section.note:not([hidden])').dataset.step === '2'")
    notes.keyboard.press("ArrowRight")
    deck.wait_for_function(SHOWN.format(3))


def test_the_handout_prints_without_answers_and_the_key_with_them(new_context):
    page = new_context().new_page()
    page.goto(f"/chapters/{SLUG}/handout/", timeout=60_000)  # the first static image starts a renderer
    page.emulate_media(media="print")
    assert page.locator(".handout-exercises li").count() >= 2
    assert page.locator(".answer, details").count() == 0
    assert page.locator(".handout-figure img").count() == 1
    pdf = page.pdf(format="A4")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 2, f"the handout prints on {pages} A4 pages"
    page.goto(f"/chapters/{SLUG}/handout/answers/")
    assert page.locator(".handout-exercises .answer").count() >= 2


def test_a_step_on_a_chapters_second_figure_shows_that_figure_to_the_room(new_context):
    from monograph import guides

    guide = guides.guides().by_chapter["resilience"]
    second = guide.chapter.figures[1].simulation
    n, step = next((i, s) for i, s in enumerate(guide.steps, start=1) if s.figure == second)
    fac = new_context(viewport={"width": 1280, "height": 720}).new_page()
    fac.goto("/chapters/resilience/session/")
    fac.click(".session-actions button[type=submit]")
    fac.wait_for_url(re.compile(r".*/session/present/\?live=[A-Z0-9]{6}$"))
    code = fac.locator(".room-code .code").inner_text()
    follower = new_context().new_page()
    follower.goto(f"/s/{code}/")

    for _ in range(n - 1):
        fac.keyboard.press("ArrowRight")
    assert _step_shown(fac) == n
    current = f".present-figure[data-figure='{second}'] .presets [aria-current]"
    fac.wait_for_selector(f"{current}:text-is('{step.preset}')", timeout=20_000)
    assert fac.locator(".present-figure:not([hidden])").get_attribute("data-figure") == second

    follower.wait_for_function(SHOWN.format(n))
    box = f".follow-figure[data-figure='{second}']"
    follower.wait_for_selector(f"{box}:not([hidden]) .presets [aria-current]:text-is('{step.preset}')",
                               timeout=20_000)
    assert follower.locator(".follow-figure:not([hidden])").count() == 1


def test_the_room_follows_the_facilitators_release_not_the_previews_of_a_drag(new_context, figures):
    """While the facilitator drags a slider, the presenter shows labelled previews; the room
    is told the state only on release, so followers never run the positions passed over."""
    fac = new_context(viewport={"width": 1280, "height": 900}).new_page()
    fac.goto(f"/chapters/{SLUG}/session/")
    fac.click(".session-actions button[type=submit]")
    fac.wait_for_url(re.compile(r".*/session/present/\?live=[A-Z0-9]{6}$"))
    code = fac.locator(".room-code .code").inner_text()

    # What the presenter tells the room, recorded in the page as each POST is sent.
    fac.evaluate("""() => {
      window.__told = [];
      const send = window.fetch;
      window.fetch = function (url, opts) {
        if (opts && opts.method === "POST" && String(url).endsWith("/state.json"))
          window.__told.push(JSON.parse(opts.body).query || "");
        return send.apply(this, arguments);
      };
    }""")

    figures.drag(fac, "sl-fanout-requests", (0.6,), steps=3)
    fac.wait_for_function(
        "() => document.getElementById('chart-fanout').getAttribute('data-preview') === 'drag'",
        timeout=15_000)
    # A preview's answer has settled (its chart is drawn): had the room been told of it, the
    # POST would have been sent by now. Nothing else tells the room anything mid-drag.
    assert fac.evaluate("() => window.__told") == []
    fac.mouse.up()
    # The release's answer: the full run (or, should admission judge it too dear for now, a
    # busy preview of it), but no longer a drag preview.
    fac.wait_for_function(
        "() => document.getElementById('chart-fanout').getAttribute('data-preview') !== 'drag'",
        timeout=15_000)
    released = fac.locator("#in-fanout-requests").input_value()
    fac.wait_for_function(
        f"() => window.__told.some(q => (q + '&').includes('requests={released}&'))")
    fac.wait_for_function(  # …and the room's state says so
        f"async () => ((await (await fetch('/s/{code}/state.json')).json()).query + '&')"
        f".includes('requests={released}&')")


def test_the_room_ends_on_the_facilitators_last_step_when_a_slow_post_lands_late(new_context):
    """Two quick steps; the first step's POST is held back (a slow request) until the second
    could have been sent. The room must end on the second step, not the late first one."""
    fac = new_context(viewport={"width": 1280, "height": 720}).new_page()
    fac.goto(f"/chapters/{SLUG}/session/")
    fac.click(".session-actions button[type=submit]")
    fac.wait_for_url(re.compile(r".*/session/present/\?live=[A-Z0-9]{6}$"))
    code = fac.locator(".room-code .code").inner_text()
    state_url = f"/s/{code}/state.json"
    held, sent, finished = [], [], []

    def hold_the_first_post(route):
        if route.request.method == "POST" and not held:
            held.append(route)
        else:
            route.continue_()

    def is_post(request) -> bool:
        return request.method == "POST" and request.url.endswith(state_url)

    fac.on("request", lambda r: is_post(r) and sent.append(r))
    fac.on("requestfinished", lambda r: is_post(r) and finished.append(r))
    fac.route(f"**{state_url}", hold_the_first_post)
    drawn = fac.get_attribute("#chart-fanout", "data-drawn")
    with fac.expect_request(is_post):
        fac.keyboard.press("ArrowRight")  # step 2: its POST is held
    fac.keyboard.press("ArrowRight")  # step 3
    assert _step_shown(fac) == 3
    # Step 3's preset is drawn: every POST the presenter makes for step 3 (the step, then the
    # figure's state once it settles) has been sent; let them land before the held one.
    fac.wait_for_function(
        """d => document.getElementById('in-fanout-fanout').value === '100'
                && document.getElementById('chart-fanout').getAttribute('data-drawn') !== d""",
        arg=drawn)
    _until(fac, lambda: held and all(r in finished for r in sent if r is not held[0].request))
    assert held, "the first POST was not held"
    held[0].continue_()
    # Every POST the presenter sent since has landed (at least the held one and one for
    # step 3; one sent before the handlers were added may land meanwhile, uncounted).
    def all_landed() -> bool:
        return len(sent) >= 2 and all(r in finished for r in sent)

    _until(fac, all_landed)
    assert all_landed(), f"{sum(r in finished for r in sent)} of {len(sent)} POSTs landed"
    assert fac.request.get(state_url).json()["step"] == 3, "the late POST set the room back"


def _until(page, done, bound_s: float = 30) -> None:
    """Let Playwright deliver events (to this test's handlers) until done(), at most bound_s."""
    for _ in range(int(bound_s / 0.05)):
        if done():
            return
        page.wait_for_timeout(50)
