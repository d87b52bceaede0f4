"""Onboarding sessions: the facilitator's guide, presenter mode, handouts, and a live room.

A live room is a short code (what participants type) and a secret key (what lets the
facilitator drive; it travels in the URL fragment and a request header, never in a query
string or a log line). Its state lives in the shared cache, not a worker's memory, so any
process on any machine answers, and a worker restart loses nothing. Participants poll the
state with an ETag: an unchanged room costs one cache read and a 304.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    JsonResponse,
)
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import simulations

from . import admission, content, guides, sims
from .checklist_markdown import task_lines
from .statuses import accepts

LIVE_TTL_S = 4 * 3600  # a room expires four hours after its last change
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed on a phone
CODE_LEN = 6
CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LEN}}}$")
PID_RE = re.compile(r"^[a-z0-9]{8,32}$")
MAX_PARTICIPANTS = 300  # predictions kept per step
MAX_QUERY_LEN = 2000
CREATE_PER_HOUR = 20  # rooms one client may open per hour
PREDICT_EVERY_S = 1.0  # one prediction write per participant per second
HIST_BINS = 12


# -- the guide, presenter, notes and handouts ---------------------------------------------------
def _guide_or_404(slug: str) -> guides.Guide:
    guide = guides.guides().by_chapter.get(slug)
    if guide is None:
        raise Http404(f"No facilitator guide for a chapter named {slug!r}")
    return guide


def _preset(page: content.Page, step: guides.Step) -> content.Preset | None:
    spec = page.figure(step.figure) if step.figure else None
    return next((p for p in spec.presets if p.label == step.preset), None) if spec else None


def _step_query(page: content.Page, step: guides.Step) -> str:
    """The chapter query showing the step's preset: a later figure is named, as its links are."""
    preset = _preset(page, step)
    if preset is None:
        return ""
    named = {} if step.figure == page.figures[0].simulation else {"figure": step.figure}
    return urlencode({**named, **preset.query})


def _truth(page: content.Page, step: guides.Step) -> dict[str, Any] | None:
    """The true value a prediction step is compared with: its metric at the step's preset."""
    preset = _preset(page, step)
    if step.predict is None or preset is None:
        return None
    sim = simulations.get(step.figure or "")
    if sim is None:
        return None
    params, seed = sim.parse(preset.query)
    with admission.ungated():  # a guide's answers are the book's own, bounded numbers
        metric = sims.run(sims.State(sim, params, seed)).metrics[step.predict.metric]
    value, unit = metric["value"], metric["unit"]
    shown = None if value is None else (value * 100 if unit == "share" else value)
    return {"value": shown, "text": sims.format_value(value, unit), "label": metric["label"],
            "unit": "%" if unit == "share" else unit,
            "right_choice": step.predict.right_choice(shown)}


def _steps(guide: guides.Guide) -> list[dict[str, Any]]:
    """Each step with what the presenter needs: start minute, preset query, the truth."""
    starts = guide.start_minutes()
    return [{"n": i + 1, "step": s, "start": starts[i],
             "preset_query": _step_query(guide.chapter, s),
             "truth": _truth(guide.chapter, s)} for i, s in enumerate(guide.steps)]


@require_GET
def guide_page(request: HttpRequest, slug: str) -> TemplateResponse:
    """The facilitator guide: plan with timings, goals, prompts, presets, wrong intuitions."""
    guide = _guide_or_404(slug)
    return TemplateResponse(request, "session_guide.html", {
        "guide": guide, "page": guide.chapter, "steps": _steps(guide),
        "paths": [p for p in guides.guides().paths
                  if any(c.chapter.slug == slug for c in p.chapters)],
    })


@require_GET
def sessions_index(request: HttpRequest) -> TemplateResponse:
    """Every chapter with a guide, and the suggested cross-chapter sessions."""
    g = guides.guides()
    book = content.book()
    return TemplateResponse(request, "sessions_index.html", {
        "guides": [g.by_chapter[p.slug] for p in book.pages if p.slug in g.by_chapter],
        "paths": [{"path": p, "chapters": [(c, g.by_chapter.get(c.chapter.slug))
                                           for c in p.chapters]} for p in g.paths],
    })


