"""On-call load: incidents per shift, time on call and time to restore, for a rotation.

Model. A service has incidents at `incidents_per_week`, a Poisson process that runs
around the clock (no daily or weekly pattern), for `weeks` weeks. The team of
`team_size` engineers covers it with back-to-back shifts of `shift_hours`, round robin:
shift k's primary is engineer k mod n and, with `secondary`, engineer k + 1 mod n is the
secondary. That is the Google SRE book's single-site arrangement (primary and secondary,
every hour covered), so each engineer is on call for slots ÷ n of the time.

An incident is handled by whoever of the shift's responders is free (primary first); when
both are busy it waits. Its time to restore is that wait plus:
- acknowledging the page: ACK_MIN in working hours, ACK_OFF_HOURS_MIN outside them
  (09:00–17:00, Monday to Friday), where someone is woken up;
- diagnosis: lognormal, median DIAGNOSE_MIN, or DIAGNOSE_RUNBOOK_MIN with `runbooks` (the
  symptom, the dashboard and the first command are written down);
- mitigation: CHANGE_SHARE of incidents come from a change (the SRE book: roughly 70 %
  of outages are due to changes in a live system) and are mitigated by rolling back:
  median ROLLBACK_REHEARSED_MIN with `rehearsed_rollback`, else ROLLBACK_MIN, and then
  it fails ROLLBACK_FAIL_SHARE of the time and the fix goes forward instead. The rest are
  fixed forward (median FIX_MIN).
These durations are the model's assumptions, chosen to be plausible for a small web
service, not measurements; the chapter says so.

Load. The SRE book reckons an incident costs about six hours all told (restoring, root
cause, postmortem, follow-up bugs), which is why a 12-hour shift holds at most two. Here
an incident costs its time to restore plus FOLLOW_UP_H, done by the primary during the
shift; whatever exceeds the shift's length spills into that engineer's time after it.
On-call time counts as operational time (as the book counts it); the share left for
engineering is what remains after on-call time and spilled incident work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param, ParamError
from ..engine.plotting import PALETTE
from ..engine.words import duration, pct

# -- the SRE book's reference points (Google, Site Reliability Engineering, ch. 11) --------
SRE_MAX_INCIDENTS_PER_12H = 2  # at most two incidents per 12-hour on-call shift
SRE_MIN_SINGLE_SITE_TEAM = 8  # primary + secondary, ≤ 25 % on call → at least eight
SRE_MAX_ONCALL_SHARE = 0.25  # at most 25 % of an engineer's time on call
SRE_MIN_ENGINEERING_SHARE = 0.50  # at least 50 % on engineering work
SRE_INCIDENT_H = 6.0  # all the work one incident costs, on average

# -- the model's assumptions ---------------------------------------------------------------
FOLLOW_UP_H = 5.0  # root cause, postmortem, fixes: with a 1 h restore, the book's 6 h
WORK_START_H, WORK_END_H = 9, 17  # working hours, Monday to Friday
ACK_MIN = 5.0  # minutes to acknowledge a page at the desk
ACK_OFF_HOURS_MIN = 15.0  # … and when it wakes someone up
DIAGNOSE_MIN = 40.0  # median minutes to find the cause without a runbook
DIAGNOSE_RUNBOOK_MIN = 15.0  # … with a runbook for this failure
DIAGNOSE_SIGMA = 0.8  # lognormal spread of diagnosis times
CHANGE_SHARE = 0.7  # incidents caused by a change (SRE book, ch. 1: ~70 % of outages)
ROLLBACK_REHEARSED_MIN = 5.0  # median minutes for a rollback practised every deploy
ROLLBACK_MIN = 30.0  # … for one nobody has run lately
ROLLBACK_FAIL_SHARE = 0.25  # unrehearsed rollbacks that fail (then fix forward)
FIX_MIN = 60.0  # median minutes to fix forward
MITIGATE_SIGMA = 0.6  # lognormal spread of mitigation times
HOURS_PER_WEEK = 168.0
MAX_INCIDENTS = 5000  # expected incidents per run: keeps the largest run well under a second

PARAMS = (
    Param(name="team_size", kind="int", default=4, min=2, max=40, step=1, unit="engineers",
          label="Team size", help="Engineers sharing the rotation."),
    Param(name="incidents_per_week", kind="float", default=7, min=0, max=200, step=0.5,
          unit="per week", label="Incident rate",
          help="Incidents that page someone, per week, around the clock."),
    Param(name="runbooks", kind="bool", default=False, label="Runbooks",
          help="A runbook for the common failures: diagnosis takes "
               f"{DIAGNOSE_RUNBOOK_MIN:g} instead of {DIAGNOSE_MIN:g} minutes (median)."),
    Param(name="rehearsed_rollback", kind="bool", default=False, label="Rehearsed rollback",
          help="Rollback practised on every deploy: "
               f"{ROLLBACK_REHEARSED_MIN:g} minutes instead of {ROLLBACK_MIN:g}, and it works."),
    Param(name="secondary", kind="bool", default=True, label="Secondary on call",
          help="A second engineer on call each shift, as the SRE book's rotation has."),
    Param(name="shift_hours", kind="int", default=12, min=4, max=168, step=1, unit="h",
          label="Shift length", help="Hours each on-call shift lasts (168 = a week)."),
    Param(name="weeks", kind="int", default=12, min=1, max=104, step=1, unit="weeks",
          label="Weeks simulated", help="How long the rotation runs."),
)


@dataclass(frozen=True)
class OncallParams:
    team_size: int
    incidents_per_week: float
    runbooks: bool
    rehearsed_rollback: bool
    secondary: bool
    shift_hours: int
    weeks: int


@dataclass(frozen=True)
class OncallFigure:
    """Inputs the figure needs besides the public series."""

    per_shift_limit: float  # the SRE limit pro rata for this shift length
    poisson_pmf: tuple[float, ...]  # expected share of shifts with k incidents
    oncall_share: float
    spill_share: float
    engineering_share: float
    median_restore_min: float


def check(p: OncallParams) -> None:
    """Refuse runs too big to answer within a second."""
    expected = p.incidents_per_week * p.weeks
    if expected > MAX_INCIDENTS:
        raise ParamError("incidents_per_week", (
            f"incidents_per_week × weeks must be at most {MAX_INCIDENTS:,} (got "
            f"{expected:,.0f}) expected incidents: lower weeks to "
            f"{int(MAX_INCIDENTS // p.incidents_per_week):,} or fewer, or lower the rate"))


# -- closed forms ----------------------------------------------------------------------------
def slots(p: OncallParams) -> int:
    """Engineers on call at any moment."""
    return 2 if p.secondary else 1


def oncall_share_closed_form(p: OncallParams) -> float:
    """Round robin over n engineers with s on call at once: each is on call s ÷ n of the time."""
    return slots(p) / p.team_size


def incidents_per_12h(p: OncallParams) -> float:
    """Expected incidents in 12 hours: the Poisson rate × 12 h."""
    return p.incidents_per_week * 12 / HOURS_PER_WEEK


def per_shift_limit(p: OncallParams) -> float:
    """The SRE book's two incidents per 12 hours, pro rata for this shift length."""
    return SRE_MAX_INCIDENTS_PER_12H * p.shift_hours / 12


