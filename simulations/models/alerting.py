"""SLO burn-rate alerting: an error-rate incident on top of noise, watched by three policies.

Model. A 30-day month of per-minute traffic: REQUESTS_PER_MIN requests every minute
(steady, so budget shares are shares of time too). Normal errors run at BASELINE_BURN
of the error budget, i.e. a rate of BASELINE_BURN × (1 − `slo_target`), and wobble: each
NOISE_BLOCK_MIN-minute block's rate is that level times a log-normal factor with mean 1
and log-sd `noise` (blips: a pod restarts, a client sends junk); errors in each minute are
binomial at the block's rate (an overdispersed binomial). The incident starts on day 15
at 18:00. A sudden one fails `error_rate` of the requests at once; a leak's failing
share climbs by `leak_rate` an hour up to `error_rate`. It lasts `incident_min`, or until
on-call mitigates it RESPONSE_MIN after a page.

Policies, evaluated every minute on the windows that end then (as a Prometheus rule does):
- static: the 5-minute error rate is above `threshold`;
- single_window: the 1-hour burn rate is above 14.4;
- multi_window: the Google SRE Workbook's pair of pairs ("Alerting on SLOs"): burn rate
  above 14.4 over 1 h and over 5 min, or above 6 over 6 h and over 30 min.
A page is each time a rule starts firing.

Time. SimPy keeps the clock, one run per policy on the same month (common random
numbers): an incident process that starts, and ends on schedule or on mitigation; an
evaluator that jumps from one change of the rule's state to the next (the rule itself is
evaluated for every minute at once from cumulative sums); a responder that mitigates
RESPONSE_MIN after the first page of the incident. False pages per month come from
QUIET_MONTHS further months without an incident, drawn and evaluated at once in NumPy.

Left out: the workbook's third rule, a ticket for 1× over 3 days and 6 h (a ticket is not
a page), daily traffic cycles and low-traffic services, and alert grouping or silences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from ..engine import plotting
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param
from ..engine.plotting import PALETTE
from ..engine.stats import poisson_ci
from ..engine.words import duration, pct

# -- model constants --------------------------------------------------------------------
MONTH_MIN = 30 * 24 * 60  # the SLO period: 30 days, evaluated minute by minute
REQUESTS_PER_MIN = 6000  # 100 requests a second, steady
BASELINE_BURN = 0.2  # normal errors spend a fifth of the budget (0.02 % at a 99.9 % SLO)
NOISE_BLOCK_MIN = 5  # a blip holds its error rate this long
INCIDENT_START_MIN = 14 * 24 * 60 + 18 * 60  # day 15, 18:00
RESPONSE_MIN = 30  # page → acknowledged → cause found → rolled back
QUIET_MONTHS = 8  # months behind the false-page rate; their binomial draws dominate run time
STATIC_WINDOW_MIN = 5  # the static rule looks at the last five minutes

# The workbook's multi-window, multi-burn-rate pairs: (burn rate, long window, short window).
FAST_PAIR = (14.4, 60, 5)  # 2 % of a 30-day budget in 1 h
SLOW_PAIR = (6.0, 360, 30)  # 5 % of the budget in 6 h
SINGLE_WINDOW = (14.4, 60)  # the fast pair's long window alone
WINDOWS_MIN = (5, 30, 60, 360)  # every window a rule reads; the longest is the warm-up
WARMUP_MIN = max(WINDOWS_MIN)  # traffic before the month starts, so every window is full

POLICIES = ("static", "single_window", "multi_window")
POLICY_LABELS = {"static": "static threshold", "single_window": "1 h burn rate",
                 "multi_window": "multi-window burn rate"}
COLOURS = {"static": PALETTE["orange"], "single_window": PALETTE["purple"],
           "multi_window": PALETTE["blue"]}
SHORT_LABELS = {"static": "static", "single_window": "1 h", "multi_window": "multi"}
DASHES = {"static": "dot", "single_window": "dashdot", "multi_window": "dash"}
WINDOW_COLOURS = {5: PALETTE["grey"], 30: PALETTE["teal"], 60: PALETTE["purple"],
                  360: PALETTE["blue"]}
WINDOW_DASHES = {5: "dot", 30: "dashdot", 60: "dash", 360: "solid"}
MAX_POINTS = 240  # points per trace in the figure (a 20-hour view: one every 5 minutes)
VIEW_BEFORE_MIN = 120  # the figure starts this long before the incident
VIEW_AFTER_MIN = 180  # ...and ends this long after the last thing worth seeing
QUIET_VIEW_MIN = 3 * 24 * 60  # without an incident, three days show a few false pages

# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="incident", kind="choice", default="leak", choices=("none", "sudden", "leak"),
          choice_labels={"none": "none (a quiet month)", "sudden": "sudden",
                         "leak": "slow leak"},
          label="Incident",
          help="What goes wrong on day 15 at 18:00: nothing, a step up in errors, or a leak "
               "that climbs."),
    Param(name="leak_rate", kind="float", default=0.002, min=0.0001, max=0.1, step=0.0001,
          scale="log", unit="/h", label="Leak rate",
          help="How fast a leak's error rate climbs, as a share per hour (0.002 = 0.2 "
               "points an hour)."),
    Param(name="error_rate", kind="float", default=0.03, min=0.001, max=1, step=0.001,
          scale="log", label="Incident error rate",
          help="Share of requests the incident fails at its worst: where a sudden one "
               "starts and a leak levels off (1 = a full outage)."),
    Param(name="incident_min", kind="int", default=900, min=1, max=2880, step=1,
          scale="log", unit="min", label="Incident length",
          help=f"How long the incident lasts if nobody is paged; a page ends it "
               f"{RESPONSE_MIN} minutes later."),
    Param(name="policy", kind="choice", default="static", choices=POLICIES,
          choice_labels=POLICY_LABELS, label="Alert policy",
          help="What pages on-call: the 5-minute error rate above a threshold, the 1-hour "
               "burn rate above 14.4, or the workbook's two window pairs."),
    Param(name="threshold", kind="float", default=0.05, min=0.001, max=0.5, step=0.001,
          scale="log", label="Static threshold",
          help="The static policy pages when the 5-minute error rate exceeds this share."),
    Param(name="noise", kind="float", default=1.5, min=0, max=3, step=0.1,
          label="Noise",
          help=f"How bursty normal errors are: the log-sd of each {NOISE_BLOCK_MIN}-minute "
               f"block's error rate (0 = steady; 2 = frequent blips at 10–30× normal)."),
    Param(name="slo_target", kind="float", default=0.999, min=0.99, max=0.9999, step=0.0001,
          label="SLO target",
          help="Share of requests that must succeed over 30 days; 1 − target is the "
               "error budget."),
)


@dataclass(frozen=True)
class AlertingParams:
    """SLO burn-rate alerting: one field per entry of PARAMS, in order."""

    incident: Literal["none", "sudden", "leak"]
    leak_rate: float
    error_rate: float
    incident_min: int
    policy: Literal["static", "single_window", "multi_window"]
    threshold: float
    noise: float
    slo_target: float



# -- closed forms and rules, shared by every run -----------------------------------------
def budget_share(burn_rate: float, hours: float, period_hours: float = MONTH_MIN / 60
                 ) -> float:
    """Share of the period's error budget a steady burn rate spends in `hours`."""
    return burn_rate * hours / period_hours