def _query_figure(guide: guides.Guide, query: str) -> str | None:
    """Which of the guide's figures a chapter query is for (`figure=`, else the first)."""
    from django.http import QueryDict

    named = QueryDict(query).get("figure")
    figures = guide.figures_in_order
    return named if named in figures else (figures[0] if figures else None)


def _figures_for_steps(guide: guides.Guide, steps: list[dict[str, Any]], query: str
                       ) -> list[dict[str, Any]]:
    """The chapter's live figures the guide uses, as the chapter page builds them: the one
    `query` is for at that query (shown), each other at its first step's preset (hidden)."""
    from django.http import QueryDict

    from . import views

    page = guide.chapter
    shown = _query_figure(guide, query)
    out = []
    for slug in guide.figures_in_order:
        sim = simulations.get(slug)
        if sim is None:
            continue
        own = query if slug == shown else next(
            (s["preset_query"] for s in steps if s["step"].figure == slug), "")
        state = sims.resolve(sim, sims.without(QueryDict(own), "figure"))
        out.append(views._figure_context(state, page.url) | {"shown": slug == shown})
    return out


@require_GET
def present(request: HttpRequest, slug: str) -> TemplateResponse:
    """Presenter mode: one step at a time, large type, the figure full width, a timer."""
    guide = _guide_or_404(slug)
    steps = _steps(guide)
    live = request.GET.get("live", "")
    room = _room(live) if live else None
    if live and room is None:
        return _room_missing(request, live)
    first = next((s["preset_query"] for s in steps if s["preset_query"]), "")
    ctx = {"guide": guide, "page": guide.chapter, "steps": steps, "room": room, "code": live,
           "figs": _figures_for_steps(guide, steps, first)}
    if room is not None:
        follow_url = request.build_absolute_uri(reverse("live_follow", args=[live]))
        ctx["follow_url"] = follow_url
        ctx["qr_svg"] = _qr_svg(follow_url)
    return TemplateResponse(request, "presenter.html", ctx)


@require_GET
def notes(request: HttpRequest, slug: str) -> TemplateResponse:
    """Speaker notes, kept in step with the presenter window (same browser, no server state)."""
    guide = _guide_or_404(slug)
    return TemplateResponse(request, "session_notes.html",
                            {"guide": guide, "page": guide.chapter, "steps": _steps(guide)})


@require_GET
def handout(request: HttpRequest, slug: str, answers: bool = False) -> TemplateResponse:
    """A printable handout (no answers) or the separate answer key."""
    page = content.book().by_slug.get(slug)
    if page is None or page.kind != "chapter":
        raise Http404(f"No chapter named {slug!r}")
    guide = guides.guides().by_chapter.get(slug)
    exs = sorted(guides.exercises(page).values(), key=lambda e: e.number)
    first = next((s for s in guide.steps if s.preset), None) if guide is not None else None
    preset = first.preset if first else None
    simulation = first.figure if first else page.simulation
    query = urlencode(_preset(page, first).query) if first else ""
    image = ""
    if simulation:
        image = reverse("result_svg", args=[simulation]) + (f"?{query}" if query else "")
    return TemplateResponse(request, "handout.html", {
        "page": page, "guide": guide, "exercises": exs, "answers": answers,
        "image": image, "preset": preset, "items": page.do_this,
    })


# -- live rooms: storage --------------------------------------------------------------------------
def _key(code: str, *parts: str) -> str:
    return ":".join(("live", code, *parts))


def _room(code: str) -> dict[str, Any] | None:
    if not CODE_RE.match(code or ""):
        return None
    return cache.get(_key(code))