def share_of_shifts_over_limit(p: OncallParams) -> float:
    """P(N > limit) for N ~ Poisson(rate × shift length): shifts over the book's limit."""
    mean = p.incidents_per_week * p.shift_hours / HOURS_PER_WEEK
    k_max = math.floor(per_shift_limit(p))
    term, total = math.exp(-mean), 0.0
    for k in range(k_max + 1):
        total += term
        term *= mean / (k + 1)
    return max(0.0, 1.0 - total)


def working_hours(t_h: np.ndarray) -> np.ndarray:
    """True where a time (hours from Monday 00:00) falls in 09:00–17:00, Monday–Friday."""
    day = np.floor(t_h / 24) % 7
    hour = t_h % 24
    return (day < 5) & (hour >= WORK_START_H) & (hour < WORK_END_H)


# -- the model -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    arrivals_h: np.ndarray  # incident start, hours from the run's start (a Monday 00:00)
    work_min: np.ndarray  # hands-on minutes to restore, per incident
    restore_min: np.ndarray  # time to restore (waiting for a responder included), minutes
    shift_of: np.ndarray  # shift index of each incident
    n_shifts: int


def _lognormal(rng: np.random.Generator, median: float | np.ndarray, sigma: float,
               n: int) -> np.ndarray:
    return np.asarray(median) * np.exp(sigma * rng.standard_normal(n))


STREAMS = ("arrivals", "diagnose", "cause", "mitigate", "rollback")