def baseline_error_rate(slo_target: float) -> float:
    """The normal error rate: BASELINE_BURN of the budget rate."""
    return BASELINE_BURN * (1 - slo_target)


def month_budget(slo_target: float) -> float:
    """Failed requests the SLO allows in the month."""
    return (1 - slo_target) * REQUESTS_PER_MIN * MONTH_MIN


def incident_share(p: AlertingParams, minutes: np.ndarray) -> np.ndarray:
    """Share of requests the incident fails in each minute since it started (≥ 0)."""
    if p.incident == "none":
        return np.zeros(minutes.shape)
    if p.incident == "sudden":
        return np.full(minutes.shape, float(p.error_rate))
    # The leak's level in the middle of each minute.
    return np.minimum(p.error_rate, p.leak_rate * (minutes + 0.5) / 60)


def window_sums(cum: np.ndarray, window: int) -> np.ndarray:
    """Errors in the `window` minutes before each evaluation k = 1 … MONTH_MIN.

    `cum` is cumulative over the padded timeline (WARMUP_MIN minutes, then the month),
    with a leading 0; the last axis is time, so months can be stacked.
    """
    end = cum.shape[-1]
    return cum[..., WARMUP_MIN + 1:] - cum[..., WARMUP_MIN + 1 - window:end - window]