def _save(code: str, room: dict[str, Any]) -> None:
    cache.set(_key(code), room, LIVE_TTL_S)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _is_facilitator(request: HttpRequest, room: dict[str, Any]) -> bool:
    given = request.headers.get("X-Live-Key", "")
    return bool(given) and hmac.compare_digest(_hash(given), room["key_hash"])


def _rate_ok(bucket: str, client: str, limit: int, window_s: int) -> bool:
    """Under a per-client limit? (admission's shared counter, so every replica counts.)"""
    return admission.count(bucket, client, window_s)[0] <= limit


def _room_missing(request: HttpRequest, code: str) -> TemplateResponse:
    return TemplateResponse(request, "live_missing.html", {"code": code[:12],
                                                           "hours": LIVE_TTL_S // 3600},
                            status=404)


def _qr_svg(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=6, dark="#000", light="#fff",
                                                   omitsize=True)


def _public_state(code: str, room: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "chapter": room["chapter"], "step": room["step"],
            "query": room["query"], "predicting": room["predicting"],
            "revealed": room["revealed"], "version": room["version"],
            "steps": room["steps"]}


# -- live rooms: views ----------------------------------------------------------------------------
@accepts("POST")
@csrf_exempt  # no cookies anywhere: the facilitator's key travels in a header
@require_POST
def live_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Open a live room for a chapter; the facilitator lands on the presenter holding the key."""
    guide = _guide_or_404(slug)
    # The client as admission control sees it: behind the proxy, the forwarded address.
    if not _rate_ok("live-create", admission.client_id(request), CREATE_PER_HOUR, 3600):
        resp = JsonResponse({"error": "too many rooms opened from here; try again within the hour"},
                            status=429)
        resp["Retry-After"] = "600"
        return resp
    for _ in range(10):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LEN))
        secret = secrets.token_urlsafe(24)
        room = {"chapter": slug, "step": 1, "steps": len(guide.steps), "query": "",
                "predicting": False, "revealed": False, "version": 1,
                "key_hash": _hash(secret), "created": int(time.time())}
        if cache.add(_key(code), room, LIVE_TTL_S):
            url = reverse("session_present", args=[slug]) + f"?live={code}#key={secret}"
            return redirect(url, permanent=False)
    return JsonResponse({"error": "could not allocate a room code; try again"}, status=503)


@require_GET
def live_join(request: HttpRequest) -> HttpResponse:
    """`/s/?code=…` from the join form: normalise the code and go to the room."""
    code = re.sub(r"[\s-]", "", request.GET.get("code", "")).upper()[:12]
    if not code:
        return TemplateResponse(request, "live_join.html", {})
    if not CODE_RE.match(code):
        return TemplateResponse(request, "live_join.html", {
            "error": f"{code!r} is not a room code: codes are {CODE_LEN} letters and digits, "
                     "like the one on the facilitator's screen", "code": code}, status=400)
    return redirect("live_follow", code=code)


@require_GET
def live_follow(request: HttpRequest, code: str) -> HttpResponse:
    """A participant's view: the facilitator's step and figure, with a way to step out."""
    room = _room(code)
    if room is None:
        return _room_missing(request, code)
    guide = _guide_or_404(room["chapter"])
    steps = _steps(guide)
    figs = _figures_for_steps(guide, steps, room["query"] or next(
        (s["preset_query"] for s in steps if s["preset_query"]), ""))
    return TemplateResponse(request, "follow.html", {
        "guide": guide, "page": guide.chapter, "steps": steps, "code": code, "room": room,
        "state_json": json.dumps(_public_state(code, room)), "figs": figs,
        "first_figure": (guide.figures_in_order or [""])[0],
    })


@accepts("POST")
@csrf_exempt  # state reads are GETs; the drive is authorised by the key header, not cookies
@require_http_methods(["GET", "HEAD", "POST"])
def live_state(request: HttpRequest, code: str) -> HttpResponse:
    """GET: the room's state with an ETag (304 when unchanged). POST: the facilitator drives."""
    room = _room(code)
    if room is None:
        return JsonResponse({"error": f"no live session with code {code[:12]!r}: it may have "
                                      f"expired (rooms last {LIVE_TTL_S // 3600} hours)"},
                            status=404)
    if request.method == "POST":
        if not _is_facilitator(request, room):
            return JsonResponse({"error": "only the facilitator can drive this room"}, status=403)
        try:
            body = json.loads(request.body[:4096] or b"{}")
            step = int(body.get("step", room["step"]))
            query = str(body.get("query", room["query"]))
            predicting = bool(body.get("predicting", False))
            revealed = bool(body.get("revealed", False))
        except (ValueError, TypeError, AttributeError):
            return JsonResponse({"error": "send JSON: {step, query, predicting, revealed}"},
                                status=400)
        if not 1 <= step <= room["steps"]:
            return JsonResponse({"error": f"step must be 1 to {room['steps']}",
                                 "parameter": "step"}, status=400)
        if len(query) > MAX_QUERY_LEN:
            return JsonResponse({"error": "query too long", "parameter": "query"}, status=400)
        room.update(step=step, query=query, predicting=predicting, revealed=revealed,
                    version=room["version"] + 1)
        _save(code, room)
        return JsonResponse(_public_state(code, room))
    etag = f'W/"{code}-{room["version"]}"'
    if request.headers.get("If-None-Match") == etag:
        resp: HttpResponse = HttpResponseNotModified()
    else:
        resp = JsonResponse(_public_state(code, room))
    resp["ETag"] = etag
    resp["Cache-Control"] = "no-cache"
    return resp


@accepts("POST")
@csrf_exempt  # anonymous, bounded, rate-limited: nothing a forged request could steal
@require_POST
def live_predict(request: HttpRequest, code: str) -> JsonResponse:
    """A participant's guess for the current prediction step (one per participant per step)."""
    room = _room(code)
    if room is None:
        return JsonResponse({"error": "this live session has ended or never existed"}, status=404)
    guide = _guide_or_404(room["chapter"])
    pid = request.POST.get("pid", "")
    if not PID_RE.match(pid):
        return JsonResponse({"error": "pid must be 8–32 lowercase letters or digits",
                             "parameter": "pid"}, status=400)
    step = guide.steps[room["step"] - 1]
    if not room["predicting"] or step.predict is None:
        return JsonResponse({"error": "the facilitator is not asking for predictions right now"},
                            status=409)
    raw = request.POST.get("value", "")[:40]
    try:
        value = float(raw)
    except ValueError:
        return JsonResponse({"error": f"value must be a number (got {raw!r})",
                             "parameter": "value"}, status=400)
    p = step.predict
    if p.choices:
        if not value.is_integer() or not 0 <= value < len(p.choices):
            return JsonResponse({"error": f"value must be a choice from 0 to {len(p.choices) - 1}",
                                 "parameter": "value"}, status=400)
    elif not p.min <= value <= p.max:
        return JsonResponse({"error": f"value must be between {p.min:g} and {p.max:g}",
                             "parameter": "value"}, status=400)
    if not _rate_ok(f"live-predict:{code}", pid, 1, max(1, int(PREDICT_EVERY_S))):
        resp = JsonResponse({"error": "one guess a second, please"}, status=429)
        resp["Retry-After"] = "1"
        return resp
    s = str(room["step"])
    slot = cache.get(_key(code, "pid", s, pid))
    if slot is None:
        count_key = _key(code, "count", s)
        cache.add(count_key, 0, LIVE_TTL_S)
        slot = cache.incr(count_key)
        if slot > MAX_PARTICIPANTS:
            return JsonResponse({"error": "this room has all the guesses it can hold"}, status=409)
        cache.set(_key(code, "pid", s, pid), slot, LIVE_TTL_S)
    cache.set(_key(code, "guess", s, str(slot)), value, LIVE_TTL_S)
    return JsonResponse({"ok": True, "step": room["step"], "value": value})


def histogram(values: list[float], lo: float, hi: float, bins: int = HIST_BINS
              ) -> tuple[list[float], list[int]]:
    """Bin centres and counts over [lo, hi] (the guess's declared range)."""
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) // width)))] += 1
    return [lo + width * (i + 0.5) for i in range(bins)], counts