def incident_work_min(p: OncallParams, rng: dict[str, np.random.Generator], n: int,
                      off_hours: np.ndarray) -> np.ndarray:
    """Minutes of hands-on work to restore each incident (ack, diagnosis, mitigation)."""
    ack = np.where(off_hours, ACK_OFF_HOURS_MIN, ACK_MIN)
    diagnose = _lognormal(rng["diagnose"], DIAGNOSE_RUNBOOK_MIN if p.runbooks else DIAGNOSE_MIN,
                          DIAGNOSE_SIGMA, n)
    change = rng["cause"].random(n) < CHANGE_SHARE
    fix = _lognormal(rng["mitigate"], FIX_MIN, MITIGATE_SIGMA, n)
    if p.rehearsed_rollback:
        rollback = _lognormal(rng["rollback"], ROLLBACK_REHEARSED_MIN, MITIGATE_SIGMA, n)
    else:
        rollback = _lognormal(rng["rollback"], ROLLBACK_MIN, MITIGATE_SIGMA, n)
        failed = rng["rollback"].random(n) < ROLLBACK_FAIL_SHARE
        rollback = np.where(failed, rollback + fix, rollback)
    return ack + diagnose + np.where(change, rollback, fix)


def simulate(p: OncallParams, seed: int) -> Run:
    """Incidents arrive (Poisson); the shift's responders take them, waiting when all are busy."""
    horizon = p.weeks * HOURS_PER_WEEK
    rng = spawn_rngs(seed, *STREAMS)
    count = int(rng["arrivals"].poisson(p.incidents_per_week * p.weeks))
    arrivals = np.sort(rng["arrivals"].uniform(0, horizon, count))
    off_hours = ~working_hours(arrivals)
    work = incident_work_min(p, rng, count, off_hours)
    restore = np.zeros(count)
    env = simpy.Environment()
    # Minutes on the clock; the shift's responders (primary and secondary) as one resource.
    responders = simpy.Resource(env, capacity=slots(p))

    def incident(i: int) -> Any:
        with responders.request() as req:
            yield req
            yield env.timeout(work[i])
        restore[i] = env.now - arrivals[i] * 60

    def pager() -> Any:
        """Starts each incident at its arrival (one pending event, not one per incident)."""
        for i in range(count):
            yield env.timeout(arrivals[i] * 60 - env.now)
            env.process(incident(i))

    env.process(pager())
    env.run()
    n_shifts = math.ceil(horizon / p.shift_hours)
    shift_of = np.minimum((arrivals // p.shift_hours).astype(int), n_shifts - 1)
    return Run(arrivals, work, restore, shift_of, n_shifts)


@dataclass(frozen=True)
class Load:
    incidents_per_shift: np.ndarray
    handling_h: np.ndarray  # incident work per shift, hours (hands-on + follow-up)
    spill_h: np.ndarray  # the part beyond the shift's length
    oncall_h: np.ndarray  # per engineer
    spill_by_engineer_h: np.ndarray


def measure_load(p: OncallParams, r: Run) -> Load:
    """Per shift: incidents and hours of incident work; per engineer: hours on call and spilled."""
    horizon = p.weeks * HOURS_PER_WEEK
    per_shift = np.bincount(r.shift_of, minlength=r.n_shifts)
    handling = np.bincount(r.shift_of, weights=r.work_min / 60 + FOLLOW_UP_H,
                           minlength=r.n_shifts)
    starts = np.arange(r.n_shifts) * p.shift_hours
    length = np.minimum(starts + p.shift_hours, horizon) - starts
    spill = np.maximum(0.0, handling - length)
    n = p.team_size
    primary = np.arange(r.n_shifts) % n
    oncall = np.bincount(primary, weights=length, minlength=n)
    if p.secondary:
        oncall += np.bincount((primary + 1) % n, weights=length, minlength=n)
    # Spilled work can take at most an engineer's time off call.
    spill_by = np.minimum(np.bincount(primary, weights=spill, minlength=n), horizon - oncall)
    return Load(per_shift, handling, spill, oncall, spill_by)


def run(p: OncallParams, seed: int) -> Result[OncallFigure]:
    """Simulate the rotation, then measure load, time to restore and the book's limits."""
    r = simulate(p, seed)
    load = measure_load(p, r)
    horizon = p.weeks * HOURS_PER_WEEK
    n_inc = int(r.arrivals_h.size)
    blocks_12h = horizon / 12
    rate_ci = stats.poisson_ci(n_inc, blocks_12h)
    oncall_share = float(load.oncall_h.mean() / horizon)
    spill_share = float(load.spill_by_engineer_h.mean() / horizon)
    engineering = max(0.0, 1.0 - oncall_share - spill_share)
    limit = per_shift_limit(p)
    over = int((load.incidents_per_shift > limit).sum())
    off = int((~working_hours(r.arrivals_h)).sum())
    months = p.weeks * 7 / 30.4375
    off_per_eng_month = off / p.team_size / months
    off_ci = stats.poisson_ci(off, p.team_size * months)
    if n_inc:
        mean, mlo, mhi = stats.mean_ci(r.restore_min, floor=0.0)
        med, qlo, qhi = stats.quantile_ci(r.restore_min, 0.5)
    else:
        mean = mlo = mhi = med = qlo = qhi = math.nan
    metrics = {
        "incidents_per_12h_shift": Metric(
            n_inc / blocks_12h, "incidents", "Incidents per 12 hours on call",
            ci95=rate_ci, closed_form=incidents_per_12h(p)),
        "oncall_share": Metric(
            oncall_share, "share", "Share of each engineer's time on call",
            closed_form=oncall_share_closed_form(p)),
        "engineering_share": Metric(
            engineering, "share",
            "Share left for engineering (after on-call time and incident work spilling past it)"),
        "spill_share": Metric(
            spill_share, "share", "Share of time spent on incident work after the shift ended"),
        "mean_restore_min": Metric(
            None if math.isnan(mean) else mean, "min", "Mean time to restore",
            ci95=None if math.isnan(mean) else (mlo, mhi)),
        "median_restore_min": Metric(
            None if math.isnan(med) else med, "min", "Median time to restore",
            ci95=None if math.isnan(med) else (qlo, qhi)),
        "pages_off_hours_per_engineer_month": Metric(
            off_per_eng_month, "pages",
            "Pages outside working hours, per engineer per month", ci95=off_ci),
        "shifts_over_limit": Metric(
            over / r.n_shifts, "share",
            f"Shifts over the SRE book's limit (more than {limit:.2g} incidents in "
            f"{p.shift_hours} h)",
            ci95=stats.proportion_ci(over, r.n_shifts),
            closed_form=share_of_shifts_over_limit(p)),
        "incidents": Metric(n_inc, "count", "Incidents in the run"),
    }
    k = np.arange(0, max(int(load.incidents_per_shift.max(initial=0)), math.ceil(limit)) + 2)
    lam = p.incidents_per_week * p.shift_hours / HOURS_PER_WEEK
    pmf = tuple(float(math.exp(-lam + x * math.log(lam) - math.lgamma(x + 1))) if lam > 0
                else float(x == 0) for x in k)
    fig = OncallFigure(per_shift_limit=limit, poisson_pmf=pmf, oncall_share=oncall_share,
                       spill_share=spill_share, engineering_share=engineering,
                       median_restore_min=med)
    series = {
        "shift": list(range(r.n_shifts)),
        "shift_incidents": load.incidents_per_shift.tolist(),
        "shift_incident_work_h": np.round(load.handling_h, 2).tolist(),
        "incident_start_h": np.round(r.arrivals_h, 3).tolist(),
        "restore_min": np.round(r.restore_min, 1).tolist(),
        "engineer": list(range(p.team_size)),
        "engineer_oncall_h": np.round(load.oncall_h, 1).tolist(),
    }
    return Result(metrics=metrics, series=series, summary=_summary(p, metrics),
                  figure_data=fig)


def _summary(p: OncallParams, m: dict[str, Metric]) -> str:
    share = float(m["oncall_share"].value or 0)
    eng = float(m["engineering_share"].value or 0)
    rate = float(m["incidents_per_12h_shift"].value or 0)
    meets = (share <= SRE_MAX_ONCALL_SHARE and eng >= SRE_MIN_ENGINEERING_SHARE
             and rate <= SRE_MAX_INCIDENTS_PER_12H)
    med = m["median_restore_min"].value
    restore = f" Half the incidents were restored within {duration(med * 60)}." if med else ""
    verdict = ("within the SRE book's limits" if meets
               else "outside the SRE book's limits (≤ 25 % on call, ≥ 50 % engineering, "
                    "≤ 2 incidents per 12 hours)")
    return (f"A team of {p.team_size} spends {pct(share)} of its time on call and keeps "
            f"{pct(eng)} for engineering, with {rate:.2g} incidents per 12 hours: "
            f"{verdict}.{restore}")


# -- figure ----------------------------------------------------------------------------------
def build_figure(result: Result[OncallFigure], p: OncallParams) -> dict[str, Any]:
    """Top: incidents per shift vs Poisson; middle: time to restore; bottom: time budget."""
    f = result.figure_data
    assert f is not None
    s = result.series
    blue, orange, green, red, grey, purple, teal = (
        PALETTE[c] for c in ("blue", "orange", "green", "red", "grey", "purple", "teal"))
    n = len(s["shift_incidents"])
    k = list(range(len(f.poisson_pmf)))
    counts = np.bincount(np.asarray(s["shift_incidents"], dtype=int), minlength=len(k))[:len(k)]
    restore = np.asarray(s["restore_min"], dtype=float)
    data: list[dict[str, Any]] = [
        {"type": "bar", "x": k, "y": [round(100 * c / n, 2) for c in counts.tolist()],
         "name": "shifts with k incidents (%)", "marker": {"color": blue},
         "hovertemplate": "%{x} incidents: %{y:.1f} % of shifts"},
        {"type": "scatter", "mode": "markers", "x": k,
         "y": [round(100 * v, 2) for v in f.poisson_pmf], "name": "Poisson expectation",
         "marker": {"color": orange, "size": 8, "symbol": "diamond"},
         "hovertemplate": "%{x} incidents: %{y:.1f} % expected"},
    ]
    if restore.size:
        hi = max(60.0, float(np.quantile(restore, 0.99)))
        centres, widths, shares = stats.histogram(restore, 30, lo=0, hi=hi)
        data.append({"type": "bar", "x": centres, "y": [round(100 * v, 2) for v in shares],
                     "width": widths, "name": "time to restore (% of incidents)",
                     "marker": {"color": teal}, "xaxis": "x2", "yaxis": "y2",
                     "hovertemplate": "%{x:.0f} min: %{y:.1f} %"})
    budget = [("on call", f.oncall_share, purple), ("incident work after shift",
                                                     f.spill_share, red),
              ("engineering", f.engineering_share, green)]
    for label, share, colour in budget:
        data.append({"type": "bar", "orientation": "h", "y": ["this team"],
                     "x": [round(100 * share, 1)], "name": label,
                     "marker": {"color": colour}, "xaxis": "x3", "yaxis": "y3",
                     "hovertemplate": f"{label}: %{{x:.1f}} %"})
    limit_line, limit_note = plotting.vline(f.per_shift_limit + 0.5, "SRE limit", red)
    limit_line = {**limit_line, "xref": "x", "yref": "y domain"}
    limit_note = {**limit_note, "xref": "x", "yref": "y domain"}
    shapes = [limit_line]
    notes = [limit_note,
             plotting.panel_title("Incidents per shift, against Poisson", y=1.0),
             plotting.panel_title("Time to restore", y=0.56),
             plotting.panel_title("Each engineer's time", y=0.16)]
    for x, text in ((100 * SRE_MAX_ONCALL_SHARE, "≤ 25 % on call"),
                    (100 * (1 - SRE_MIN_ENGINEERING_SHARE), "≥ 50 % engineering")):
        shapes.append({"type": "line", "xref": "x3", "yref": "y3 domain", "x0": x, "x1": x,
                       "y0": 0, "y1": 1, "line": {"color": grey, "width": 1.5,
                                                  "dash": "dash"}})
        notes.append({"x": x, "y": 1, "xref": "x3", "yref": "y3 domain", "text": text,
                      "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                      "font": {"size": 11, "color": grey}})
    if not math.isnan(f.median_restore_min):
        line, note = plotting.vline(f.median_restore_min,
                                    f"median {f.median_restore_min:.0f} min", teal)
        shapes.append({**line, "xref": "x2", "yref": "y2 domain"})
        notes.append({**note, "xref": "x2", "yref": "y2 domain", "yanchor": "bottom"})
    return plotting.figure(
        data,
        height=660,
        barmode="stack",
        xaxis=plotting.axis(f"incidents in a {p.shift_hours} h shift", dtick=1,
                            anchor="y"),
        yaxis=plotting.axis("shifts (%)", domain=[0.72, 1]),
        xaxis2=plotting.axis("time to restore (min)", anchor="y2", rangemode="tozero"),
        yaxis2=plotting.axis("incidents (%)", domain=[0.34, 0.55], anchor="x2"),
        xaxis3=plotting.axis("share of each engineer's time (%)", range=[0, 100],
                             anchor="y3"),
        yaxis3=plotting.axis("", domain=[0, 0.1], anchor="x3", showticklabels=False),
        shapes=shapes,
        annotations=notes,
    )


SIMULATION = Simulation(
    slug="oncall",
    title="On-call load and time to restore",
    description="Incidents arrive around the clock and a rotation answers them: how much of "
                "each engineer's time goes on call, how often a shift breaks the SRE book's "
                "limit of two incidents, and how runbooks and a rehearsed rollback cut the "
                "time to restore.",
    params=PARAMS,
    params_type=OncallParams,
    run=run,
    figure=build_figure,
    check=check,
    limits=(f"incidents_per_week × weeks must be at most {MAX_INCIDENTS:,}.",),
    main_param="team_size",
    model_version=1,
)