def rule_fires(cum: np.ndarray, p: AlertingParams, policy: str) -> np.ndarray:
    """Whether the policy's rule fires at each evaluation (every minute of the month)."""
    budget_rate = 1 - p.slo_target

    def above(window: int, rate: float) -> np.ndarray:
        return window_sums(cum, window) > rate * REQUESTS_PER_MIN * window

    if policy == "static":
        return above(STATIC_WINDOW_MIN, p.threshold)
    if policy == "single_window":
        burn, window = SINGLE_WINDOW
        return above(window, burn * budget_rate)
    fast, slow = ((above(long, burn * budget_rate) & above(short, burn * budget_rate))
                  for burn, long, short in (FAST_PAIR, SLOW_PAIR))
    return fast | slow


def count_pages(fires: np.ndarray) -> np.ndarray:
    """Pages along the last axis: each time the rule starts firing."""
    starts = fires[..., 1:] & ~fires[..., :-1]
    return starts.sum(axis=-1) + fires[..., 0]




# -- the month's traffic -----------------------------------------------------------------
def draw_baseline(rng: np.random.Generator, p: AlertingParams, months: int) -> np.ndarray:
    """Normal errors per minute, (months, WARMUP_MIN + MONTH_MIN), with blips."""
    minutes = WARMUP_MIN + MONTH_MIN
    blocks = -(-minutes // NOISE_BLOCK_MIN)
    base = baseline_error_rate(p.slo_target)
    if p.noise > 0:
        # Mean-one log-normal factors: noise reshapes the normal errors, never adds budget.
        factor = np.exp(p.noise * rng.standard_normal((months, blocks)) - p.noise ** 2 / 2)
        rate = np.minimum(base * np.repeat(factor, NOISE_BLOCK_MIN, axis=1)[:, :minutes], 1.0)
    else:
        rate = np.full((months, minutes), base)
    return rng.binomial(REQUESTS_PER_MIN, rate)


@dataclass(frozen=True)
class Month:
    """The incident month: normal errors, and the incident's extra errors if it runs its course."""

    baseline: np.ndarray  # normal errors per padded minute
    extra: np.ndarray  # incident errors per padded minute, as planned (no mitigation)
    cum_baseline: np.ndarray
    cum_extra: np.ndarray
    planned_end: int  # minute of the month the incident ends if nobody acts

    @property
    def start(self) -> int:
        return INCIDENT_START_MIN

    def cumulative(self, end: int) -> np.ndarray:
        """Cumulative errors when the incident ends at minute `end` of the month."""
        cut = WARMUP_MIN + end
        extra = np.minimum(self.cum_extra, self.cum_extra[cut])
        return self.cum_baseline + extra


def draw_month(p: AlertingParams, rngs: dict[str, np.random.Generator]) -> Month:
    """The incident month: baseline errors, then the incident's among the requests left."""
    baseline = draw_baseline(rngs["baseline"], p, 1)[0]
    extra = np.zeros_like(baseline)
    duration = 0 if p.incident == "none" else p.incident_min
    if duration:
        first = WARMUP_MIN + INCIDENT_START_MIN
        span = slice(first, first + duration)
        share = incident_share(p, np.arange(duration))
        # A request that already failed normally cannot fail again: the incident's errors
        # come from the rest, so the total is binomial at 1 − (1 − normal)(1 − incident).
        extra[span] = rngs["incident"].binomial(REQUESTS_PER_MIN - baseline[span], share)
    zero = np.zeros(1, dtype=np.int64)
    return Month(baseline=baseline, extra=extra,
                 cum_baseline=np.concatenate([zero, np.cumsum(baseline)]),
                 cum_extra=np.concatenate([zero, np.cumsum(extra)]),
                 planned_end=INCIDENT_START_MIN + duration)


# -- the SimPy run: one watcher per policy on the same month -----------------------------
class Watch:
    """One policy watching the incident month: its rule, its pages, on-call's response."""

    def __init__(self, env: simpy.Environment, policy: str, p: AlertingParams, month: Month):
        self.env, self.policy, self.p, self.month = env, policy, p, month
        self.end = month.planned_end  # until someone mitigates, the incident runs its course
        self.fires = rule_fires(month.cumulative(self.end), p, policy)
        self.firing = False
        self.page_times: list[int] = []  # every page in the month
        self.episodes: list[list[int | None]] = []  # [start, stop] of each firing spell
        self.page_min: int | None = None  # the first page during the incident
        self.mitigate = env.event()
        self.changed = env.event()
        if p.incident != "none":
            env.process(self._incident())
        env.process(self._evaluator())

    def _incident(self) -> Any:
        """Start on schedule; end on schedule or when on-call mitigates."""
        yield self.env.timeout(self.month.start)
        if self.firing:  # already firing (a noisy rule): the incident is paged at once
            self._page()
        natural = self.env.timeout(self.month.planned_end - self.month.start)
        yield natural | self.mitigate
        if not natural.processed and self.env.now < self.month.planned_end:
            # Mitigated early: from now on only normal errors; the rule sees a new series.
            self.end = int(self.env.now)
            self.fires = rule_fires(self.month.cumulative(self.end), self.p, self.policy)
            changed, self.changed = self.changed, self.env.event()
            changed.succeed()

    def _evaluator(self) -> Any:
        """Jump to each change of the rule's state; a change of series means look again."""
        while True:
            now = int(self.env.now)
            # Evaluation k (1-based) reads minutes before k; fires[k − 1] is its result.
            ahead = self.fires[max(now, 1) - 1:] != self.firing
            if not ahead.any():
                return
            k = max(now, 1) + int(ahead.argmax())
            wake = self.env.timeout(k - now)
            yield wake | self.changed
            if not wake.processed:
                continue
            self.firing = not self.firing
            if self.firing:
                self.page_times.append(k)
                self.episodes.append([k, None])
                if self.month.start < k <= self.end and self.page_min is None:
                    self._page()
            else:
                self.episodes[-1][1] = k

    def _page(self) -> None:
        """The first page of the incident: on-call mitigates RESPONSE_MIN later."""
        self.page_min = int(self.env.now)
        self.env.process(self._respond())

    def _respond(self) -> Any:
        yield self.env.timeout(RESPONSE_MIN)
        if not self.mitigate.triggered:
            self.mitigate.succeed()

    def stopped_firing_min(self) -> int | None:
        """When the spell of firing that paged for the incident stopped (None: still firing)."""
        for start, stop in self.episodes:
            if self.page_min is not None and start <= self.page_min and (
                    stop is None or stop > self.page_min):
                return stop
        return None


def watch_month(p: AlertingParams, month: Month) -> dict[str, Watch]:
    """Run every policy over the same month."""
    env = simpy.Environment()
    watches = {policy: Watch(env, policy, p, month) for policy in POLICIES}
    env.run(until=MONTH_MIN + 1)
    return watches


# -- the noise-free path: the rule on the expected error rate ----------------------------
def expected_path(p: AlertingParams, policy: str) -> dict[str, float | None]:
    """Detection and budget spent when errors follow their expectation exactly."""
    base = baseline_error_rate(p.slo_target)
    padded = WARMUP_MIN + MONTH_MIN
    errors = np.full(padded, base * REQUESTS_PER_MIN)
    duration = 0 if p.incident == "none" else p.incident_min
    first = WARMUP_MIN + INCIDENT_START_MIN
    if duration:
        share = incident_share(p, np.arange(duration))
        errors[first:first + duration] += (1 - base) * share * REQUESTS_PER_MIN
    cum = np.concatenate([[0.0], np.cumsum(errors)])
    fires = rule_fires(cum, p, policy)
    end = INCIDENT_START_MIN + duration
    during = fires[INCIDENT_START_MIN:end]  # evaluations k = start + 1 … end
    page = INCIDENT_START_MIN + 1 + int(during.argmax()) if duration and during.any() else None
    budget = month_budget(p.slo_target)
    stop = end if page is None else min(end, page + RESPONSE_MIN)
    return {
        "detect_min": None if page is None else float(page - INCIDENT_START_MIN),
        "before_page": None if page is None else float(cum[WARMUP_MIN + page]
                                                       - cum[first]) / budget,
        "total": float(cum[WARMUP_MIN + stop] - cum[first]) / budget if duration else 0.0,
    }


# -- run --------------------------------------------------------------------------------
def quiet_pages(p: AlertingParams, rng: np.random.Generator) -> dict[str, int]:
    """Pages in QUIET_MONTHS months without an incident, per policy (same months for all)."""
    errors = draw_baseline(rng, p, QUIET_MONTHS)
    zero = np.zeros((QUIET_MONTHS, 1), dtype=np.int64)
    cum = np.concatenate([zero, np.cumsum(errors, axis=1)], axis=1)
    return {policy: int(count_pages(rule_fires(cum, p, policy)).sum()) for policy in POLICIES}


def run(p: AlertingParams, seed: int) -> Result[AlertingFigure]:
    """Watch the incident month with every policy, then count false pages in quiet months."""
    rngs = spawn_rngs(seed, "baseline", "incident", "quiet")
    month = draw_month(p, rngs)
    watches = watch_month(p, month)
    mine = watches[p.policy]
    false_pages = quiet_pages(p, rngs["quiet"])
    rates = {k: v / QUIET_MONTHS for k, v in false_pages.items()}
    cis = {k: poisson_ci(v, QUIET_MONTHS) for k, v in false_pages.items()}
    paths = {policy: expected_path(p, policy) for policy in POLICIES}
    path = paths[p.policy]
    budget = month_budget(p.slo_target)
    has_incident = p.incident != "none"
    first = WARMUP_MIN + INCIDENT_START_MIN

    def spent(watch: Watch, until: int | None) -> float | None:
        if until is None or not has_incident:
            return None
        cum = watch.month.cumulative(watch.end)
        return float(cum[WARMUP_MIN + until] - cum[first]) / budget

    detect = {w: None if watches[w].page_min is None
              else watches[w].page_min - INCIDENT_START_MIN for w in POLICIES}
    before_page = spent(mine, mine.page_min)
    total = spent(mine, mine.end) if has_incident else 0.0
    stopped = mine.stopped_firing_min()
    after_fix = None
    if mine.page_min is not None:
        after_fix = None if stopped is None else max(0, stopped - mine.end)
    peak = {"none": 0.0, "sudden": p.error_rate,
            "leak": min(p.error_rate, p.leak_rate * p.incident_min / 60)}[p.incident]
    base = baseline_error_rate(p.slo_target)
    peak_burn = (base + (1 - base) * peak) / (1 - p.slo_target)

    metrics = {
        "detect_min": Metric(detect[p.policy], "min", "Time to the first page",
                             closed_form=path["detect_min"]),
        "budget_spent_before_page": Metric(before_page, "share",
                                           "Error budget spent before the page",
                                           closed_form=path["before_page"]),
        "false_pages_per_month": Metric(
            rates[p.policy], "pages/month",
            f"False pages per month ({QUIET_MONTHS} quiet months)", ci95=cis[p.policy]),
        "budget_spent_total": Metric(total, "share", "Error budget the incident spent",
                                     closed_form=path["total"]),
        "incident_min_lasted": Metric(
            None if not has_incident else mine.end - INCIDENT_START_MIN, "min",
            "How long the incident lasted"),
        "firing_after_fix_min": Metric(after_fix, "min",
                                       "Minutes the page kept firing after the incident"),
        "peak_burn_rate": Metric(round(peak_burn, 4), "×",
                                 "Burn rate at the incident's planned worst (expected)"),
    }
    figure_data = AlertingFigure(watches=watches, detect=detect, rates=rates, cis=cis,
                                 false_pages=false_pages)
    series = _series(p, watches)
    return Result(metrics=metrics, series=series,
                  summary=_summary(p, metrics, detect, rates, cis),
                  figure_data=figure_data)


def _view(p: AlertingParams, watches: dict[str, Watch]) -> tuple[int, int]:
    """The stretch of the month the figure shows: the incident and what follows it."""
    start = INCIDENT_START_MIN - VIEW_BEFORE_MIN
    if p.incident == "none":
        return start, start + QUIET_VIEW_MIN
    mine = watches[p.policy]
    last = max(mine.month.planned_end, mine.stopped_firing_min() or 0)
    return start, min(MONTH_MIN, last + VIEW_AFTER_MIN)


def _step_max(values: np.ndarray, stride: int) -> np.ndarray:
    """The highest value in each step of `stride` evaluations, so no crossing is hidden."""
    return values.reshape(-1, stride).max(axis=1)


def _series(p: AlertingParams, watches: dict[str, Watch]) -> dict[str, list[Any]]:
    """Error rate and burn rates around the incident, as the chosen policy saw them.

    With more minutes than MAX_POINTS, each point is the highest value over its step of
    minutes (the rule fires on peaks, so the chart must not smooth them away).
    """
    lo, hi = _view(p, watches)
    stride = max(1, math.ceil((hi - lo) / MAX_POINTS))
    lo = hi - math.ceil((hi - lo) / stride) * stride
    evals = np.arange(lo + 1, hi + 1)  # evaluation times in view
    k = evals[stride - 1::stride]  # the last evaluation of each step
    mine = watches[p.policy]
    cum = mine.month.cumulative(mine.end)
    budget_rate = 1 - p.slo_target
    series: dict[str, list[Any]] = {
        "t_h": ((k - INCIDENT_START_MIN) / 60).round(3).tolist(),
    }
    window = window_sums(cum, STATIC_WINDOW_MIN)[evals - 1]
    rate5 = _step_max(window, stride) / (REQUESTS_PER_MIN * STATIC_WINDOW_MIN)
    series["error_rate_5m"] = rate5.round(6).tolist()
    planned = np.zeros(evals.shape)
    if p.incident != "none":
        since = evals - 1 - INCIDENT_START_MIN
        on = (since >= 0) & (since < mine.month.planned_end - INCIDENT_START_MIN)
        planned[on] = incident_share(p, since[on])
    base = baseline_error_rate(p.slo_target)
    series["incident_plan"] = (base + (1 - base) * _step_max(planned, stride)).round(6).tolist()
    for w in WINDOWS_MIN:
        burn = _step_max(window_sums(cum, w)[evals - 1], stride) / (
            REQUESTS_PER_MIN * w * budget_rate)
        series[f"burn_{_wname(w)}"] = burn.round(3).tolist()
    return series


def _wname(window: int) -> str:
    """'5m', '30m', '1h', '6h'."""
    return f"{window // 60}h" if window % 60 == 0 else f"{window}m"


def _burn(x: float) -> str:
    """A burn rate: 30, 14.4, 1,000."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _summary(p: AlertingParams, m: dict[str, Metric], detect: dict[str, int | None],
             rates: dict[str, float], cis: dict[str, tuple[float, float]]) -> str:
    """Two or three sentences from the numbers: the incident, then the quiet months."""
    name = POLICY_LABELS[p.policy]
    if p.incident == "none":
        first = "A month without an incident, so every page is a false one."
    else:
        what = (f"A leak climbing to {pct(p.error_rate)} errors" if p.incident == "leak"
                else f"A sudden incident at {pct(p.error_rate)} errors")
        what += f" (a burn rate of {_burn(m['peak_burn_rate'].value)} at its worst)"
        d = detect[p.policy]
        lasted = m["incident_min_lasted"].value
        cost = pct(m["budget_spent_total"].value)
        if d is None:
            first = (f"{what}: the {name} never paged, and in {duration(60 * lasted)} the "
                     f"incident spent {cost} of the month's error budget.")
        else:
            first = (f"{what}: the {name} paged after {duration(60 * d)}, with "
                     f"{pct(m['budget_spent_before_page'].value)} of the month's error "
                     f"budget spent; ")
            first += (f"the fix {RESPONSE_MIN} min later brought the cost to {cost}."
                      if lasted < p.incident_min else
                      f"the incident ended after {duration(60 * lasted)}, having cost {cost}.")
        other = "multi_window"
        if p.policy != other and detect[other] is not None and (d is None
                                                                 or detect[other] < d):
            first += f" The multi-window burn rate paged after {duration(60 * detect[other])}."
    lo, hi = cis[p.policy]
    second = (f"In {QUIET_MONTHS} quiet months the {name} paged {rates[p.policy]:.2g} times "
              f"a month (95 % CI {lo:.2g}–{hi:.2g}).")
    return f"{first} {second}"


# -- figure -----------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertingFigure:
    """What the figure needs beyond the public series: every policy's month, side by side."""

    watches: dict[str, Watch]  # policy → its watch over the incident month
    detect: dict[str, int | None]  # policy → minutes from incident start to first page
    rates: dict[str, float]  # policy → false pages a month over the quiet months
    cis: dict[str, tuple[float, float]]  # policy → 95 % CI of that rate
    false_pages: dict[str, int]  # policy → false pages counted in the quiet months


def build_figure(result: Result[AlertingFigure], p: AlertingParams) -> dict[str, Any]:
    """Error rate and burn rates around the incident, and false pages per policy."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    t = s["t_h"]
    base = baseline_error_rate(p.slo_target)
    floor_rate = base / 10
    budget_rate = 1 - p.slo_target
    floor_burn = floor_rate / budget_rate
    top = {"xaxis": "x", "yaxis": "y"}
    bottom = {"xaxis": "x2", "yaxis": "y2"}
    rate5 = [max(v, floor_rate) for v in s["error_rate_5m"]]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": "error rate, 5 min", "x": t, "y": rate5,
         "line": {"color": PALETTE["red"], "width": 1.5},
         "hovertemplate": "%{x:.2f} h: %{y:.3p}<extra></extra>", **top},
        {"type": "scatter", "mode": "lines", "name": "expected error rate (no noise)",
         "x": t, "y": s["incident_plan"],
         "line": {"color": PALETTE["grey"], "width": 1.5, "dash": "dash"},
         "hovertemplate": "%{x:.2f} h: %{y:.3p}<extra></extra>", **top},
    ]
    watch = fd.watches[p.policy]
    lo_h, hi_h = t[0] - (t[1] - t[0] if len(t) > 1 else 0), t[-1]
    pages = [(k - INCIDENT_START_MIN) / 60 for k in watch.page_times]
    pages = [h for h in pages if lo_h <= h <= hi_h]
    if pages:
        data.append({
            "type": "scatter", "mode": "markers", "name": f"page ({POLICY_LABELS[p.policy]})",
            "x": pages, "y": [1.0] * len(pages),
            "marker": {"color": COLOURS[p.policy], "symbol": "triangle-down", "size": 11},
            "hovertemplate": "page at %{x:.2f} h<extra></extra>", **top})
    for w in WINDOWS_MIN:
        name = _wname(w)
        data.append({
            "type": "scatter", "mode": "lines", "name": f"burn rate, {name}", "x": t,
            "y": [max(v, floor_burn) for v in s[f"burn_{name}"]],
            "line": {"color": WINDOW_COLOURS[w], "dash": WINDOW_DASHES[w], "width": 1.5},
            "hovertemplate": f"{name}: " + "%{y:.3g}× at %{x:.2f} h<extra></extra>",
            **bottom})
    rates, cis = fd.rates, fd.cis
    labels = [("▶ " if pol == p.policy else "") + SHORT_LABELS[pol] for pol in POLICIES]
    data.append({
        "type": "bar", "x": labels, "y": [rates[pol] for pol in POLICIES],
        "xaxis": "x3", "yaxis": "y3", "showlegend": False,
        "marker": {"color": [COLOURS[pol] for pol in POLICIES]},
        "error_y": {"type": "data", "symmetric": False,
                    "array": [round(cis[pol][1] - rates[pol], 4) for pol in POLICIES],
                    "arrayminus": [round(rates[pol] - cis[pol][0], 4) for pol in POLICIES],
                    "color": PALETTE["grey"]},
        "hovertemplate": "%{x}: %{y:.2g} false pages a month<extra></extra>",
    })

    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if p.incident != "none":
        end_h = (watch.end - INCIDENT_START_MIN) / 60
        shapes.append(plotting.shade(0, end_h, "incident"))
    lines = [("y", budget_rate, f"SLO: {pct(budget_rate)} errors (burn 1)", PALETTE["green"]),
             ("y2", FAST_PAIR[0], "14.4×", PALETTE["purple"]),
             ("y2", SLOW_PAIR[0], "6×", PALETTE["blue"])]
    if p.policy == "static":
        lines.append(("y", p.threshold, f"threshold {pct(p.threshold)}", COLOURS["static"]))
    for yref, y, text, colour in lines:
        shapes.append({"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": yref,
                       "y0": y, "y1": y, "line": {"color": colour, "width": 1, "dash": "dot"}})
        notes.append({"xref": "x domain", "x": 1, "yref": yref, "y": math.log10(y),
                      "text": text, "showarrow": False, "xanchor": "right",
                      "yanchor": "bottom", "font": {"size": 10, "color": colour}})
    # When the other policies would have paged had they been in charge (each in its own
    # run of the same month): one line per moment, shared by policies that page together.
    together: dict[int, list[str]] = {}
    for pol in POLICIES:
        d = fd.detect[pol]
        if pol != p.policy and d is not None:
            together.setdefault(d, []).append(pol)
    for i, (d, pols) in enumerate(sorted(together.items())):
        shape, note = plotting.vline(d / 60, " and ".join(SHORT_LABELS[q] for q in pols)
                                     + " would page", COLOURS[pols[0]], dash=DASHES[pols[0]])
        note["y"] = 1.0 - 0.07 * i  # staggered: the moments are often close
        shapes.append(shape)
        notes.append(note)
    x_title = ("Hours since the incident began" if p.incident != "none"
               else "Hours since day 15, 18:00")
    top_rate = max(1.0, max(rate5), p.threshold * 2)
    top_burn = max([FAST_PAIR[0] * 3, *(max(s[f"burn_{_wname(w)}"]) for w in WINDOWS_MIN)])
    return plotting.figure(
        data,
        height=500,
        xaxis=plotting.axis("", domain=[0, 0.7], anchor="y", range=[lo_h, hi_h],
                            showticklabels=False),
        yaxis=plotting.axis("Error rate (log)", type="log", dtick=1, tickformat=".4~%",
                            domain=[0.55, 1], anchor="x",
                            range=[math.log10(floor_rate), math.log10(top_rate) + 0.1]),
        xaxis2=plotting.axis(x_title, domain=[0, 0.7], anchor="y2", matches="x",
                             range=[lo_h, hi_h]),
        yaxis2=plotting.axis("Burn rate (log)", type="log", dtick=1, domain=[0, 0.47],
                             anchor="x2",
                             range=[math.log10(floor_burn), math.log10(top_burn) + 0.1]),
        xaxis3=plotting.axis("", domain=[0.8, 1], anchor="y3"),
        yaxis3=plotting.axis("False pages a month",
                             domain=[0.25, 1], anchor="x3", rangemode="tozero",
                             side="right"),
        shapes=shapes, annotations=notes,
    )


# -- declaration ------------------------------------------------------------------------
SIMULATION = Simulation(
    slug="alerting",
    title="SLO burn-rate alerting",
    description="A sudden outage or a slow leak under a static threshold and burn-rate "
                "alerts: time to detect, budget spent before the page, false pages.",
    params=PARAMS,
    params_type=AlertingParams,
    run=run,
    figure=build_figure,
    main_param="leak_rate",
)