@require_GET
def live_predictions(request: HttpRequest, code: str) -> JsonResponse:
    """The guesses for a step as a histogram (or counts per choice), beside the true value."""
    room = _room(code)
    if room is None:
        return JsonResponse({"error": "this live session has ended or never existed"}, status=404)
    guide = _guide_or_404(room["chapter"])
    raw = request.GET.get("step", str(room["step"]))
    if not raw.isdigit() or not 1 <= int(raw) <= len(guide.steps):
        return JsonResponse({"error": f"step must be 1 to {len(guide.steps)}",
                             "parameter": "step"}, status=400)
    step = guide.steps[int(raw) - 1]
    if step.predict is None:
        return JsonResponse({"error": f"step {raw} asks for no prediction", "parameter": "step"},
                            status=400)
    count = cache.get(_key(code, "count", raw)) or 0
    keys = [_key(code, "guess", raw, str(i)) for i in range(1, min(count, MAX_PARTICIPANTS) + 1)]
    values = [float(v) for v in cache.get_many(keys).values()]
    out: dict[str, Any] = {"step": int(raw), "n": len(values), "question": step.predict.question}
    if step.predict.choices:
        out["choices"] = [c.label for c in step.predict.choices]
        out["counts"] = [sum(1 for v in values if int(v) == i)
                         for i in range(len(step.predict.choices))]
    else:
        out["centres"], out["counts"] = histogram(values, step.predict.min, step.predict.max)
    if _is_facilitator(request, room) or room["revealed"]:
        out["truth"] = _truth(guide.chapter, step)
    return JsonResponse(out)


# -- the team checklist ------------------------------------------------------------------------------
TICKS_RE = re.compile(r"^[a-z0-9-]+:\d{1,2}$")


def parse_ticks(raw: str) -> tuple[list[tuple[str, int]], list[str]]:
    """`slug:n,slug:n` → the ticked items that exist, and the ones that don't."""
    book = content.book()
    ok, bad = [], []
    for token in [t.strip() for t in raw.split(",") if t.strip()][:200]:
        if not TICKS_RE.match(token):
            bad.append(token[:40])
            continue
        slug, n = token.split(":")
        page = book.by_slug.get(slug)
        if page is None or not 1 <= int(n) <= len(page.do_this):
            bad.append(token)
            continue
        ok.append((slug, int(n)))
    return ok, bad


@require_GET
def checklist_template(request: HttpRequest) -> HttpResponse:
    """The ticked items as a Markdown pull-request template (only what applies)."""
    raw = request.GET.get("ticks", "")
    ticked, bad = parse_ticks(raw)
    if bad:
        return JsonResponse({"error": f"unknown checklist items: {', '.join(bad[:5])} (items "
                                      "are chapter-slug:number, as the checklist page exports "
                                      "them)", "parameter": "ticks"}, status=400)
    book = content.book()
    lines = ["## Pre-merge checklist", "",
             f"From *{book.title}*: the items this team decided apply. Tick each one "
             "this change satisfies, or say why it doesn't apply.", ""]
    by_slug: dict[str, list[int]] = {}
    for slug, n in ticked:
        by_slug.setdefault(slug, []).append(n)
    for page in book.pages:
        if page.slug not in by_slug:
            continue
        lines.append(f"### {page.title}")
        lines += task_lines([page.do_this[n - 1] for n in sorted(set(by_slug[page.slug]))])
        lines.append("")
    if not by_slug:
        lines.append("_No items ticked: tick the ones that apply on the checklist page._")
    resp = HttpResponse("\n".join(lines) + "\n", content_type="text/markdown; charset=utf-8")
    resp["Content-Disposition"] = 'inline; filename="pull_request_template.md"'
    return resp
